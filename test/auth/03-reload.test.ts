/**
 * The files are the declared state: a reload (the SIGHUP path, called directly and through the
 * signal) appends only the differences to the `acl` stream, kicks live connections of removed
 * users and of users whose password changed (v5 DISCONNECT 0x98), and applies a new ACL to every
 * connection's next PUBLISH/SUBSCRIBE; an invalid file keeps the old state. On SQLite the users
 * and rules survive restarts as the replay of the stream, and a restart appends only what the
 * files changed meanwhile. A file that does not parse at boot stops the broker with its line.
 */
import { writeFileSync } from "node:fs"
import { Effect } from "effect"
import type { IDisconnectPacket, IPubackPacket, ISubackPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"
import { authDir, connackCode, rawConnect, writeAcl, writeUsers } from "./authFiles.js"

const life = useBrokers()
const dir = authDir()

const aclEvents = async (b: TestBroker) =>
  (await Effect.runPromise(b.server.engine.store.readStream("acl"))).map((e) => e.type)
const authOf = (b: TestBroker) => b.server.context.auth!
const login = async (b: TestBroker, username: string, password: string, clientId: string, version: 4 | 5 = 5) => {
  const r = await rawConnect(b.port, version, { clientId, username, password: Buffer.from(password) })
  life.track(r.client)
  expect(r.code).toBe(0)
  return r.client
}

describe("reload", () => {
  it("kicks removed users and changed passwords with 0x98; others stay; the new file decides the next CONNECT", async () => {
    const passwordFile = writeUsers(dir, { alice: "a1", bob: "b1", carol: "c1" })
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile } })
    const alice = await login(b, "alice", "a1", "alice-1")
    const alice2 = await login(b, "alice", "a1", "alice-2", 4)
    const bob = await login(b, "bob", "b1", "bob-1")
    const carol = life.track(await connect(b.url, { protocolVersion: 5, username: "carol", password: "c1" }))

    writeUsers(dir, { bob: "b2", carol: "c1" }, passwordFile)
    const changes = await Effect.runPromise(authOf(b).reload)
    expect(changes).toEqual({ usersAdded: [], passwordsChanged: ["bob"], usersRemoved: ["alice"], scramSet: [], scramRemoved: [], acl: "unchanged", kicked: 3, subscriptionsRemoved: 0 })

    expect(((await alice.expect("disconnect")) as IDisconnectPacket).reasonCode).toBe(0x98)
    await alice.expectClosed()
    await alice2.expectClosed() // v3.1.1: no DISCONNECT from a server, just the close
    expect(((await bob.expect("disconnect")) as IDisconnectPacket).reasonCode).toBe(0x98)
    await bob.expectClosed()
    await carol.client.publishAsync("still/here", "yes", { qos: 1 })
    expect(carol.client.connected).toBe(true)

    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "a1" })).toBe(0x86)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "bob", password: "b1" })).toBe(0x86)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "bob", password: "b2" })).toBe(0)
    expect(await aclEvents(b)).toEqual(["UserAdded", "UserAdded", "UserAdded", "UserRemoved", "UserPasswordChanged"])
  })

  it("a new ACL applies to connected clients' next PUBLISH and SUBSCRIBE", async () => {
    const aclFile = writeAcl(dir, "user carol\ntopic readwrite carol/a/#\n")
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { carol: "c" }), aclFile } })
    const carol = await login(b, "carol", "c", "carol-1")
    const publish = async (topic: string, messageId: number) => {
      carol.sendPacket({ cmd: "publish", topic, payload: Buffer.from("x"), qos: 1, messageId, retain: false, dup: false })
      return ((await carol.expect("puback")) as IPubackPacket).reasonCode ?? 0
    }
    const subscribe = async (topic: string, messageId: number) => {
      carol.sendPacket({ cmd: "subscribe", messageId, subscriptions: [{ topic, qos: 1 }] })
      return ((await carol.expect("suback")) as ISubackPacket).granted[0]
    }
    expect(await publish("carol/a/1", 1)).toBe(0x10)
    expect(await publish("carol/a/1", 2)).toBe(0x10) // the cached decision
    expect(await publish("carol/b/1", 3)).toBe(0x87)
    expect(await subscribe("carol/a/#", 4)).toBe(1)

    writeAcl(dir, "user carol\ntopic readwrite carol/b/#\n", aclFile)
    expect((await Effect.runPromise(authOf(b).reload)).acl).toBe("replaced")
    expect(await publish("carol/a/1", 5)).toBe(0x87) // the cache went with the old rules
    expect(await publish("carol/b/1", 6)).toBe(0x10)
    expect(await subscribe("carol/a/#", 7)).toBe(0x87)
    expect(await subscribe("carol/b/#", 8)).toBe(1)
  })

  it("an invalid file keeps the previous users and rules, and appends nothing", async () => {
    const passwordFile = writeUsers(dir, { alice: "a1" })
    const aclFile = writeAcl(dir, "user alice\ntopic alice/#\n")
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile, aclFile } })
    writeFileSync(passwordFile, "alice:not-a-hash\n")
    await expect(Effect.runPromise(Effect.flip(authOf(b).reload))).resolves.toMatchObject({
      message: expect.stringMatching(new RegExp(`^invalid password file ${passwordFile}, line 1: user "alice": unknown password hash format`))
    })
    writeUsers(dir, { alice: "a1" }, passwordFile)
    writeAcl(dir, "user alice\ntopic rw alice/#\n", aclFile)
    await expect(Effect.runPromise(Effect.flip(authOf(b).reload))).resolves.toMatchObject({
      message: `invalid ACL file ${aclFile}, line 2: unknown access "rw": read, write, readwrite or deny`
    })
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "a1" })).toBe(0)
    expect(authOf(b).state.acl).toEqual([{ kind: "topic", username: "alice", access: "readwrite", topic: "alice/#" }])
    expect(await aclEvents(b)).toEqual(["UserAdded", "AclReplaced"])
  })

  it("SIGHUP reloads, as it does for Mosquitto", async () => {
    const passwordFile = writeUsers(dir, { alice: "a1" })
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile } })
    const alice = await login(b, "alice", "a1", "alice-hup")
    writeUsers(dir, { dave: "d1" }, passwordFile)
    process.emit("SIGHUP", "SIGHUP")
    expect(((await alice.expect("disconnect")) as IDisconnectPacket).reasonCode).toBe(0x98)
    await waitUntil(() => authOf(b).state.users.has("dave"))
    expect(await connackCode(b.url, { protocolVersion: 4, username: "dave", password: "d1" })).toBe(0)
  })
})

describe("restarts on SQLite", () => {
  it("users and rules come back from the event log; a restart appends only what the files changed", async () => {
    const passwordFile = writeUsers(dir, { alice: "a1", bob: "b1" })
    const aclFile = writeAcl(dir, "user alice\ntopic readwrite alice/#\n")
    const auth = { allowAnonymous: false, passwordFile, aclFile }
    let b = await life.broker({ storage: "sqlite", auth })
    expect(await aclEvents(b)).toEqual(["UserAdded", "UserAdded", "AclReplaced"])
    const before = { users: [...authOf(b).state.users], acl: authOf(b).state.acl }

    // Same files: the replayed state is already what they declare, so nothing is appended.
    b = life.adopt(await b.restart())
    expect(await aclEvents(b)).toEqual(["UserAdded", "UserAdded", "AclReplaced"])
    expect({ users: [...authOf(b).state.users], acl: authOf(b).state.acl }).toEqual(before)
    const alice = await login(b, "alice", "a1", "alice-r")
    alice.sendPacket({ cmd: "publish", topic: "bob/x", payload: Buffer.from("x"), qos: 1, messageId: 1, retain: false, dup: false })
    expect(((await alice.expect("puback")) as IPubackPacket).reasonCode).toBe(0x87)
    await alice.destroy()

    // Edited while the broker was down: the restart appends exactly the difference.
    await b.stop()
    writeUsers(dir, { alice: "a1", carol: "c1" }, passwordFile)
    writeAcl(dir, "user alice\ntopic readwrite alice/#\ntopic read bob/#\n", aclFile)
    b = life.adopt(await startBroker({ storage: "sqlite", dataDir: b.dataDir, auth }))
    expect(await aclEvents(b)).toEqual(["UserAdded", "UserAdded", "AclReplaced", "UserRemoved", "UserAdded", "AclReplaced"])
    expect([...authOf(b).state.users.keys()]).toEqual(["alice", "carol"])
    expect(await connackCode(b.url, { protocolVersion: 5, username: "bob", password: "b1" })).toBe(0x86)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "carol", password: "c1" })).toBe(0)

    // Files no longer configured: users removed and the ACL cleared, as events.
    await b.stop()
    b = life.adopt(await startBroker({ storage: "sqlite", dataDir: b.dataDir }))
    expect((await aclEvents(b)).slice(6)).toEqual(["UserRemoved", "UserRemoved", "AclCleared"])
    expect(b.server.context.auth).toBeNull()
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "wrong" })).toBe(0)
  })

  it("the event store never holds a plain-text password", async () => {
    const b = await life.broker({ storage: "sqlite", auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "plain-text-secret" }) } })
    const stored = JSON.stringify(await Effect.runPromise(b.server.engine.store.readStream("acl")))
    expect(stored).toContain("$7$101$")
    expect(stored).not.toContain("plain-text-secret")
  })
})

describe("boot", () => {
  it("a file that does not parse stops the broker with one line naming the file and the line", async () => {
    const passwordFile = writeAcl(dir, "# users\nalice:$5$x$y\n")
    await expect(startBroker({ auth: { passwordFile } })).rejects.toThrow(
      new RegExp(`invalid password file ${passwordFile}, line 2: user "alice": unknown password hash format`)
    )
    const aclFile = writeAcl(dir, "user a\n\ntopic write\n")
    await expect(startBroker({ auth: { aclFile } })).rejects.toThrow(`invalid ACL file ${aclFile}, line 3: "topic write" needs a topic filter after the access`)
    await expect(startBroker({ auth: { aclFile: `${dir}/missing` } })).rejects.toThrow(
      `cannot read auth.acl_file ${dir}/missing (ENOENT): check auth.acl_file`
    )
  })
})
