/**
 * Graceful shutdown (what SIGINT/SIGTERM trigger through the layer scope): MQTT 5 clients get
 * DISCONNECT 0x8B Server shutting down, MQTT 3.1.1 clients a closed socket, and acknowledged
 * messages are on disk for the next start. A shutdown closes connections from the server side,
 * so wills due now are published [MQTT-3.1.2-8]; delayed wills of persistent sessions wait for
 * the next start.
 */
import { describe, expect, it } from "vitest"
import { connect } from "../support/clients.js"
import { RawClient } from "../support/RawClient.js"
import { startBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"

const life = useBrokers()

describe("graceful shutdown", () => {
  it("sends MQTT 5 clients DISCONNECT 0x8B and closes MQTT 3.1.1 clients", async () => {
    const broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const { client: v5 } = await RawClient.handshake(broker.port, 5)
    const { client: v4 } = await RawClient.handshake(broker.port, 4)
    await broker.stop()
    const disconnect = await v5.expect("disconnect")
    expect(disconnect.reasonCode).toBe(0x8b)
    await v5.expectClosed()
    await v4.expectClosed()
    expect(v4.received.some((p) => p.cmd === "disconnect")).toBe(false) // 3.1.1 has no server DISCONNECT
  })

  it("stops accepting connections once stopped", async () => {
    const broker = await startBroker()
    life.adopt(broker)
    await broker.stop()
    await expect(connect(broker.url, { protocolVersion: 5, connectTimeout: 1000 })).rejects.toThrow()
  })

  it("keeps every acknowledged QoS 1 message of an offline persistent session across the stop", async () => {
    let broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const sub = await connect(broker.url, { protocolVersion: 5, clientId: "keeper", clean: false, properties: { sessionExpiryInterval: 600 } })
    await sub.client.subscribeAsync("k/#", { qos: 1 })
    await sub.end()
    const pub = await connect(broker.url, { protocolVersion: 5 })
    for (let i = 0; i < 200; i++) await pub.client.publishAsync(`k/${i % 7}`, `m${i}`, { qos: 1 })
    await pub.end()
    broker = await broker.restart()
    life.adopt(broker)
    const back = await connect(broker.url, { protocolVersion: 5, clientId: "keeper", clean: false, properties: { sessionExpiryInterval: 600 } })
    const got = await back.waitFor(200)
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`))
    await back.end()
  })

  it("publishes the wills of clean sessions at shutdown: a retained status says offline after the restart", async () => {
    let broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const watcher = await RawClient.handshake(broker.port, 5, { clientId: "watcher" })
    watcher.client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "status/#", qos: 1 }] })
    await watcher.client.expect("suback")
    const device = await RawClient.handshake(broker.port, 4, {
      clientId: "device-7",
      will: { topic: "status/device-7", payload: Buffer.from("offline"), qos: 1, retain: true }
    })
    const persistentDelayed = await RawClient.handshake(broker.port, 5, {
      clientId: "slow-will",
      properties: { sessionExpiryInterval: 600 },
      will: { topic: "status/slow", payload: Buffer.from("late"), qos: 1, retain: false, properties: { willDelayInterval: 3600 } }
    })
    await broker.stop()
    // The live subscriber sees the undelayed will before its DISCONNECT 0x8B; not the delayed one.
    const will = await watcher.client.expect("publish")
    expect([will.topic, will.payload.toString()]).toEqual(["status/device-7", "offline"])
    expect((await watcher.client.expect("disconnect")).reasonCode).toBe(0x8b)
    expect(watcher.client.received.filter((p) => p.cmd === "publish")).toHaveLength(1)
    await device.client.expectClosed()
    await persistentDelayed.client.expectClosed()

    broker = await broker.restart()
    life.adopt(broker)
    const reader = await connect(broker.url, { protocolVersion: 5 })
    life.track(reader)
    await reader.client.subscribeAsync("status/#", { qos: 1 })
    const [retained] = await reader.waitFor(1)
    expect([retained!.topic, retained!.payload, retained!.packet.retain]).toEqual(["status/device-7", "offline", true])
  })
})
