/**
 * Overload limits through real sockets: subscription quota (SUBACK 0x97 / 0x80), publish rate
 * (reads paused, nothing lost), stalled subscribers (disconnected, the others unaffected, the
 * session keeps what it is owed), and QoS 0 to a subscriber that does not read (dropped within
 * the output buffer, counted).
 */
import type * as mqttPacket from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient } from "../support/RawClient.js"

const { broker, track } = useBrokers()

describe("limits.max_subscriptions", () => {
  it.each([5, 4] as const)("refuses new filters past the quota, keeps re-subscriptions (MQTT v%i)", async (version) => {
    const b = await broker({ limits: { maxSubscriptions: 2 } })
    const { client } = await RawClient.handshake(b.port, version, { clientId: `quota-${version}` })
    track(client)
    client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a", qos: 1 }, { topic: "b", qos: 0 }, { topic: "c", qos: 1 }] })
    const first = await client.expect("suback")
    expect(first.granted).toEqual(version === 5 ? [1, 0, 0x97] : [1, 0, 0x80])
    // Replacing an existing subscription does not count; a new one still does.
    client.sendPacket({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "a", qos: 0 }, { topic: "d", qos: 0 }] })
    const second = await client.expect("suback")
    expect(second.granted).toEqual(version === 5 ? [0, 0x97] : [0, 0x80])
    expect(b.server.context.overload.subscriptionQuotaRefusals).toBe(2)
  })
})

describe("limits.max_publish_rate", () => {
  it("slows a fast publisher to the rate without losing or reordering anything", async () => {
    const b = await broker({ limits: { maxPublishRate: 50 } })
    const sub = track(await connect(b.url, { clientId: "rate-sub" }))
    await sub.client.subscribeAsync("rate/#", { qos: 1 })
    const { client: pub } = await RawClient.handshake(b.port, 4, { clientId: "rate-pub" })
    track(pub)
    const count = 150
    const started = Date.now()
    for (let i = 0; i < count; i++) pub.sendPacket({ cmd: "publish", topic: "rate/x", payload: `m${i}`, qos: 0, retain: false, dup: false })
    await sub.waitFor(count, 15_000)
    const elapsed = Date.now() - started
    // 150 at 50/s: the reads pause twice at least, a second each.
    expect(elapsed).toBeGreaterThanOrEqual(1900)
    expect(sub.messages.map((m) => m.payload)).toEqual(Array.from({ length: count }, (_, i) => `m${i}`))
    expect(b.server.context.overload.publishThrottles).toBeGreaterThanOrEqual(2)
  })
})

describe("limits.stall_timeout", () => {
  it("disconnects a subscriber whose QoS 1 window stays full, keeps its session, and never slows the others", async () => {
    const b = await broker({ limits: { stallTimeout: 1, maxInflight: 5 } })
    const persistent = { clean: false, properties: { sessionExpiryInterval: 600 } }
    const { client: stuck } = await RawClient.handshake(b.port, 5, { clientId: "stuck", ...persistent })
    track(stuck)
    stuck.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "load/#", qos: 1 }] })
    await stuck.expect("suback")
    const fast = track(await connect(b.url, { clientId: "fast" }))
    await fast.client.subscribeAsync("load/#", { qos: 1 })
    const pub = track(await connect(b.url, { clientId: "load-pub" }))
    const count = 40
    for (let i = 0; i < count; i++) await pub.client.publishAsync("load/x", `m${i}`, { qos: 1 })
    await fast.waitFor(count, 10_000)
    // The stuck client read its 5 PUBLISHes and acknowledges none of them.
    await waitUntil(() => stuck.isClosed, 5_000, () => "the stalled subscriber to be disconnected")
    expect(b.server.context.overload.stalledDisconnects).toBe(1)
    expect(fast.client.connected).toBe(true)
    // Nothing it was owed is gone: on return it gets all 40, the 5 it had first, again with DUP.
    const { client: back } = await RawClient.handshake(b.port, 5, { clientId: "stuck", ...persistent })
    track(back)
    const got: Array<mqttPacket.IPublishPacket> = []
    while (got.length < count) {
      const p = await back.expect("publish", 5000)
      got.push(p)
      back.sendPacket({ cmd: "puback", messageId: p.messageId! })
    }
    expect(got.map((p) => String(p.payload))).toEqual(Array.from({ length: count }, (_, i) => `m${i}`))
    expect(got.slice(0, 5).every((p) => p.dup)).toBe(true)
  })

  it("disconnects a subscriber that stopped reading; QoS 0 to it is dropped at the output buffer and counted", async () => {
    const b = await broker({ limits: { stallTimeout: 1, maxOutputBuffer: 256 * 1024 } })
    const { client: deaf } = await RawClient.handshake(b.port, 4, { clientId: "deaf" })
    track(deaf)
    deaf.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "flood/#", qos: 0 }] })
    await deaf.expect("suback")
    deaf.socket.pause() // reads nothing more: the kernel buffers fill, then the broker's
    const { client: pub } = await RawClient.handshake(b.port, 4, { clientId: "flood-pub" })
    track(pub)
    const payload = Buffer.alloc(64 * 1024, 7)
    // ~32 MB offered: more than loopback's socket buffers and the 256 KiB output cap together.
    for (let i = 0; i < 500; i++) pub.sendPacket({ cmd: "publish", topic: "flood/x", payload, qos: 0, retain: false, dup: false })
    await waitUntil(() => b.server.context.overload.stalledDisconnects === 1, 10_000, () => "the deaf subscriber to be disconnected")
    // Its clean session ended with the connection, handing over its count of dropped QoS 0.
    expect(b.server.engine.stats.droppedByEndedSessions).toBeGreaterThan(0)
    // The publisher was never held up by it.
    pub.sendPacket({ cmd: "pingreq" })
    await pub.expect("pingresp")
  })
})

describe("limits.log_high_water", () => {
  it("pauses a publisher while the log has more unwritten bytes than the mark, and loses nothing", async () => {
    // A mark of one byte: every publish pauses its publisher until the flusher has written.
    const b = await broker({ storage: "sqlite", limits: { logHighWater: 1 } })
    const sub = track(await connect(b.url, { clientId: "hw-sub" }))
    await sub.client.subscribeAsync("hw/#", { qos: 1 })
    const { client: pub } = await RawClient.handshake(b.port, 4, { clientId: "hw-pub" })
    track(pub)
    const count = 300
    for (let i = 0; i < count; i++) pub.sendPacket({ cmd: "publish", topic: "hw/x", payload: `m${i}`, qos: 1, messageId: i + 1, retain: false, dup: false })
    const acked = new Set<number>()
    while (acked.size < count) acked.add((await pub.expect("puback", 5000)).messageId!)
    await sub.waitFor(count, 10_000)
    expect(sub.messages.map((m) => m.payload)).toEqual(Array.from({ length: count }, (_, i) => `m${i}`))
    expect(b.server.context.overload.logPauses).toBeGreaterThan(0)
  })
})
