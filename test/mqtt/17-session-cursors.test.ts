/**
 * Persistent sessions keep their backlog in the log, behind a cursor, not in memory: while the
 * client is offline, after a restart, and past `limits.max_queued_messages` for a slow client.
 * Through real sockets: what comes back is complete, in order, with its subscription identifier,
 * DUP and packet ids where owed; a subscription made while behind gets nothing older than itself.
 */
import type * as mqttPacket from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient } from "../support/RawClient.js"

const { broker, adopt, track } = useBrokers()
const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } }
const payloads = (packets: ReadonlyArray<mqttPacket.IPublishPacket>) => packets.map((p) => String(p.payload))
const range = (n: number, prefix = "m") => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** Reads `count` PUBLISHes, acknowledging each (PUBACK, or PUBREC then PUBCOMP on PUBREL). */
const drain = async (client: RawClient, count: number): Promise<Array<mqttPacket.IPublishPacket>> => {
  const got: Array<mqttPacket.IPublishPacket> = []
  while (got.length < count) {
    const p = await client.expect("publish", 10_000)
    got.push(p)
    if (p.qos === 1) client.sendPacket({ cmd: "puback", messageId: p.messageId! })
  }
  return got
}

describe("an offline persistent session holds a cursor, not its messages", () => {
  it.each(["memory", "sqlite", "segment"] as const)("owes 500 messages without keeping them in memory, and delivers all in order on return (%s)", async (storage) => {
    const b = await broker({ storage })
    const { client: first } = await RawClient.handshake(b.port, 5, { clientId: "away", ...persistent })
    first.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "fleet/#", qos: 1 }], properties: { subscriptionIdentifier: 42 } })
    await first.expect("suback")
    first.sendPacket({ cmd: "disconnect", reasonCode: 0 })
    await waitUntil(() => b.server.engine.sessions.get("away")?.conn === null, 5000, () => "the session to go offline")

    const pub = track(await connect(b.url, { clientId: "pub" }))
    for (let i = 0; i < 500; i++) await pub.client.publishAsync(`fleet/${i % 7}`, `m${i}`, { qos: 1 })
    const session = b.server.engine.sessions.get("away")!
    expect(session.queue).toBe(null)
    expect(session.inflight).toBe(null)
    expect(session.cursor).not.toBe(null)

    const { client: back } = await RawClient.handshake(b.port, 5, { clientId: "away", ...persistent })
    track(back)
    const got = await drain(back, 500)
    expect(payloads(got)).toEqual(range(500))
    expect(got.every((p) => p.properties?.subscriptionIdentifier === 42)).toBe(true)
    // Caught up: live messages flow straight through memory again.
    await waitUntil(() => session.cursor === null, 5000, () => "the cursor to catch up")
    await pub.client.publishAsync("fleet/live", "live", { qos: 1 })
    expect(payloads(await drain(back, 1))).toEqual(["live"])
  })

  it("what was in flight at the disconnect comes back first, under its packet ids, with DUP (MQTT-4.4.0-1)", async () => {
    const b = await broker({ storage: "sqlite" })
    const { client: first } = await RawClient.handshake(b.port, 5, { clientId: "inflight", ...persistent, properties: { sessionExpiryInterval: 3600, receiveMaximum: 3 } })
    first.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "w/#", qos: 2 }] })
    await first.expect("suback")
    const pub = track(await connect(b.url, { clientId: "pub" }))
    for (let i = 0; i < 10; i++) await pub.client.publishAsync("w/x", `m${i}`, { qos: 2 })
    const sent = [await first.expect("publish"), await first.expect("publish"), await first.expect("publish")]
    first.sendPacket({ cmd: "pubrec", messageId: sent[0]!.messageId! }) // m0 reaches PUBREL
    await first.expect("pubrel")
    first.destroy()
    await waitUntil(() => b.server.engine.sessions.get("inflight")?.cursor != null, 5000, () => "the session to park")

    const { client: back } = await RawClient.handshake(b.port, 5, { clientId: "inflight", ...persistent, properties: { sessionExpiryInterval: 3600, receiveMaximum: 3 } })
    track(back)
    const rel = await back.expect("pubrel")
    expect(rel.messageId).toBe(sent[0]!.messageId)
    const again = [await back.expect("publish"), await back.expect("publish")]
    expect(again.map((p) => [String(p.payload), p.messageId, p.dup])).toEqual([["m1", sent[1]!.messageId, true], ["m2", sent[2]!.messageId, true]])
    back.sendPacket({ cmd: "pubcomp", messageId: rel.messageId! })
    const rest: Array<mqttPacket.IPublishPacket> = [...again]
    for (const p of again) back.sendPacket({ cmd: "pubrec", messageId: p.messageId! })
    while (rest.length < 9) {
      const next = await back.nextPacket(10_000)
      if (next.cmd === "pubrel") back.sendPacket({ cmd: "pubcomp", messageId: next.messageId! })
      else if (next.cmd === "publish") {
        rest.push(next)
        back.sendPacket({ cmd: "pubrec", messageId: next.messageId! })
      }
    }
    expect(payloads(rest)).toEqual(range(10).slice(1))
  })

  it("after a restart an offline session is restored as a cursor and delivers what it is owed", async () => {
    let b = await broker({ storage: "segment" })
    const { client: first } = await RawClient.handshake(b.port, 4, { clientId: "restarted", clean: false })
    first.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 1 }] })
    await first.expect("suback")
    first.sendPacket({ cmd: "disconnect" })
    await waitUntil(() => b.server.engine.sessions.get("restarted")?.conn === null, 5000, () => "the session to go offline")
    const pub = await connect(b.url, { clientId: "pub" })
    for (let i = 0; i < 50; i++) await pub.client.publishAsync("r/x", `m${i}`, { qos: 1 })
    await pub.end()
    b = adopt(await b.restart())
    const restored = b.server.engine.sessions.get("restarted")!
    expect(restored.cursor).not.toBe(null)
    expect(restored.queue).toBe(null)
    const { client: back } = await RawClient.handshake(b.port, 4, { clientId: "restarted", clean: false })
    track(back)
    expect(payloads(await drain(back, 50))).toEqual(range(50))
  })
})

describe("a slow persistent subscriber past limits.max_queued_messages", () => {
  it("gets every message (none dropped) while at most about the limit waits in memory", async () => {
    const b = await broker({ storage: "sqlite", limits: { maxQueuedMessages: 20 } })
    const { client: slow } = await RawClient.handshake(b.port, 5, { clientId: "slow", ...persistent, properties: { sessionExpiryInterval: 3600, receiveMaximum: 5 } })
    track(slow)
    slow.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "s/#", qos: 1 }] })
    await slow.expect("suback")
    const pub = track(await connect(b.url, { clientId: "pub" }))
    for (let i = 0; i < 300; i++) await pub.client.publishAsync("s/x", `m${i}`, { qos: 1 })
    const session = b.server.engine.sessions.get("slow")!
    expect(session.cursor).not.toBe(null)
    expect(session.queue!.length).toBeLessThanOrEqual(20)

    // A subscription made while behind gets only what is published after it.
    slow.sendPacket({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "later/#", qos: 1 }] })
    const got: Array<mqttPacket.IPublishPacket> = []
    for (;;) {
      const p = await slow.nextPacket(10_000)
      if (p.cmd === "suback") break
      if (p.cmd !== "publish") throw new Error(`unexpected ${p.cmd}`)
      got.push(p)
      slow.sendPacket({ cmd: "puback", messageId: p.messageId! })
    }
    await pub.client.publishAsync("later/x", "after", { qos: 1 })
    got.push(...(await drain(slow, 301 - got.length)))
    expect(payloads(got)).toEqual([...range(300), "after"])
    expect(session.dropped).toBe(0)
    await waitUntil(() => session.cursor === null, 5000, () => "the cursor to catch up")
  })

  it("a clean session still drops past the limit (the log is not kept for it) and counts the drops", async () => {
    const b = await broker({ limits: { maxQueuedMessages: 10 } })
    const { client: slow } = await RawClient.handshake(b.port, 5, { clientId: "clean-slow", properties: { receiveMaximum: 2 } })
    track(slow)
    slow.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "c/#", qos: 1 }] })
    await slow.expect("suback")
    const pub = track(await connect(b.url, { clientId: "pub" }))
    for (let i = 0; i < 50; i++) await pub.client.publishAsync("c/x", `m${i}`, { qos: 1 })
    const session = b.server.engine.sessions.get("clean-slow")!
    expect(session.cursor).toBe(null)
    expect(session.dropped).toBe(38)
    expect(payloads(await drain(slow, 12))).toEqual(range(12))
  })
})

describe("share groups with every member offline", () => {
  it("messages picked for offline members are read back from the log, each to one member, once", async () => {
    const b = await broker({ storage: "sqlite" })
    for (const id of ["g1", "g2"]) {
      const { client } = await RawClient.handshake(b.port, 5, { clientId: id, ...persistent })
      client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "$share/grp/jobs/#", qos: 1 }] })
      await client.expect("suback")
      client.sendPacket({ cmd: "disconnect", reasonCode: 0 })
      await waitUntil(() => b.server.engine.sessions.get(id)?.conn === null, 5000, () => `${id} to go offline`)
    }
    const pub = track(await connect(b.url, { clientId: "pub" }))
    for (let i = 0; i < 40; i++) await pub.client.publishAsync("jobs/x", `m${i}`, { qos: 1 })
    const all: Array<string> = []
    for (const id of ["g1", "g2"]) {
      expect(b.server.engine.sessions.get(id)!.queue).toBe(null)
      const { client } = await RawClient.handshake(b.port, 5, { clientId: id, ...persistent })
      track(client)
      all.push(...payloads(await drain(client, 20)))
    }
    expect(all.sort()).toEqual(range(40).sort())
  })
})
