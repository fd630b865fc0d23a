/**
 * MQTT.js helpers for conformance tests: connect with a protocol level, collect messages, and
 * wait for a condition with a bounded timeout (never a fixed sleep as the assertion).
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt"

export interface Received {
  readonly topic: string
  readonly payload: string
  readonly packet: IPublishPacket
}

export interface TestClient {
  readonly client: MqttClient
  readonly messages: Array<Received>
  /** Resolves once `n` messages arrived (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Array<Received>>
  end(force?: boolean): Promise<void>
}

export const connect = async (url: string, options: IClientOptions = {}): Promise<TestClient> => {
  // Listen before CONNACK: a resumed session's queued messages can arrive in the same read.
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  const messages: Array<Received> = []
  client.on("message", (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), packet }))
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve())
    client.once("error", (e) => {
      client.end(true)
      reject(e)
    })
    client.once("close", () => reject(new Error("connection closed before CONNACK")))
  })
  return {
    client,
    messages,
    waitFor: (n, ms = 5000) => waitUntil(() => messages.length >= n, ms, () => `expected ${n} messages, got ${messages.length}: ${JSON.stringify(messages.map((m) => [m.topic, m.payload]))}`).then(() => messages),
    end: (force = false) => client.endAsync(force)
  }
}

export const waitUntil = async (cond: () => boolean, ms = 5000, describe: () => string = () => "condition"): Promise<void> => {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${describe()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Subscribes to `topic`, publishes to it and waits for the message: the connection still works. */
export const roundTrip = async (client: TestClient, topic: string): Promise<Received> => {
  await client.client.subscribeAsync(topic, { qos: 1 })
  const before = client.messages.length
  await client.client.publishAsync(topic, "still here", { qos: 1 })
  const received = (await client.waitFor(before + 1))[before]!
  if (received.payload !== "still here") throw new Error(`round trip on ${topic} brought back ${JSON.stringify(received.payload)}`)
  return received
}

/** Resolves after `ms`: only to prove that something did NOT happen within a window. */
export const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms))
