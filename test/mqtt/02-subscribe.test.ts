/**
 * SUBSCRIBE / UNSUBSCRIBE conformance through the broker, for MQTT 3.1.1 (level 4) and 5:
 * wildcard matching, `$` topics, SUBACK codes, QoS downgrade, overlapping subscriptions,
 * no-local and shared subscriptions. Every "did not arrive" is proven by a later message on the
 * same path (a marker), not by a sleep, except where a quiet window is the only witness.
 */
import type { IPublishPacket } from "mqtt"
import type { ISubackPacket, IUnsubackPacket } from "mqtt-packet"
import { beforeEach, describe, expect, it } from "vitest"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import type { TestBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient } from "../support/RawClient.js"

const life = useBrokers()
let broker: TestBroker
beforeEach(async () => {
  broker = await life.broker()
})

const MARKER = "marker"

describe.each([4, 5] as const)("SUBSCRIBE (MQTT v%i)", (version) => {
  const client = async (opts: Parameters<typeof connect>[1] = {}): Promise<TestClient> => {
    const c = await connect(broker.url, { protocolVersion: version, ...opts })
    life.track(c)
    return c
  }
  const raw = async () => {
    const { client } = await RawClient.handshake(broker.port, version)
    life.track(client)
    return client
  }
  /** Subscribes to `filter` plus the marker topic. */
  const subscriber = async (filter: string | Array<string>, qos: 0 | 1 | 2 = 1) => {
    const c = await client()
    await c.client.subscribeAsync([...(Array.isArray(filter) ? filter : [filter]), MARKER], { qos })
    return c
  }
  /** Topics received before the marker: everything routed before it has arrived by then. */
  const untilMarker = async (c: TestClient) => {
    await waitUntil(() => c.messages.some((m) => m.topic === MARKER), 3000, () => `marker, got ${c.messages.map((m) => m.topic)}`)
    return c.messages.filter((m) => m.topic !== MARKER).map((m) => m.topic)
  }

  it("matches `+` one level and `#` any levels, `#` also the parent level [MQTT-4.7.1-2], [MQTT-4.7.1-3]", async () => {
    const plus = await subscriber("sport/tennis/+")
    const hash = await subscriber("sport/#")
    const twoLevels = await subscriber("+/+")
    const exact = await subscriber("sport/tennis")
    const pub = await client()
    const topics = ["sport", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis", "other/x", "/finance", "sports/tennis"]
    for (const t of topics) await pub.client.publishAsync(t, t, { qos: 1 })
    await pub.client.publishAsync(MARKER, "", { qos: 1 })
    expect(await untilMarker(plus)).toEqual(["sport/tennis/player1"])
    expect(await untilMarker(hash)).toEqual(["sport", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis"])
    expect(await untilMarker(twoLevels)).toEqual(["sport/tennis", "other/x", "/finance", "sports/tennis"])
    expect(await untilMarker(exact)).toEqual(["sport/tennis"])
    expect(hash.messages[0]!.payload).toBe("sport")
  })

  it("does not match a topic starting with $ by a leading wildcard [MQTT-4.7.2-1]", async () => {
    const all = await subscriber("#")
    const plus = await subscriber("+/x")
    const dollar = await subscriber(["$app/#", "$app/+"])
    const pub = await client()
    await pub.client.publishAsync("$app/x", "d", { qos: 1 })
    await pub.client.publishAsync("app/x", "a", { qos: 1 })
    await pub.client.publishAsync(MARKER, "", { qos: 1 })
    expect(await untilMarker(all)).toEqual(["app/x"])
    expect(await untilMarker(plus)).toEqual(["app/x"])
    // Two matching filters, one delivery.
    expect(await untilMarker(dollar)).toEqual(["$app/x"])
  })

  it("refuses invalid filters in a SUBACK while granting the valid ones of the same SUBSCRIBE [MQTT-3.8.4-5], [MQTT-3.9.3-1]", async () => {
    const r = await raw()
    const subscriptions = [
      { topic: "a/#/b", qos: 1 },
      { topic: "ok/+", qos: 1 },
      { topic: "a+", qos: 0 },
      { topic: "all/#", qos: 2 },
      { topic: "", qos: 0 },
      { topic: "$share/g+/x", qos: 1 }
    ] as const
    r.sendPacket({ cmd: "subscribe", messageId: 7, subscriptions: subscriptions.map((s) => ({ ...s })) })
    const suback = (await r.expect("suback")) as ISubackPacket
    expect(suback.messageId).toBe(7)
    const bad = version === 5 ? 0x8f : 0x80
    expect(suback.granted).toEqual([bad, 1, bad, 2, bad, bad])
    // The granted ones are live.
    const pub = await client()
    await pub.client.publishAsync("ok/1", "yes", { qos: 1 })
    const p = await r.expect("publish")
    expect(p.topic).toBe("ok/1")
    expect(p.qos).toBe(1)
  })

  it("delivers at the minimum of the published and the granted QoS [MQTT-3.8.4-6] (3.1.1), [MQTT-3.8.4-8]", async () => {
    const sub = await client()
    await sub.client.subscribeAsync({ "dq/0": { qos: 0 }, "dq/1": { qos: 1 }, "dq/2": { qos: 2 } })
    const pub = await client()
    const sends: Array<[string, 0 | 1 | 2, number]> = [
      ["dq/0", 2, 0],
      ["dq/1", 2, 1],
      ["dq/2", 2, 2],
      ["dq/2", 1, 1],
      ["dq/2", 0, 0],
      ["dq/1", 0, 0]
    ]
    for (const [i, [t, q]] of sends.entries()) await pub.client.publishAsync(t, `m${i}`, { qos: q })
    const got = await sub.waitFor(sends.length)
    const byPayload = new Map(got.map((m) => [m.payload, m.packet.qos]))
    expect(sends.map((_, i) => byPayload.get(`m${i}`))).toEqual(sends.map(([, , expected]) => expected))
  })

  it("sends ONE copy for overlapping subscriptions, at the highest granted QoS [MQTT-3.3.4-2]" + (version === 5 ? ", with every subscription identifier [MQTT-3.3.4-3], [MQTT-3.3.4-4]" : ""), async () => {
    const sub = await client()
    if (version === 5) {
      await sub.client.subscribeAsync("o/+", { qos: 0, properties: { subscriptionIdentifier: 11 } })
      await sub.client.subscribeAsync("o/#", { qos: 2, properties: { subscriptionIdentifier: 22 } })
      await sub.client.subscribeAsync("+/x", { qos: 1 })
    } else {
      await sub.client.subscribeAsync({ "o/+": { qos: 0 }, "o/#": { qos: 2 }, "+/x": { qos: 1 } })
    }
    await sub.client.subscribeAsync(MARKER, { qos: 1 })
    const pub = await client()
    await pub.client.publishAsync("o/x", "overlap", { qos: 2 })
    await pub.client.publishAsync(MARKER, "", { qos: 1 })
    expect(await untilMarker(sub)).toEqual(["o/x"])
    const m = sub.messages[0]!.packet as IPublishPacket
    expect(m.qos).toBe(2)
    if (version === 5) {
      const ids = m.properties?.subscriptionIdentifier
      expect([ids].flat().sort((a, b) => a! - b!)).toEqual([11, 22])
    }
  })

  it("stops delivery after UNSUBSCRIBE [MQTT-3.10.4-2]" + (version === 5 ? "; UNSUBACK 0x11 for a filter never subscribed [MQTT-3.11.3-1]" : ""), async () => {
    const r = await raw()
    r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "u/a", qos: 0 }, { topic: "u/b", qos: 0 }] })
    expect((await r.expect("suback")).granted).toEqual([0, 0])
    r.sendPacket({ cmd: "unsubscribe", messageId: 2, unsubscriptions: ["u/a", "never/subscribed"] })
    const unsuback = (await r.expect("unsuback")) as IUnsubackPacket & { granted?: Array<number> }
    expect(unsuback.messageId).toBe(2)
    if (version === 5) expect(unsuback.granted).toEqual([0x00, 0x11])
    const pub = await client()
    await pub.client.publishAsync("u/a", "gone", { qos: 1 })
    await pub.client.publishAsync("u/b", "kept", { qos: 1 })
    const p = await r.expect("publish")
    expect([p.topic, p.payload.toString()]).toEqual(["u/b", "kept"])
    expect(r.pending).toEqual([])
  })

  it("replaces a subscription on a repeated SUBSCRIBE of the same filter: new QoS, still one copy [MQTT-3.8.4-3]", async () => {
    const sub = await client()
    await sub.client.subscribeAsync("rs/x", { qos: 0 })
    await sub.client.subscribeAsync("rs/x", { qos: 2 })
    await sub.client.subscribeAsync(MARKER, { qos: 1 })
    const pub = await client()
    await pub.client.publishAsync("rs/x", "once", { qos: 2 })
    await pub.client.publishAsync(MARKER, "", { qos: 1 })
    expect(await untilMarker(sub)).toEqual(["rs/x"])
    expect(sub.messages[0]!.packet.qos).toBe(2)
  })

  if (version === 5) it("sends the subscription identifier with retained messages sent on subscribe [MQTT-3.3.4-3]", async () => {
    const pub = await client()
    await pub.client.publishAsync("rid/x", "kept", { qos: 1, retain: true })
    const sub = await client()
    await sub.client.subscribeAsync("rid/+", { qos: 1, properties: { subscriptionIdentifier: 77 } })
    const [m] = await sub.waitFor(1)
    expect([m!.payload, m!.packet.retain, m!.packet.properties?.subscriptionIdentifier]).toEqual(["kept", true, 77])
  })

  if (version === 5) it("treats no-local on a shared subscription as a Protocol Error [MQTT-3.8.3-4]", async () => {
    const r = await raw()
    r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "$share/g/nl/x", qos: 1, nl: true }] })
    expect((await r.expect("disconnect")).reasonCode).toBe(0x82)
    await r.expectClosed()
  })

  if (version === 5) it("no-local: a client does not get its own messages on a no-local subscription [MQTT-3.8.3-3]", async () => {
    const a = await client()
    await a.client.subscribeAsync("nl/+", { qos: 1, nl: true })
    await a.client.subscribeAsync("echo/+", { qos: 1 })
    await a.client.publishAsync("nl/own", "own", { qos: 1 })
    await a.client.publishAsync("echo/own", "echo", { qos: 1 })
    await a.waitFor(1)
    const b = await client()
    await b.client.publishAsync("nl/other", "other", { qos: 1 })
    await a.waitFor(2)
    expect(a.messages.map((m) => m.topic)).toEqual(["echo/own", "nl/other"])
  })

  describe("shared subscriptions $share/{group}/{filter} (MQTT 5 §4.8.2)", () => {
    it("gives each message to exactly one member of each group; every group gets every message", async () => {
      const g1 = [await subscriber("$share/g1/sh/+"), await subscriber("$share/g1/sh/+")]
      const g2 = [await subscriber("$share/g2/sh/x"), await subscriber("$share/g2/sh/x"), await subscriber("$share/g2/sh/x")]
      const plain = await subscriber("sh/x")
      const pub = await client()
      const sent = Array.from({ length: 12 }, (_, i) => `s${i}`)
      for (const p of sent) await pub.client.publishAsync("sh/x", p, { qos: 1 })
      const received = (group: Array<TestClient>) => group.flatMap((c) => c.messages.filter((m) => m.topic !== MARKER).map((m) => m.payload))
      await waitUntil(() => received(g1).length >= 12 && received(g2).length >= 12 && plain.messages.length >= 12, 3000)
      await pub.client.publishAsync(MARKER, "", { qos: 1 })
      await untilMarker(plain)
      await quiet(50)
      for (const group of [g1, g2]) {
        expect(received(group).sort()).toEqual([...sent].sort()) // no message twice, none lost
        for (const member of group) expect(received([member]).length).toBeGreaterThan(0)
      }
      expect(received([plain])).toEqual(sent)
    })

    it("a member that unsubscribes gets no more; the others get everything", async () => {
      const a = await subscriber("$share/gu/su/x")
      const b = await subscriber("$share/gu/su/x")
      await a.client.unsubscribeAsync("$share/gu/su/x")
      const pub = await client()
      for (let i = 0; i < 6; i++) await pub.client.publishAsync("su/x", `u${i}`, { qos: 1 })
      await pub.client.publishAsync(MARKER, "", { qos: 1 })
      expect(await untilMarker(b)).toHaveLength(6)
      expect(await untilMarker(a)).toEqual([])
      expect(b.messages.filter((m) => m.topic !== MARKER).map((m) => m.payload)).toEqual(["u0", "u1", "u2", "u3", "u4", "u5"])
    })

    it("re-sends unacknowledged QoS 1 messages to another member when one's session ends", async () => {
      const r = await raw()
      r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "$share/gr/rd/x", qos: 1 }] })
      expect((await r.expect("suback")).granted).toEqual([1])
      const other = await subscriber("$share/gr/rd/x")
      const pub = await client()
      const sent = Array.from({ length: 6 }, (_, i) => `r${i}`)
      for (const p of sent) await pub.client.publishAsync("rd/x", p, { qos: 1 })
      await waitUntil(() => r.pending.length + other.messages.length >= 6, 3000)
      const unacked = r.pending.map((p) => (p.cmd === "publish" ? p.payload.toString() : p.cmd))
      expect(unacked.length).toBeGreaterThan(0)
      r.destroy() // never acknowledged: the raw member's (clean) session ends with them in flight
      await other.waitFor(6)
      expect(other.messages.map((m) => m.payload).sort()).toEqual(sent)
      for (const m of other.messages.filter((x) => unacked.includes(x.payload))) expect(m.packet.qos).toBe(1)
    })

    /** A raw member, alone in `group`, that received one message; then `other` joins. */
    const heldByRawMember = async (group: string, qos: 1 | 2) => {
      const r = await raw()
      r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `$share/${group}/held/x`, qos }] })
      await r.expect("suback")
      const pub = await client()
      await pub.client.publishAsync("held/x", "held", { qos })
      const p = await r.expect("publish")
      expect([p.payload.toString(), p.qos]).toEqual(["held", qos])
      const other = await subscriber(`$share/${group}/held/x`, 2)
      return { r, p, pub, other }
    }
    const othersGetOnlyTheNextOne = async (other: TestClient, pub: TestClient) => {
      await quiet(200)
      await pub.client.publishAsync("held/x", "next", { qos: 1 })
      expect((await other.waitFor(1)).map((m) => m.payload)).toEqual(["next"])
    }

    it("does not re-send a QoS 2 message already sent to a member whose session ends [MQTT-4.8.2-5]", async () => {
      const { r, pub, other } = await heldByRawMember("g2x", 2)
      await r.destroy()
      await othersGetOnlyTheNextOne(other, pub)
    })

    if (version === 5) it("does not re-send a message a member refused with a PUBACK >= 0x80 [MQTT-4.8.2-6]", async () => {
      const { r, p, pub, other } = await heldByRawMember("g6", 1)
      r.sendPacket({ cmd: "puback", messageId: p.messageId, reasonCode: 0x80 })
      await quiet(50)
      await r.destroy()
      await othersGetOnlyTheNextOne(other, pub)
    })

    if (version === 5) it("keeps them for a disconnected persistent member, and re-sends them to another member when its session expires", async () => {
      const { client: r } = await RawClient.handshake(broker.port, 5, { clientId: "sh-expiring", properties: { sessionExpiryInterval: 1 } })
      life.track(r)
      r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "$share/gx/ex/x", qos: 1 }] })
      await r.expect("suback")
      const other = await subscriber("$share/gx/ex/x")
      const pub = await client()
      for (let i = 0; i < 4; i++) await pub.client.publishAsync("ex/x", `e${i}`, { qos: 1 })
      await waitUntil(() => r.pending.length + other.messages.length >= 4, 3000)
      const held = r.pending.length
      expect(held).toBeGreaterThan(0)
      await r.destroy()
      await quiet(300) // the session lives on for its expiry interval: nothing moves yet
      expect(other.messages).toHaveLength(4 - held)
      await other.waitFor(4, 3000)
      expect(other.messages.map((m) => m.payload).sort()).toEqual(["e0", "e1", "e2", "e3"])
    })
  })
})
