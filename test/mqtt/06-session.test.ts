/**
 * Session state across client reconnects (broker restarts are in 06-session-restart): clean
 * session / clean start, persistent subscriptions and offline queues, redelivery with DUP,
 * QoS 2 exactly-once in both directions, and v5 session expiry.
 */
import type { IConnectPacket, IPublishPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, quiet, waitUntil } from "../support/clients.js"
import { RawClient, type Version } from "../support/RawClient.js"
import type { TestBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"

const life = useBrokers()
const broker = life.broker

/** CONNECT fields for a persistent session (v5: Clean Start 0 and an hour of expiry). */
const persistent = (version: Version, expiry = 3600): Partial<IConnectPacket> =>
  version === 5 ? { clean: false, properties: { sessionExpiryInterval: expiry } } : { clean: false }

const rawSession = async (b: TestBroker, version: Version, clientId: string, fields: Partial<IConnectPacket>) => {
  const { client, connack } = await RawClient.handshake(b.port, version, { clientId, ...fields })
  life.track(client)
  return { client, sessionPresent: connack.sessionPresent }
}

const rawSubscribe = async (r: RawClient, topic: string, qos: 0 | 1 | 2) => {
  r.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos }] })
  const suback = await r.expect("suback")
  expect(suback.granted).toEqual([qos])
}

const mqttjs = async (b: TestBroker, version: Version, clientId: string, fields: Record<string, unknown> = {}) => {
  const c = await connect(b.url, { protocolVersion: version as 4 | 5, clientId, ...fields })
  life.track(c)
  return c
}

/** MQTT.js options for a persistent session. */
const persistentJs = (version: Version, expiry = 3600) =>
  version === 5 ? { clean: false, properties: { sessionExpiryInterval: expiry } } : { clean: false }

describe.each([4, 5] as const)("sessions across reconnects (MQTT v%i)", (version) => {
  it("keeps subscriptions and queues QoS 1 and 2 while offline; session present on return [MQTT-3.1.2-5] [MQTT-3.2.2-2]", async () => {
    const b = await broker()
    const sub = await mqttjs(b, version, `keep-${version}`, persistentJs(version))
    expect(sub.client.connected).toBe(true)
    await sub.client.subscribeAsync("offline/#", { qos: 2 })
    await sub.end()

    const pub = await mqttjs(b, version, `pub-${version}`)
    await pub.client.publishAsync("offline/1", "one", { qos: 1 })
    await pub.client.publishAsync("offline/2", "two", { qos: 2 })
    await pub.client.publishAsync("offline/3", "three", { qos: 1 })

    const { client: back, sessionPresent } = await rawSession(b, version, `keep-${version}`, persistent(version))
    expect(sessionPresent).toBe(true)
    const got: Array<IPublishPacket> = []
    for (let i = 0; i < 3; i++) {
      const p = await back.expect("publish")
      got.push(p)
      if (p.qos === 1) back.sendPacket({ cmd: "puback", messageId: p.messageId! })
      else back.sendPacket({ cmd: "pubrec", messageId: p.messageId! })
    }
    expect(got.map((p) => [p.topic, String(p.payload), p.qos])).toEqual([
      ["offline/1", "one", 1],
      ["offline/2", "two", 2],
      ["offline/3", "three", 1]
    ])
    // Queued, never sent before: not duplicates.
    expect(got.every((p) => !p.dup)).toBe(true)
    await back.expect("pubrel")
    // The subscription itself survived: a live publish reaches the resumed session.
    await pub.client.publishAsync("offline/live", "live", { qos: 1 })
    const live = await back.expect("publish")
    expect(String(live.payload)).toBe("live")
  })

  it(`${version === 5 ? "Clean Start" : "clean session"} discards the previous session: no session present, no queue, no subscriptions [MQTT-3.1.2-${version === 5 ? "4" : "6"}]`, async () => {
    const b = await broker()
    const sub = await mqttjs(b, version, `wipe-${version}`, persistentJs(version))
    await sub.client.subscribeAsync("wipe/old", { qos: 1 })
    await sub.end()
    const pub = await mqttjs(b, version, `wpub-${version}`)
    await pub.client.publishAsync("wipe/old", "queued", { qos: 1 })

    // v5: Clean Start with a non-zero expiry still starts a new session.
    const fresh = await mqttjs(b, version, `wipe-${version}`, version === 5 ? { clean: true, properties: { sessionExpiryInterval: 3600 } } : { clean: true })
    await fresh.client.subscribeAsync("wipe/new", { qos: 1 })
    // The old subscription is gone: only the sentinel on the new one arrives, not "old".
    await pub.client.publishAsync("wipe/old", "to nobody", { qos: 1 })
    await pub.client.publishAsync("wipe/new", "sentinel", { qos: 1 })
    const [first] = await fresh.waitFor(1)
    expect(first!.payload).toBe("sentinel")
    await quiet(100)
    expect(fresh.messages.map((m) => m.payload)).toEqual(["sentinel"])
  })

  it("CONNACK session present is 0 after clean session, 1 when a stored session is resumed [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3]", async () => {
    const b = await broker()
    const id = `present-${version}`
    const first = await rawSession(b, version, id, persistent(version))
    expect(first.sessionPresent).toBe(false)
    await first.client.disconnect()
    const second = await rawSession(b, version, id, persistent(version))
    expect(second.sessionPresent).toBe(true)
    await second.client.disconnect()
    const clean = await rawSession(b, version, id, { clean: true })
    expect(clean.sessionPresent).toBe(false)
    await clean.client.disconnect()
    // A clean session ends with its connection: nothing to resume afterwards [MQTT-3.1.2-6].
    const after = await rawSession(b, version, id, persistent(version))
    expect(after.sessionPresent).toBe(false)
  })

  it("resends an unacknowledged QoS 1 PUBLISH on reconnect with the same packet id and DUP=1 [MQTT-4.4.0-1] [MQTT-3.3.1-1]", async () => {
    const b = await broker()
    const id = `dup1-${version}`
    const { client: s1 } = await rawSession(b, version, id, persistent(version))
    await rawSubscribe(s1, "dup/q1", 1)
    const pub = await mqttjs(b, version, `dup1-pub-${version}`)
    await pub.client.publishAsync("dup/q1", "unacked", { qos: 1 })
    const original = await s1.expect("publish")
    expect(original.qos).toBe(1)
    expect(original.dup).toBe(false)
    await s1.destroy() // no PUBACK

    const { client: s2, sessionPresent } = await rawSession(b, version, id, persistent(version))
    expect(sessionPresent).toBe(true)
    const again = await s2.expect("publish")
    expect(again.messageId).toBe(original.messageId)
    expect(again.dup).toBe(true)
    expect(again.qos).toBe(1)
    expect(String(again.payload)).toBe("unacked")
    s2.sendPacket({ cmd: "puback", messageId: again.messageId! })
    await s2.disconnect()

    // Acknowledged now: the next reconnect resends nothing.
    const { client: s3 } = await rawSession(b, version, id, persistent(version))
    await pub.client.publishAsync("dup/q1", "sentinel", { qos: 1 })
    const next = await s3.expect("publish")
    expect(String(next.payload)).toBe("sentinel")
    expect(next.dup).toBe(false)
  })

  it("QoS 2 inbound, exactly once across a reconnect: a resent PUBLISH after PUBREC is not routed again [MQTT-4.3.3-9] [MQTT-4.4.0-1]", async () => {
    const b = await broker()
    const sub = await mqttjs(b, version, `eo-sub-${version}`)
    await sub.client.subscribeAsync("eo/in", { qos: 2 })
    const id = `eo-pub-${version}`
    const { client: p1 } = await rawSession(b, version, id, persistent(version))
    const publish = { cmd: "publish" as const, topic: "eo/in", payload: Buffer.from("once"), qos: 2 as const, messageId: 7, retain: false }
    p1.sendPacket({ ...publish, dup: false })
    expect((await p1.expect("pubrec")).messageId).toBe(7)
    await p1.destroy() // before PUBREL

    const { client: p2, sessionPresent } = await rawSession(b, version, id, persistent(version))
    expect(sessionPresent).toBe(true)
    p2.sendPacket({ ...publish, dup: true })
    const rec = await p2.expect("pubrec")
    expect(rec.messageId).toBe(7)
    p2.sendPacket({ cmd: "pubrel", messageId: 7 })
    const comp = await p2.expect("pubcomp")
    expect(comp.messageId).toBe(7)
    if (version === 5) expect(comp.reasonCode ?? 0).toBe(0)

    await sub.waitFor(1)
    // After PUBCOMP the id is free: the same id is a new message, routed once more.
    p2.sendPacket({ ...publish, payload: Buffer.from("second"), dup: false })
    await p2.expect("pubrec")
    p2.sendPacket({ cmd: "pubrel", messageId: 7 })
    await p2.expect("pubcomp")
    await sub.waitFor(2)
    await quiet(100)
    expect(sub.messages.map((m) => m.payload)).toEqual(["once", "second"])
  })

  it("QoS 2 outbound across a reconnect: after PUBREC the broker resends PUBREL, not the PUBLISH [MQTT-4.4.0-1] [MQTT-4.3.3-5]", async () => {
    const b = await broker()
    const id = `eo-out-${version}`
    const { client: s1 } = await rawSession(b, version, id, persistent(version))
    await rawSubscribe(s1, "eo/out", 2)
    const pub = await mqttjs(b, version, `eo-out-pub-${version}`)
    await pub.client.publishAsync("eo/out", "exactly once", { qos: 2 })
    const p = await s1.expect("publish")
    expect(p.qos).toBe(2)
    s1.sendPacket({ cmd: "pubrec", messageId: p.messageId! })
    expect((await s1.expect("pubrel")).messageId).toBe(p.messageId)
    await s1.destroy() // no PUBCOMP

    const { client: s2, sessionPresent } = await rawSession(b, version, id, persistent(version))
    expect(sessionPresent).toBe(true)
    const rel = await s2.expect("pubrel")
    expect(rel.messageId).toBe(p.messageId)
    s2.sendPacket({ cmd: "pubcomp", messageId: p.messageId! })
    // The flow is complete: the next message gets through, and the first one never came back.
    await pub.client.publishAsync("eo/out", "next", { qos: 2 })
    const next = await s2.expect("publish")
    expect(String(next.payload)).toBe("next")
    expect(s2.received.filter((x) => x.cmd === "publish")).toHaveLength(1)
  })

  it("resends an unacknowledged QoS 2 PUBLISH (no PUBREC yet) with DUP=1 [MQTT-4.4.0-1]", async () => {
    const b = await broker()
    const id = `dup2-${version}`
    const { client: s1 } = await rawSession(b, version, id, persistent(version))
    await rawSubscribe(s1, "dup/q2", 2)
    const pub = await mqttjs(b, version, `dup2-pub-${version}`)
    await pub.client.publishAsync("dup/q2", "q2 unacked", { qos: 2 })
    const original = await s1.expect("publish")
    await s1.destroy()
    const { client: s2 } = await rawSession(b, version, id, persistent(version))
    const again = await s2.expect("publish")
    expect(again.messageId).toBe(original.messageId)
    expect(again.qos).toBe(2)
    expect(again.dup).toBe(true)
    s2.sendPacket({ cmd: "pubrec", messageId: again.messageId! })
    expect((await s2.expect("pubrel")).messageId).toBe(original.messageId)
  })
})

describe.each([4, 5] as const)("session takeover by a live connection (MQTT v%i)", (version) => {
  it("a persistent session taken over keeps its state: session present 1, unacknowledged messages resent with DUP [MQTT-3.1.4-3] [MQTT-4.4.0-1]", async () => {
    const b = await broker()
    const id = `to-keep-${version}`
    const { client: s1 } = await rawSession(b, version, id, persistent(version))
    await rawSubscribe(s1, "to/keep", 1)
    const pub = await mqttjs(b, version, `to-keep-pub-${version}`)
    await pub.client.publishAsync("to/keep", "in flight", { qos: 1 })
    const original = await s1.expect("publish")
    // A second connection with the same id, while the first is still open and owes a PUBACK.
    const { client: s2, sessionPresent } = await rawSession(b, version, id, persistent(version))
    expect(sessionPresent).toBe(true)
    await s1.expectClosed()
    const again = await s2.expect("publish")
    expect(again.messageId).toBe(original.messageId)
    expect(again.dup).toBe(true)
    s2.sendPacket({ cmd: "puback", messageId: again.messageId! })
    await pub.client.publishAsync("to/keep", "next", { qos: 1 })
    expect(String((await s2.expect("publish")).payload)).toBe("next")
  })

  it("a session that was to end with its connection is not resumed by a taker-over [MQTT-3.1.2-6] [MQTT-3.1.2-23]", async () => {
    const b = await broker()
    const id = `to-clean-${version}`
    // 3.1.1: clean session 1; v5: Clean Start 0 but Session Expiry Interval 0.
    const { client: s1 } = await rawSession(b, version, id, version === 5 ? { clean: false } : { clean: true })
    await rawSubscribe(s1, "to/clean", 1)
    const { client: s2, sessionPresent } = await rawSession(b, version, id, persistent(version))
    expect(sessionPresent).toBe(false)
    await s1.expectClosed()
    // Its subscription ended with it.
    const pub = await mqttjs(b, version, `to-clean-pub-${version}`)
    await pub.client.publishAsync("to/clean", "to nobody", { qos: 1 })
    await quiet(150)
    expect(s2.received.filter((p) => p.cmd === "publish")).toEqual([])
  })
})

describe.each([4, 5] as const)("redelivery order and windows (MQTT v%i)", (version) => {
  it("on reconnect, unacknowledged messages come first (DUP, same ids), then the ones queued after them, in order [MQTT-4.4.0-1] [MQTT-4.6.0-1]", async () => {
    const b = await broker({ limits: { maxInflight: 2 } })
    const id = `order-${version}`
    const { client: s1 } = await rawSession(b, version, id, persistent(version))
    await rawSubscribe(s1, "order/t", 1)
    const pub = await mqttjs(b, version, `order-pub-${version}`)
    for (let i = 1; i <= 3; i++) await pub.client.publishAsync("order/t", `m${i}`, { qos: 1 })
    // Window of 2: m1 and m2 are in flight, m3 waits.
    const first = [await s1.expect("publish"), await s1.expect("publish")]
    expect(first.map((p) => String(p.payload))).toEqual(["m1", "m2"])
    await s1.destroy() // nothing acknowledged
    for (let i = 4; i <= 5; i++) await pub.client.publishAsync("order/t", `m${i}`, { qos: 1 })

    const { client: s2 } = await rawSession(b, version, id, persistent(version))
    const got: Array<IPublishPacket> = []
    while (got.length < 5) {
      const p = await s2.expect("publish")
      got.push(p)
      s2.sendPacket({ cmd: "puback", messageId: p.messageId! })
    }
    expect(got.map((p) => String(p.payload))).toEqual(["m1", "m2", "m3", "m4", "m5"])
    expect(got.map((p) => p.dup)).toEqual([true, true, false, false, false])
    expect(got.slice(0, 2).map((p) => p.messageId)).toEqual(first.map((p) => p.messageId))
  })

  it(`a PUBREL for an unknown packet id gets PUBCOMP${version === 5 ? " 0x92 (Packet Identifier not found)" : ""} [MQTT-4.3.3-11]`, async () => {
    const b = await broker()
    const { client: r } = await rawSession(b, version, `unknown-rel-${version}`, { clean: true })
    r.sendPacket({ cmd: "pubrel", messageId: 42 })
    const comp = await r.expect("pubcomp")
    expect(comp.messageId).toBe(42)
    if (version === 5) expect(comp.reasonCode).toBe(0x92)
    expect(r.isClosed).toBe(false)
  })
})

describe("v5 session resume and the client's Receive Maximum", () => {
  it("a resumed session sends at most Receive Maximum unacknowledged QoS 1 messages, the rest as acks free the window [MQTT-4.9.0-2] [MQTT-3.3.4-7]", async () => {
    const b = await broker()
    const { client: s1 } = await rawSession(b, 5, "rm-resume", persistent(5))
    await rawSubscribe(s1, "rm/t", 1)
    await s1.disconnect()
    const pub = await mqttjs(b, 5, "rm-pub")
    for (let i = 0; i < 8; i++) await pub.client.publishAsync("rm/t", `n${i}`, { qos: 1 })

    const { client: s2 } = await rawSession(b, 5, "rm-resume", { ...persistent(5), properties: { sessionExpiryInterval: 3600, receiveMaximum: 3 } })
    const batch = [await s2.expect("publish"), await s2.expect("publish"), await s2.expect("publish")]
    await quiet(150)
    expect(s2.pending).toEqual([]) // no fourth while three are unacknowledged
    const got = batch.map((p) => String(p.payload))
    const inFlight = [...batch]
    while (got.length < 8) {
      s2.sendPacket({ cmd: "puback", messageId: inFlight.shift()!.messageId! })
      const p = await s2.expect("publish")
      inFlight.push(p)
      got.push(String(p.payload))
    }
    expect(got).toEqual(["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"])
  })
})

describe("v5 session expiry", () => {
  it("a session with expiry 1 s survives a short absence with its queued messages [MQTT-3.1.2-23]", async () => {
    const b = await broker()
    const sub = await mqttjs(b, 5, "exp-short", persistentJs(5, 1))
    await sub.client.subscribeAsync("exp/short", { qos: 1 })
    await sub.end()
    const pub = await mqttjs(b, 5, "exp-short-pub")
    await pub.client.publishAsync("exp/short", "kept", { qos: 1 })
    const back = await mqttjs(b, 5, "exp-short", persistentJs(5, 1))
    expect(back.client.connected).toBe(true)
    const [m] = await back.waitFor(1)
    expect(m!.payload).toBe("kept")
  })

  it("a session with expiry 1 s is gone after it expires: session present 0 and no queued messages [MQTT-3.1.2-23]", async () => {
    const b = await broker()
    const { client: s1 } = await rawSession(b, 5, "exp-gone", persistent(5, 1))
    await rawSubscribe(s1, "exp/gone", 1)
    const left = Date.now() // the broker's disconnect time is after this
    await s1.disconnect()
    const pub = await mqttjs(b, 5, "exp-gone-pub")
    await pub.client.publishAsync("exp/gone", "lost with the session", { qos: 1 })
    // Wait (bounded) for the broker to drop it, then check from the outside.
    await waitUntil(() => !b.server.engine.sessions.has("exp-gone"), 3000, () => "the session to expire")
    expect(Date.now() - left).toBeGreaterThanOrEqual(1000)
    const { client: s2, sessionPresent } = await rawSession(b, 5, "exp-gone", persistent(5, 1))
    expect(sessionPresent).toBe(false)
    // Nothing queued, and no subscription: a new publish does not arrive either.
    await pub.client.publishAsync("exp/gone", "after expiry", { qos: 1 })
    await quiet(200)
    expect(s2.received.filter((p) => p.cmd === "publish")).toEqual([])
  })

  it("Session Expiry Interval 0 (the default) ends the session with the connection, even with Clean Start 0 [MQTT-3.1.2-23]", async () => {
    const b = await broker()
    const { client: s1 } = await rawSession(b, 5, "exp-zero", { clean: false })
    await s1.disconnect()
    const { sessionPresent } = await rawSession(b, 5, "exp-zero", { clean: false })
    expect(sessionPresent).toBe(false)
  })

  it("DISCONNECT may shorten the expiry to 0: the session ends at once", async () => {
    const b = await broker()
    const { client: s1 } = await rawSession(b, 5, "exp-cut", persistent(5))
    await s1.disconnect(0, { sessionExpiryInterval: 0 })
    const { sessionPresent } = await rawSession(b, 5, "exp-cut", persistent(5))
    expect(sessionPresent).toBe(false)
  })

  it("DISCONNECT with a non-zero expiry when CONNECT had 0 is a protocol error: DISCONNECT 0x82, will published [MQTT-3.14.2-2]", async () => {
    const b = await broker()
    const watcher = await mqttjs(b, 5, "exp-err-watch")
    await watcher.client.subscribeAsync("exp/err/will", { qos: 1 })
    const { client: r } = await rawSession(b, 5, "exp-err", { will: { topic: "exp/err/will", payload: Buffer.from("abnormal"), qos: 1, retain: false } })
    r.sendPacket({ cmd: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 60 } })
    const d = await r.expect("disconnect")
    expect(d.reasonCode).toBe(0x82)
    await r.expectClosed()
    // Not a normal disconnect: the will goes out, and no session was kept.
    const [will] = await watcher.waitFor(1)
    expect(will!.payload).toBe("abnormal")
    const { sessionPresent } = await rawSession(b, 5, "exp-err", { clean: false })
    expect(sessionPresent).toBe(false)
  })
})
