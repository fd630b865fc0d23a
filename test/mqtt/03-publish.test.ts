/**
 * PUBLISH conformance at the packet level, for MQTT 3.1.1 (level 4) and 5: the QoS 0/1/2 flows
 * in both directions with exact packet ids, QoS 2 exactly-once under retries, topic name rules,
 * v5 "no matching subscribers", and flow control in both directions (Receive Maximum).
 */
import { describe, expect, it } from "vitest"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import type { TestBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient } from "../support/RawClient.js"

const life = useBrokers()
const start = life.broker

const MARKER = "marker"

/** The broker's bytes to `r`, cut into whole frames. */
const framesOf = (r: RawClient): Array<Buffer> => r.frames()

describe.each([4, 5] as const)("PUBLISH (MQTT v%i)", (version) => {
  const raw = async (broker: TestBroker, connect: Parameters<typeof RawClient.handshake>[2] = {}) => {
    const { client: raw, connack } = await RawClient.handshake(broker.port, version, connect)
    life.track(raw)
    return { raw, connack }
  }
  const client = async (broker: TestBroker, opts: Parameters<typeof connect>[1] = {}) => {
    const c = await connect(broker.url, { protocolVersion: version, ...opts })
    life.track(c)
    return c
  }
  /** Everything `c` received before the marker, as payloads. */
  const untilMarker = async (c: TestClient) => {
    await waitUntil(() => c.messages.some((m) => m.topic === MARKER), 3000, () => "marker")
    return c.messages.filter((m) => m.topic !== MARKER).map((m) => m.payload)
  }

  it("runs the QoS 0, 1 and 2 flows with matching packet ids, both directions [MQTT-4.3.1-1], [MQTT-4.3.2-2], [MQTT-4.3.3-2], [MQTT-2.2.1-5]", async () => {
    // maxInflight 1: each outbound message waits for the previous one's final ack, which proves
    // the broker matched our PUBACK / PUBCOMP to the message it sent.
    const broker = await start({ limits: { maxInflight: 1 } })
    const { raw: sub } = await raw(broker)
    sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "p/#", qos: 2 }] })
    expect((await sub.expect("suback")).granted).toEqual([2])
    const { raw: pub } = await raw(broker)

    pub.sendPacket({ cmd: "publish", topic: "p/0", payload: "zero", qos: 0, retain: false, dup: false })
    pub.sendPacket({ cmd: "publish", topic: "p/1", payload: "one", qos: 1, messageId: 10, retain: false, dup: false })
    const puback = await pub.expect("puback")
    expect(puback.messageId).toBe(10)
    pub.sendPacket({ cmd: "publish", topic: "p/2", payload: "two", qos: 2, messageId: 20, retain: false, dup: false })
    expect((await pub.expect("pubrec")).messageId).toBe(20)
    pub.sendPacket({ cmd: "pubrel", messageId: 20 })
    expect((await pub.expect("pubcomp")).messageId).toBe(20)
    pub.sendPacket({ cmd: "publish", topic: "p/3", payload: "three", qos: 1, messageId: 11, retain: false, dup: false })
    expect((await pub.expect("puback")).messageId).toBe(11)

    const p0 = await sub.expect("publish")
    expect([p0.topic, p0.payload.toString(), p0.qos, p0.dup]).toEqual(["p/0", "zero", 0, false])
    const p1 = await sub.expect("publish")
    expect([p1.topic, p1.qos, p1.dup]).toEqual(["p/1", 1, false])
    expect(p1.messageId).toBeGreaterThan(0) // [MQTT-2.2.1-3] non-zero
    await quiet(100)
    expect(sub.pending).toEqual([]) // p/2 waits for the PUBACK of p/1
    sub.sendPacket({ cmd: "puback", messageId: p1.messageId })
    const p2 = await sub.expect("publish")
    expect([p2.topic, p2.qos]).toEqual(["p/2", 2])
    sub.sendPacket({ cmd: "pubrec", messageId: p2.messageId })
    expect((await sub.expect("pubrel")).messageId).toBe(p2.messageId)
    await quiet(100)
    expect(sub.pending).toEqual([]) // p/3 waits for the PUBCOMP of p/2, not its PUBREC
    sub.sendPacket({ cmd: "pubcomp", messageId: p2.messageId })
    const p3 = await sub.expect("publish")
    expect([p3.topic, p3.payload.toString(), p3.qos]).toEqual(["p/3", "three", 1])
  })

  it("QoS 2: a retried PUBLISH (DUP) before PUBREL and a retried PUBREL deliver once; the id is then free [MQTT-4.3.3-9], [MQTT-4.3.3-11], [MQTT-4.3.3-12]", async () => {
    const broker = await start()
    const sub = await client(broker)
    await sub.client.subscribeAsync(["q2/#", MARKER], { qos: 2 })
    const { raw: pub } = await raw(broker)
    const publish = (payload: string, dup: boolean) => pub.sendPacket({ cmd: "publish", topic: "q2/a", payload, qos: 2, messageId: 5, retain: false, dup })

    publish("once", false)
    expect((await pub.expect("pubrec")).messageId).toBe(5)
    publish("once", true)
    expect((await pub.expect("pubrec")).messageId).toBe(5)
    pub.sendPacket({ cmd: "pubrel", messageId: 5 })
    const comp = await pub.expect("pubcomp")
    expect(comp.messageId).toBe(5)
    expect(comp.reasonCode ?? 0).toBe(0)
    pub.sendPacket({ cmd: "pubrel", messageId: 5 }) // our PUBCOMP "was lost"
    const again = await pub.expect("pubcomp")
    expect(again.messageId).toBe(5)
    if (version === 5) expect(again.reasonCode).toBe(0x92) // Packet Identifier not found

    publish("new", false) // same id after PUBCOMP: a new publication
    expect((await pub.expect("pubrec")).messageId).toBe(5)
    pub.sendPacket({ cmd: "pubrel", messageId: 5 })
    await pub.expect("pubcomp")
    pub.sendPacket({ cmd: "publish", topic: MARKER, payload: "", qos: 0, retain: false, dup: false })
    expect(await untilMarker(sub)).toEqual(["once", "new"])
  })

  it("QoS 2: a PUBLISH retried with DUP after reconnecting to the session is not delivered twice [MQTT-4.3.3-9], [MQTT-4.4.0-1]", async () => {
    const broker = await start()
    const sub = await client(broker)
    await sub.client.subscribeAsync(["q2r/#", MARKER], { qos: 2 })
    const session = { clientId: `q2r-${version}`, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) }
    const first = (await raw(broker, session)).raw
    first.sendPacket({ cmd: "publish", topic: "q2r/a", payload: "only", qos: 2, messageId: 9, retain: false, dup: false })
    expect((await first.expect("pubrec")).messageId).toBe(9)
    first.destroy()
    await sub.waitFor(1)
    const { raw: back, connack } = await raw(broker, session)
    expect(connack.sessionPresent).toBe(true)
    back.sendPacket({ cmd: "publish", topic: "q2r/a", payload: "only", qos: 2, messageId: 9, retain: false, dup: true })
    expect((await back.expect("pubrec")).messageId).toBe(9)
    back.sendPacket({ cmd: "pubrel", messageId: 9 })
    const comp = await back.expect("pubcomp")
    expect([comp.messageId, comp.reasonCode ?? 0]).toEqual([9, 0])
    back.sendPacket({ cmd: "publish", topic: MARKER, payload: "", qos: 0, retain: false, dup: false })
    expect(await untilMarker(sub)).toEqual(["only"])
  })

  it.each(["a/+", "a/#", "#", "+"])("closes the connection on a topic name with a wildcard (%s) [MQTT-3.3.2-2]", async (topic) => {
    const broker = await start()
    const sub = await client(broker)
    await sub.client.subscribeAsync("#", { qos: 1 })
    const { raw: pub } = await raw(broker)
    pub.sendPacket({ cmd: "publish", topic, payload: "bad", qos: 1, messageId: 1, retain: false, dup: false })
    if (version === 5) {
      const d = await pub.expect("disconnect")
      expect(d.reasonCode).toBe(0x90) // Topic Name invalid
    }
    await pub.expectClosed()
    expect(pub.pending).toEqual([]) // no PUBACK
    const other = await client(broker)
    await other.client.publishAsync(MARKER, "", { qos: 1 })
    expect(await untilMarker(sub)).toEqual([])
  })

  it("closes the connection on an empty topic name" + (version === 5 ? " without a Topic Alias [MQTT-4.7.3-1] (MQTT 5 §3.3.2.3.4)" : " [MQTT-4.7.3-1]"), async () => {
    const broker = await start()
    const { raw: pub } = await raw(broker)
    pub.sendPacket({ cmd: "publish", topic: "", payload: "bad", qos: 0, retain: false, dup: false })
    if (version === 5) {
      const d = await pub.expect("disconnect")
      expect([0x82, 0x90]).toContain(d.reasonCode) // Protocol Error / Topic Name invalid
    }
    await pub.expectClosed()
  })

  it(version === 5 ? "acknowledges with 0x10 No matching subscribers when nobody subscribed (MQTT 5 §3.4.2.1)" : "acknowledges with a bare 2-byte PUBACK / PUBREC whether or not anyone subscribed (3.1.1 §3.4, §3.5)", async () => {
    const broker = await start()
    const { raw: pub } = await raw(broker)
    pub.sendPacket({ cmd: "publish", topic: "nobody/home", payload: "x", qos: 1, messageId: 3, retain: false, dup: false })
    const a = await pub.expect("puback")
    pub.sendPacket({ cmd: "publish", topic: "nobody/home", payload: "x", qos: 2, messageId: 4, retain: false, dup: false })
    const r = await pub.expect("pubrec")
    pub.sendPacket({ cmd: "pubrel", messageId: 4 })
    await pub.expect("pubcomp")
    if (version === 5) {
      expect([a.messageId, a.reasonCode]).toEqual([3, 0x10])
      expect([r.messageId, r.reasonCode]).toEqual([4, 0x10])
    } else {
      expect(framesOf(pub).slice(1, 3)).toEqual([Buffer.from([0x40, 2, 0, 3]), Buffer.from([0x50, 2, 0, 4])])
    }
    const sub = await client(broker)
    await sub.client.subscribeAsync("nobody/#", { qos: 1 })
    pub.sendPacket({ cmd: "publish", topic: "nobody/home", payload: "y", qos: 1, messageId: 5, retain: false, dup: false })
    const b = await pub.expect("puback")
    expect([b.messageId, b.reasonCode ?? 0]).toEqual([5, 0])
    expect((await sub.waitFor(1))[0]!.payload).toBe("y")
  })

  if (version === 5) it("disconnects with 0x93 a client that exceeds the broker's Receive Maximum [MQTT-3.3.4-9]", async () => {
    const broker = await start({ limits: { receiveMaximum: 2 } })
    const { raw: pub, connack } = await raw(broker)
    expect(connack.properties?.receiveMaximum).toBe(2)
    const qos2 = (id: number) => pub.sendPacket({ cmd: "publish", topic: "rm/x", payload: `m${id}`, qos: 2, messageId: id, retain: false, dup: false })
    qos2(1)
    qos2(2)
    expect((await pub.expect("pubrec")).messageId).toBe(1)
    expect((await pub.expect("pubrec")).messageId).toBe(2)
    pub.sendPacket({ cmd: "pubrel", messageId: 1 }) // frees one slot
    expect((await pub.expect("pubcomp")).messageId).toBe(1)
    qos2(3)
    expect((await pub.expect("pubrec")).messageId).toBe(3)
    qos2(4) // 2 and 3 still unreleased: a third one is over the maximum
    const d = await pub.expect("disconnect")
    expect(d.reasonCode).toBe(0x93)
    await pub.expectClosed()
  })

  if (version === 5) it("ends a QoS 2 flow on a PUBREC with a failure reason code: no PUBREL, the window moves on (MQTT 5 §4.3.3)", async () => {
    const broker = await start()
    const { raw: sub } = await raw(broker, { properties: { receiveMaximum: 1 } })
    sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "rf/#", qos: 2 }] })
    await sub.expect("suback")
    const pub = await client(broker)
    await pub.client.publishAsync("rf/x", "refused", { qos: 2 })
    await pub.client.publishAsync("rf/x", "next", { qos: 2 })
    const a = await sub.expect("publish")
    expect(a.payload.toString()).toBe("refused")
    sub.sendPacket({ cmd: "pubrec", messageId: a.messageId, reasonCode: 0x80 })
    const b = await sub.expect("publish") // not a PUBREL
    expect(b.payload.toString()).toBe("next")
    sub.sendPacket({ cmd: "pubrec", messageId: b.messageId })
    expect((await sub.expect("pubrel")).messageId).toBe(b.messageId)
  })

  it(
    version === 5
      ? "sends a subscriber no more unacknowledged QoS 1 messages than its Receive Maximum [MQTT-3.3.4-9]"
      : "sends a subscriber no more unacknowledged QoS 1 messages than the broker's inflight window",
    async () => {
      const broker = await start(version === 5 ? {} : { limits: { maxInflight: 2 } })
      const { raw: sub } = await raw(broker, version === 5 ? { properties: { receiveMaximum: 2 } } : {})
      sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "fc/#", qos: 1 }] })
      await sub.expect("suback")
      const pub = await client(broker)
      for (let i = 0; i < 5; i++) await pub.client.publishAsync("fc/x", `f${i}`, { qos: 1 })
      const a = await sub.expect("publish")
      const b = await sub.expect("publish")
      await quiet(150)
      expect(sub.pending).toEqual([])
      expect(a.messageId).not.toBe(b.messageId)
      sub.sendPacket({ cmd: "puback", messageId: a.messageId })
      const c = await sub.expect("publish")
      expect(c.messageId).not.toBe(b.messageId) // b is still in flight
      await quiet(100)
      expect(sub.pending).toEqual([])
      sub.sendPacket({ cmd: "puback", messageId: b.messageId })
      sub.sendPacket({ cmd: "puback", messageId: c.messageId })
      const d = await sub.expect("publish")
      const e = await sub.expect("publish")
      expect([a, b, c, d, e].map((p) => p.payload.toString())).toEqual(["f0", "f1", "f2", "f3", "f4"])
    }
  )
})
