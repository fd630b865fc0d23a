/**
 * Mosquitto's meaning of a deny rule under a wider read rule: a SUBSCRIBE that a read rule
 * reaches is granted, and the denied topics are filtered out of what it delivers, live, through
 * a share group, from retained messages, after an ACL reload (without re-subscribing), and from
 * what a persistent session owes when it comes back, also after a restart (read from the log).
 *
 * "Did not arrive" is proved without long sleeps: a sentinel published after the denied message
 * on a readable topic arrives, and the denied one did not before it.
 */
import { Effect } from "effect"
import type { ISubackPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import type { TestBroker } from "../support/TestBroker.js"
import { authDir, writeAcl, writeUsers } from "./authFiles.js"

const life = useBrokers()
const dir = authDir()

const USERS = { alice: "a-pass", admin: "admin-pass" }
const ADMIN = "user admin\ntopic readwrite #\n"
const A_BUT_SECRET = `user alice\ntopic readwrite a/#\ntopic deny a/secret/#\n${ADMIN}`
const ALL_BUT_SECRET = `user alice\ntopic readwrite #\ntopic deny secret/#\n${ADMIN}`

const reload = (b: TestBroker) => Effect.runPromise(b.server.context.auth!.reload)
const subscriptionsOf = (b: TestBroker, clientId: string) => [...(b.server.engine.sessions.get(clientId)?.subscriptions.keys() ?? [])].sort()
const brokerWith = (acl: string, extra: Record<string, unknown> = {}) => {
  const aclFile = writeAcl(dir, acl)
  return life.broker({ ...extra, auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), aclFile } }).then((b) => ({ b, aclFile }))
}
const alice = (b: TestBroker, version: 4 | 5, more: Record<string, unknown> = {}) =>
  connect(b.url, { protocolVersion: version, username: "alice", password: USERS.alice, ...more }).then((c) => life.track(c))

/** Publishes each topic at QoS 1 in order, then `sentinel`; returns the topics `sub` got once the sentinel arrived. */
const receivedAfter = async (b: TestBroker, sub: TestClient, topics: ReadonlyArray<string>, sentinel: string): Promise<Array<string>> => {
  const pub = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))
  for (const t of topics) await pub.client.publishAsync(t, t, { qos: 1 })
  await pub.client.publishAsync(sentinel, "sentinel", { qos: 1 })
  await waitUntil(() => sub.messages.some((m) => m.topic === sentinel), 5000, () => `the sentinel ${sentinel}`)
  await pub.end()
  return sub.messages.map((m) => m.topic)
}

describe.each([5, 4] as const)("MQTT.js v%i: a filter a deny rule reaches is granted and filtered", (version) => {
  it("a/# under `readwrite a/#` and `deny a/secret/#` receives a/open, not a/secret/x", async () => {
    const { b } = await brokerWith(A_BUT_SECRET)
    const sub = await alice(b, version)
    expect((await sub.client.subscribeAsync("a/#", { qos: 1 })).map((g) => g.qos)).toEqual([1])
    expect(await receivedAfter(b, sub, ["a/secret/x", "a/secret", "a/open"], "a/end")).toEqual(["a/open", "a/end"])
  })

  it("# under `readwrite #` and `deny secret/#` gets everything but secret/...", async () => {
    const { b } = await brokerWith(ALL_BUT_SECRET)
    const sub = await alice(b, version)
    expect((await sub.client.subscribeAsync("#", { qos: 1 })).map((g) => g.qos)).toEqual([1])
    expect(await receivedAfter(b, sub, ["x", "secret/k", "y/z", "secret"], "end")).toEqual(["x", "y/z", "end"])
  })

  it("a filter no read rule reaches is still refused, and so is one a deny rule covers", async () => {
    const { b } = await brokerWith(A_BUT_SECRET)
    const sub = await alice(b, version)
    const refusal = version === 5 ? 0x87 : 0x80
    const error = await sub.client.subscribeAsync(["b/#", "a/secret/+", "a/+"], { qos: 1 }).then(() => null, (e: { packet?: ISubackPacket }) => e)
    expect(error?.packet?.granted).toEqual([refusal, refusal, 1])
  })

  it("$share/g/a/# follows a/#", async () => {
    const { b } = await brokerWith(A_BUT_SECRET)
    const sub = await alice(b, version)
    await sub.client.subscribeAsync("$share/g/a/#", { qos: 1 })
    expect(await receivedAfter(b, sub, ["a/secret/x", "a/open"], "a/end")).toEqual(["a/open", "a/end"])
  })

  it("retained messages under a denied topic are not sent to a filtered subscription", async () => {
    const { b } = await brokerWith(A_BUT_SECRET)
    const pub = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))
    await pub.client.publishAsync("a/secret/r", "hidden", { qos: 1, retain: true })
    await pub.client.publishAsync("a/r", "shown", { qos: 1, retain: true })
    const sub = await alice(b, version)
    await sub.client.subscribeAsync("a/#", { qos: 1 })
    expect(await receivedAfter(b, sub, [], "a/end")).toEqual(["a/r", "a/end"])
  })
})

describe("ACL changes reach filtered subscriptions", () => {
  it("a reload adding a deny rule filters the live subscription without re-subscribing; removing it lifts the filter", async () => {
    const { b, aclFile } = await brokerWith(`user alice\ntopic readwrite a/#\n${ADMIN}`)
    const sub = await alice(b, 5, { clientId: "live-f" })
    await sub.client.subscribeAsync("a/#", { qos: 1 })
    const check = () => b.server.engine.sessions.get("live-f")!.subscriptions.get("a/#")!.check
    expect(check()).toBe(null) // wholly readable: no per-message check
    expect(await receivedAfter(b, sub, ["a/secret/1"], "a/end1")).toEqual(["a/secret/1", "a/end1"])

    writeAcl(dir, A_BUT_SECRET, aclFile)
    expect((await reload(b)).subscriptionsRemoved).toBe(0)
    expect(subscriptionsOf(b, "live-f")).toEqual(["a/#"])
    expect(check()).not.toBe(null)
    sub.messages.length = 0
    expect(await receivedAfter(b, sub, ["a/secret/2", "a/open"], "a/end2")).toEqual(["a/open", "a/end2"])

    writeAcl(dir, `user alice\ntopic readwrite a/#\n${ADMIN}`, aclFile)
    await reload(b)
    expect(check()).toBe(null)
    sub.messages.length = 0
    expect(await receivedAfter(b, sub, ["a/secret/3"], "a/end3")).toEqual(["a/secret/3", "a/end3"])
  })

  it("on SQLite: what a persistent session owes follows the same rule when it comes back, also after a restart", async () => {
    const { b: first, aclFile } = await brokerWith(`user alice\ntopic readwrite a/#\n${ADMIN}`, { storage: "sqlite" })
    let b = first
    const options = { clientId: "persist-f", clean: false, properties: { sessionExpiryInterval: 3600 } }
    const s1 = await alice(b, 5, options)
    await s1.client.subscribeAsync("a/#", { qos: 1 })
    await s1.end()
    let pub = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))
    await pub.client.publishAsync("a/secret/1", "queued", { qos: 1 })
    await pub.client.publishAsync("a/1", "queued", { qos: 1 })
    await pub.end()

    // Offline, the ACL gains a deny rule: the queued a/secret/1 is not delivered on resume.
    writeAcl(dir, A_BUT_SECRET, aclFile)
    await reload(b)
    const s2 = await alice(b, 5, options)
    expect(subscriptionsOf(b, "persist-f")).toEqual(["a/#"])
    expect(await receivedAfter(b, s2, [], "a/end1")).toEqual(["a/1", "a/end1"])
    await s2.end()

    // Restarted while offline: the backlog is read back from the log, filtered the same way.
    b = life.adopt(await b.restart())
    pub = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))
    await pub.client.publishAsync("a/secret/2", "queued", { qos: 1 })
    await pub.client.publishAsync("a/2", "queued", { qos: 1 })
    await pub.end()
    const s3 = await alice(b, 5, options)
    expect(await receivedAfter(b, s3, [], "a/end2")).toEqual(["a/2", "a/end2"])
  })
})
