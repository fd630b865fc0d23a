/**
 * Revocation reaches subscriptions granted earlier. Only subscriptions granted in part check each
 * delivery against the ACL (see 08-filtered-subscriptions), so the subscriptions are re-checked
 * whenever the permission can have changed: after an ACL reload for every live connection, and
 * when a persistent session is resumed, under the connecting client's ACL, before anything is
 * sent. A subscription no longer granted goes as an UNSUBSCRIBE would remove it (durably), and
 * queued messages it alone matched are not delivered.
 *
 * "Did not arrive" is proved without long sleeps: a sentinel published after the revoked message
 * on a topic the client still reads arrives, and the revoked one did not before it.
 */
import { Effect } from "effect"
import type { IConnackPacket, IPublishPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import type { TestBroker } from "../support/TestBroker.js"
import { authDir, rawConnect, writeAcl, writeUsers } from "./authFiles.js"

const life = useBrokers()
const dir = authDir()

const USERS = { alice: "a-pass", bob: "b-pass", admin: "admin-pass" }
const ADMIN = "user admin\ntopic readwrite #\n"
const BOTH = `user alice\ntopic read a/#\ntopic read b/#\n${ADMIN}`
const ONLY_B = `user alice\ntopic read b/#\n${ADMIN}`

const authOf = (b: TestBroker) => b.server.context.auth!
const reload = (b: TestBroker) => Effect.runPromise(authOf(b).reload)
const subscriptionsOf = (b: TestBroker, clientId: string) => [...(b.server.engine.sessions.get(clientId)?.subscriptions.keys() ?? [])].sort()
const sessionEvents = async (b: TestBroker, clientId: string) =>
  (await Effect.runPromise(b.server.engine.store.readStream(`session-${clientId}`))).map((e) => e.type)

const admin = async (b: TestBroker): Promise<TestClient> =>
  life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))

/** Publishes `revoked` (QoS 1) then the sentinel; returns the topics `sub` got once the sentinel arrived. */
const afterSentinel = async (b: TestBroker, sub: TestClient, revoked: string, sentinel: string): Promise<Array<string>> => {
  const pub = await admin(b)
  await pub.client.publishAsync(revoked, "revoked", { qos: 1 })
  await pub.client.publishAsync(sentinel, "sentinel", { qos: 1 })
  await waitUntil(() => sub.messages.some((m) => m.topic === sentinel), 5000, () => `the sentinel ${sentinel}`)
  return sub.messages.map((m) => m.topic)
}

describe.each([5, 4] as const)("ACL reload, live MQTT.js v%i subscriber", (version) => {
  it("a subscription the new ACL no longer grants stops delivering at once; the others keep working", async () => {
    const aclFile = writeAcl(dir, BOTH)
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), aclFile } })
    const clientId = `live-${version}`
    const sub = life.track(await connect(b.url, { protocolVersion: version, clientId, username: "alice", password: USERS.alice }))
    await sub.client.subscribeAsync({ "a/#": { qos: 1 }, "b/#": { qos: 1 }, "$share/g/a/+": { qos: 1 } })
    expect(await afterSentinel(b, sub, "a/before", "b/before")).toEqual(["a/before", "b/before"]) // one delivery per session, however many subscriptions match

    writeAcl(dir, ONLY_B, aclFile)
    const changes = await reload(b)
    expect(changes.acl).toBe("replaced")
    expect(changes.subscriptionsRemoved).toBe(2)
    expect(subscriptionsOf(b, clientId)).toEqual(["b/#"])

    sub.messages.length = 0
    expect(await afterSentinel(b, sub, "a/x", "b/1")).toEqual(["b/1"])
    // Not told, still connected; what it may still read keeps arriving, and SUBSCRIBE answers by the new rules.
    expect(sub.client.connected).toBe(true)
    await expect(sub.client.subscribeAsync("a/#", { qos: 1 })).rejects.toThrow(version === 5 ? "Not authorized" : "Unspecified error")
    expect((await sub.client.subscribeAsync("b/+", { qos: 1 })).map((g) => g.qos)).toEqual([1])
    expect(await afterSentinel(b, sub, "a/y", "b/2")).toEqual(["b/1", "b/2"])
  })
})

describe("ACL reload, messages already queued for a live connection", () => {
  it("queued messages the client may no longer read are dropped; the rest still comes", async () => {
    const aclFile = writeAcl(dir, BOTH)
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), aclFile } })
    // Receive Maximum 1 and no PUBACK from us: the first message stays in flight, the rest queue.
    const { client: sub } = await rawConnect(b.port, 5, { clientId: "slow", username: "alice", password: Buffer.from(USERS.alice), properties: { receiveMaximum: 1 } })
    life.track(sub)
    sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#", qos: 1 }, { topic: "b/#", qos: 1 }] })
    expect((await sub.expect("suback")).granted).toEqual([1, 1])
    const pub = await admin(b)
    for (const topic of ["a/1", "a/2", "b/1", "a/3"]) await pub.client.publishAsync(topic, topic, { qos: 1 })
    const first = (await sub.expect("publish")) as IPublishPacket
    expect(first.topic).toBe("a/1")
    expect(b.server.engine.sessions.get("slow")!.backlog).toBe(4)

    writeAcl(dir, ONLY_B, aclFile)
    expect((await reload(b)).subscriptionsRemoved).toBe(1)
    // a/1 was sent before the change and stays in flight; a/2 and a/3 are gone from the queue.
    expect(b.server.engine.sessions.get("slow")!.backlog).toBe(2)
    sub.sendPacket({ cmd: "puback", messageId: first.messageId! })
    const next = (await sub.expect("publish")) as IPublishPacket
    expect(next.topic).toBe("b/1")
    sub.sendPacket({ cmd: "puback", messageId: next.messageId! })
    await pub.client.publishAsync("b/sentinel", "s", { qos: 1 })
    expect(((await sub.expect("publish")) as IPublishPacket).topic).toBe("b/sentinel")
  })
})

describe("resuming a persistent session", () => {
  const session = { clean: false, properties: { sessionExpiryInterval: 3600 } }

  it("on SQLite: queued messages of a revoked subscription are not delivered, and it stays removed across restarts", async () => {
    const aclFile = writeAcl(dir, BOTH)
    const auth = { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), aclFile }
    let b = await life.broker({ storage: "sqlite", auth })
    const options = { protocolVersion: 5 as const, clientId: "persist-1", username: "alice", password: USERS.alice, ...session }
    const first = life.track(await connect(b.url, options))
    await first.client.subscribeAsync({ "a/#": { qos: 1 }, "b/#": { qos: 1 } })
    await first.end()
    let pub = await admin(b)
    await pub.client.publishAsync("a/1", "queued", { qos: 1 })
    await pub.client.publishAsync("b/1", "queued", { qos: 1 })
    await pub.end()

    // Restarted while the session is offline: its backlog is rebuilt from the log for a/# and b/#.
    b = life.adopt(await b.restart())
    pub = await admin(b)
    await pub.client.publishAsync("a/2", "queued after the restart", { qos: 1 })
    await pub.end()
    // Offline: its backlog (a/1, b/1, a/2) waits in the log behind the session's cursor.
    expect(b.server.engine.sessions.get("persist-1")!.cursor).not.toBe(null)

    // The ACL changes while the session is offline: nothing happens until it comes back.
    writeAcl(dir, ONLY_B, aclFile)
    expect((await reload(b)).subscriptionsRemoved).toBe(0)
    expect(subscriptionsOf(b, "persist-1")).toEqual(["a/#", "b/#"])

    const back = life.track(await connect(b.url, options))
    expect(subscriptionsOf(b, "persist-1")).toEqual(["b/#"])
    expect(await afterSentinel(b, back, "a/x", "b/2")).toEqual(["b/1", "b/2"])
    expect(await sessionEvents(b, "persist-1")).toContain("SubscriptionRemoved")
    await back.end()

    b = life.adopt(await b.restart())
    expect(subscriptionsOf(b, "persist-1")).toEqual(["b/#"])
    pub = await admin(b)
    await pub.client.publishAsync("a/3", "offline again", { qos: 1 })
    await pub.end()
    const again = life.track(await connect(b.url, options))
    expect(await afterSentinel(b, again, "a/y", "b/3")).toEqual(["b/3"])
  })

  it("under another user name, the connecting user's ACL decides (subscriptions and queued messages)", async () => {
    const acl = `user alice\ntopic read a/#\ntopic read b/#\nuser bob\ntopic read b/#\ntopic read c/#\n${ADMIN}`
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), aclFile: writeAcl(dir, acl) } })
    const alice = life.track(await connect(b.url, { protocolVersion: 5, clientId: "device-7", username: "alice", password: USERS.alice, ...session }))
    await alice.client.subscribeAsync({ "a/#": { qos: 1 }, "b/#": { qos: 1 }, "$share/g/a/+": { qos: 1 } })
    await alice.end()
    const pub = await admin(b)
    for (const topic of ["a/1", "b/1", "a/2"]) await pub.client.publishAsync(topic, topic, { qos: 1 })

    const { client: bob, connack } = await rawConnect(b.port, 5, { clientId: "device-7", username: "bob", password: Buffer.from(USERS.bob), ...session })
    life.track(bob)
    expect((connack as IConnackPacket).sessionPresent).toBe(true)
    expect(subscriptionsOf(b, "device-7")).toEqual(["b/#"])
    const got = (await bob.expect("publish")) as IPublishPacket
    expect(got.topic).toBe("b/1")
    bob.sendPacket({ cmd: "puback", messageId: got.messageId! })
    await pub.client.publishAsync("a/3", "a/3", { qos: 1 })
    await pub.client.publishAsync("b/2", "b/2", { qos: 1 })
    expect(((await bob.expect("publish")) as IPublishPacket).topic).toBe("b/2")
    // Nothing of a/ anywhere in what bob received.
    expect(bob.received.filter((p) => p.cmd === "publish").map((p) => (p as IPublishPacket).topic)).toEqual(["b/1", "b/2"])
  })

  it("a resume re-sends only the unacknowledged messages the resuming client may read", async () => {
    const acl = `user alice\ntopic read a/#\ntopic read b/#\nuser bob\ntopic read b/#\n${ADMIN}`
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), aclFile: writeAcl(dir, acl) } })
    const { client: alice } = await rawConnect(b.port, 5, { clientId: "device-8", username: "alice", password: Buffer.from(USERS.alice), ...session })
    life.track(alice)
    alice.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#", qos: 1 }, { topic: "b/#", qos: 1 }] })
    await alice.expect("suback")
    const pub = await admin(b)
    await pub.client.publishAsync("a/1", "a/1", { qos: 1 })
    await pub.client.publishAsync("b/1", "b/1", { qos: 1 })
    // Both sent to alice, never acknowledged: a resume would send them again with DUP.
    expect(((await alice.expect("publish")) as IPublishPacket).topic).toBe("a/1")
    expect(((await alice.expect("publish")) as IPublishPacket).topic).toBe("b/1")
    await alice.destroy()

    const { client: bob } = await rawConnect(b.port, 5, { clientId: "device-8", username: "bob", password: Buffer.from(USERS.bob), ...session })
    life.track(bob)
    const again = (await bob.expect("publish")) as IPublishPacket
    expect([again.topic, again.dup]).toEqual(["b/1", true])
    bob.sendPacket({ cmd: "puback", messageId: again.messageId! })
    await pub.client.publishAsync("b/2", "b/2", { qos: 1 })
    expect(((await bob.expect("publish")) as IPublishPacket).topic).toBe("b/2")
  })

  it("without an ACL nothing is re-checked: another user resuming the session keeps everything", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS) } })
    const alice = life.track(await connect(b.url, { protocolVersion: 5, clientId: "open-1", username: "alice", password: USERS.alice, ...session }))
    await alice.client.subscribeAsync({ "a/#": { qos: 1 } })
    await alice.end()
    const pub = await admin(b)
    await pub.client.publishAsync("a/1", "a/1", { qos: 1 })
    const bob = life.track(await connect(b.url, { protocolVersion: 5, clientId: "open-1", username: "bob", password: USERS.bob, ...session }))
    expect((await bob.waitFor(1)).map((m) => m.topic)).toEqual(["a/1"])
    expect(subscriptionsOf(b, "open-1")).toEqual(["a/#"])
    expect((await reload(b)).subscriptionsRemoved).toBe(0)
  })

  it("the same user under unchanged rules gets its whole backlog", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), aclFile: writeAcl(dir, BOTH) } })
    const options = { protocolVersion: 4 as const, clientId: "steady", username: "alice", password: USERS.alice, clean: false }
    const first = life.track(await connect(b.url, options))
    await first.client.subscribeAsync({ "a/#": { qos: 1 }, "b/#": { qos: 1 } })
    await first.end()
    const pub = await admin(b)
    for (const topic of ["a/1", "b/1", "a/2"]) await pub.client.publishAsync(topic, topic, { qos: 1 })
    const back = life.track(await connect(b.url, options))
    expect((await back.waitFor(3)).map((m) => m.topic)).toEqual(["a/1", "b/1", "a/2"])
    expect(subscriptionsOf(b, "steady")).toEqual(["a/#", "b/#"])
  })
})
