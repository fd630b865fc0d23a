/**
 * Bad input closes only the connection that sent it [MQTT-4.8.0-1] / [MQTT-4.13.1-1]: a v5
 * client gets DISCONNECT with the reason code first. Meanwhile an MQTT.js bystander on the same
 * broker keeps publishing QoS 1 to itself and must receive every tick, and QoS 1 messages the
 * bad client had been acknowledged for before its mistake are still delivered.
 */
import type { Packet } from "mqtt-packet"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import { RawClient, varint, type Version } from "../support/RawClient.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const MAX_PACKET = 4096

interface BadInput {
  readonly name: string
  /** v5 DISCONNECT reason code sent before the close. */
  readonly reason: number
  readonly send: (r: RawClient) => void
}

const publishFrame = (flags: number, topic: string, packetId: number | null, payload: Buffer, version: Version): Buffer => {
  const t = Buffer.from(topic)
  const body = Buffer.concat([
    Buffer.from([t.length >> 8, t.length & 0xff]),
    t,
    packetId === null ? Buffer.alloc(0) : Buffer.from([packetId >> 8, packetId & 0xff]),
    version === 5 ? Buffer.from([0]) : Buffer.alloc(0),
    payload
  ])
  return Buffer.concat([Buffer.from([0x30 | flags, ...varint(body.length)]), body])
}

const badInputs: ReadonlyArray<BadInput> = [
  {
    name: "garbage bytes (an HTTP request) [MQTT-2.1.3-1]",
    reason: 0x81,
    send: (r) => r.send(Buffer.from("GET /mqtt HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
  },
  {
    name: "a second CONNECT [MQTT-3.1.0-2]",
    reason: 0x82,
    send: (r) => r.sendPacket({ cmd: "connect", protocolId: "MQTT", protocolVersion: r.version as 4 | 5, clientId: "again", clean: true, keepalive: 0 })
  },
  {
    name: `a packet over limits.maxPacketSize (${MAX_PACKET}) (v5 §3.2.2.3.6)`,
    reason: 0x95,
    send: (r) => r.send(publishFrame(0x02, "bad/big", 9, Buffer.alloc(MAX_PACKET * 2, 0x61), r.version))
  },
  {
    name: "a wildcard in a PUBLISH topic name [MQTT-3.3.2-2]",
    reason: 0x90,
    send: (r) => r.send(publishFrame(0x02, "bad/+/x", 9, Buffer.from("x"), r.version))
  },
  {
    name: "a Remaining Length of more than 4 bytes [MQTT-1.5.5-1]",
    reason: 0x81,
    send: (r) => r.send([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])
  },
  {
    name: "a PUBLISH with QoS 3 [MQTT-3.3.1-4]",
    reason: 0x81,
    send: (r) => r.send(publishFrame(0x06, "bad/qos3", 9, Buffer.from("x"), r.version))
  },
  {
    name: "a PUBREL with reserved flags 0000 instead of 0010 [MQTT-3.6.1-1]",
    reason: 0x81,
    send: (r) => r.send([0x60, 0x02, 0x00, 0x01])
  }
]

describe.each([4, 5] as const)("bad input closes only its own connection (MQTT v%i)", (version) => {
  let broker: TestBroker
  let bystander: TestClient
  let ticker: NodeJS.Timeout
  let ticks = 0
  let bystanderClosed = 0
  const keeperId = `keeper-${version}`
  const keeperSession = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 3600 } } : { clean: false }

  beforeAll(async () => {
    broker = await startBroker({ limits: { maxPacketSize: MAX_PACKET } })
    bystander = await connect(broker.url, { protocolVersion: version, clientId: `bystander-${version}` })
    bystander.client.on("close", () => bystanderClosed++)
    await bystander.client.subscribeAsync("live/tick", { qos: 1 })
    // A persistent session, offline, that collects what the bad clients publish.
    const { client: keeper } = await RawClient.handshake(broker.port, version, { clientId: keeperId, ...keeperSession })
    keeper.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "acked/#", qos: 1 }] })
    await keeper.expect("suback")
    await keeper.disconnect()
    // The bystander keeps publishing QoS 1 to itself for the whole block.
    ticker = setInterval(() => {
      if (bystander.client.connected) bystander.client.publish("live/tick", String(ticks++), { qos: 1 })
    }, 20)
  })

  afterAll(async () => {
    clearInterval(ticker)
    // Every tick it published came back, in order, and it never lost its connection.
    await waitUntil(() => bystander.messages.length >= ticks, 3000, () => `${ticks} ticks, got ${bystander.messages.length}`)
    expect(bystander.messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: ticks }, (_, i) => i))
    expect(bystanderClosed).toBe(0)
    await bystander.end()
    await broker.stop()
    broker.cleanup()
  })

  it.each(badInputs)("$name", async ({ name, reason, send }) => {
    const tag = name.split(" ").slice(0, 3).join("-").replace(/[^a-z0-9-]/gi, "")
    const { client: bad } = await RawClient.handshake(broker.port, version, { clientId: `bad-${version}-${tag}` })
    try {
      // Two QoS 1 messages, acknowledged before the mistake.
      for (const id of [1, 2]) bad.sendPacket({ cmd: "publish", topic: `acked/${tag}`, payload: Buffer.from(`${tag} #${id}`), qos: 1, messageId: id, retain: false, dup: false })
      expect((await bad.expect("puback")).messageId).toBe(1)
      expect((await bad.expect("puback")).messageId).toBe(2)

      send(bad)
      await bad.expectClosed()
      const after: Array<Packet> = bad.received.slice(3) // CONNACK and the two PUBACKs came first
      if (version === 5) {
        expect(after.map((p) => p.cmd)).toEqual(["disconnect"])
        expect((after[0] as { reasonCode?: number }).reasonCode).toBe(reason)
      } else {
        expect(after).toEqual([]) // 3.1.1 has no DISCONNECT from the server: just the close
      }
    } finally {
      bad.socket.destroy()
    }

    // The bystander still publishes and receives: a tick published after the close comes back.
    const seen = bystander.messages.length
    await waitUntil(() => bystander.messages.length >= seen + 2, 3000, () => "ticks after the bad input")
    expect(bystander.client.connected).toBe(true)

    // What was acknowledged before the bad input was not lost.
    const { client: keeper, connack } = await RawClient.handshake(broker.port, version, { clientId: keeperId, ...keeperSession })
    try {
      expect(connack.sessionPresent).toBe(true)
      const got: Array<string> = []
      for (let i = 0; i < 2; i++) {
        const p = await keeper.expect("publish")
        got.push(String(p.payload))
        keeper.sendPacket({ cmd: "puback", messageId: p.messageId! })
      }
      expect(got).toEqual([`${tag} #1`, `${tag} #2`])
      await keeper.disconnect()
    } finally {
      keeper.socket.destroy()
    }
  })

  it("garbage instead of CONNECT: closed without CONNACK [MQTT-3.1.0-1]", async () => {
    const r = await RawClient.connect(broker.port, version)
    r.send(Buffer.from("\x00\x00garbage"))
    await r.expectClosed()
    expect(r.received).toEqual([])
    const seen = bystander.messages.length
    await waitUntil(() => bystander.messages.length >= seen + 2, 3000, () => "ticks after the bad input")
  })

  it("a half-sent packet followed by a close affects nobody else", async () => {
    const { client: r } = await RawClient.handshake(broker.port, version, { clientId: `half-${version}` })
    r.send(publishFrame(0x02, "acked/half", 5, Buffer.alloc(200, 0x62), version).subarray(0, 50))
    await r.destroy()
    const seen = bystander.messages.length
    await waitUntil(() => bystander.messages.length >= seen + 2, 3000, () => "ticks after the bad input")
    // Nothing of the half packet was published: the keeper's queue is empty.
    const { client: keeper } = await RawClient.handshake(broker.port, version, { clientId: keeperId, ...keeperSession })
    try {
      keeper.sendPacket({ cmd: "pingreq" })
      expect((await keeper.nextPacket()).cmd).toBe("pingresp")
      await keeper.disconnect()
    } finally {
      keeper.socket.destroy()
    }
  })
})
