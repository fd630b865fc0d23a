/**
 * Authorization with a Mosquitto ACL file: PUBLISH and SUBSCRIBE allowed and refused with the
 * exact reason codes per protocol level (raw client), deny winning (a SUBSCRIBE it reaches is
 * granted and filtered), %u / %c patterns, anonymous clients, retained messages behind a refused
 * or filtered SUBSCRIBE, $SYS, and a will the client may not
 * publish refused at CONNECT. An admin MQTT.js subscriber on `#` shows what was really routed.
 */
import type { IPubackPacket, IPubrecPacket, ISubackPacket } from "mqtt-packet"
import { beforeAll, describe, expect, it } from "vitest"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import type { Version } from "../support/RawClient.js"
import type { TestBroker } from "../support/TestBroker.js"
import { authDir, connackCode, rawConnect, writeAcl, writeUsers } from "./authFiles.js"

const life = useBrokers()
const dir = authDir()

const ACL = `
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read $SYS/#

user admin
topic readwrite #

# every client
pattern write devices/%c/up
pattern readwrite users/%u/#
`
const USERS = { alice: "a-pass", admin: "admin-pass", bob: "b-pass" }
let files: { passwordFile: string; aclFile: string }
beforeAll(() => {
  files = { passwordFile: writeUsers(dir, USERS), aclFile: writeAcl(dir, ACL) }
})

const broker = () => life.broker({ auth: { allowAnonymous: true, ...files } })

const as = async (b: TestBroker, version: Version, username: keyof typeof USERS | null, clientId: string) => {
  const r = await rawConnect(b.port, version, { clientId, ...(username === null ? {} : { username, password: Buffer.from(USERS[username]) }) })
  life.track(r.client)
  expect(r.code).toBe(0)
  return r.client
}

/** MQTT.js admin on `#`: everything routed to a non-$ topic. */
const watch = async (b: TestBroker): Promise<TestClient> => {
  const c = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin, clientId: "watcher" }))
  await c.client.subscribeAsync("#", { qos: 1 })
  return c
}

/** Publishes a last allowed message and returns the payloads the watcher got, in order, once it arrived. */
const routedSoFar = async (watcher: TestClient, b: TestBroker): Promise<Array<string>> => {
  const admin = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))
  await admin.client.publishAsync("end", "end", { qos: 1 })
  await waitUntil(() => watcher.messages.some((m) => m.topic === "end"), 5000, () => "the end marker")
  await quiet(50)
  return watcher.messages.map((m) => `${m.topic}=${m.payload}`)
}

describe("PUBLISH", () => {
  it("v5: allowed topics are acknowledged and routed; refused ones get PUBACK/PUBREC 0x87 and go nowhere", async () => {
    const b = await broker()
    const watcher = await watch(b)
    const alice = await as(b, 5, "alice", "alice-1")
    const publish = (topic: string, qos: 0 | 1 | 2, messageId: number) =>
      alice.sendPacket({ cmd: "publish", topic, payload: Buffer.from(String(messageId)), qos, messageId, retain: false, dup: false })
    publish("alice/a", 1, 1)
    expect(((await alice.expect("puback")) as IPubackPacket).reasonCode ?? 0).toBe(0)
    publish("bob/a", 1, 2)
    expect(((await alice.expect("puback")) as IPubackPacket).reasonCode).toBe(0x87)
    publish("alice/secret/k", 1, 3) // deny wins over alice/#
    expect(((await alice.expect("puback")) as IPubackPacket).reasonCode).toBe(0x87)
    publish("bob/b", 2, 4)
    const pubrec = (await alice.expect("pubrec")) as IPubrecPacket
    expect([pubrec.messageId, pubrec.reasonCode]).toEqual([4, 0x87])
    publish("bob/c", 0, 0) // dropped silently
    publish("alice/b", 0, 0)
    expect(await routedSoFar(watcher, b)).toEqual(["alice/a=1", "alice/b=0", "end=end"])
  })

  it("v3.1.1 and v3.1: a refused message gets a normal ack (no refusal exists) and is dropped", async () => {
    const b = await broker()
    const watcher = await watch(b)
    for (const version of [4, 3] as const) {
      const alice = await as(b, version, "alice", `alice-v${version}`)
      alice.sendPacket({ cmd: "publish", topic: "bob/x", payload: Buffer.from(`q1v${version}`), qos: 1, messageId: 7, retain: false, dup: false })
      const puback = (await alice.expect("puback")) as IPubackPacket
      expect(puback.messageId).toBe(7)
      alice.sendPacket({ cmd: "publish", topic: "bob/x", payload: Buffer.from(`q2v${version}`), qos: 2, messageId: 8, retain: false, dup: false })
      expect((await alice.expect("pubrec")).messageId).toBe(8)
      alice.sendPacket({ cmd: "pubrel", messageId: 8 })
      expect((await alice.expect("pubcomp")).messageId).toBe(8)
      alice.sendPacket({ cmd: "publish", topic: "alice/x", payload: Buffer.from(`okv${version}`), qos: 1, messageId: 9, retain: false, dup: false })
      await alice.expect("puback")
    }
    expect(await routedSoFar(watcher, b)).toEqual(["alice/x=okv4", "alice/x=okv3", "end=end"])
  })

  it("MQTT.js v5: publishAsync rejects with 0x87 on a refused topic", async () => {
    const b = await broker()
    const c = life.track(await connect(b.url, { protocolVersion: 5, username: "alice", password: USERS.alice }))
    await c.client.publishAsync("alice/ok", "x", { qos: 1 })
    await expect(c.client.publishAsync("bob/no", "x", { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
  })
})

describe("SUBSCRIBE", () => {
  it("v5: each filter granted (a read rule reaches it) or refused 0x87 (none does, or a deny rule covers it)", async () => {
    const b = await broker()
    const alice = await as(b, 5, "alice", "alice-s")
    const filters = {
      "alice/public/#": 1,
      "alice/#": 1, // granted; alice/secret/... is filtered out of its deliveries
      "alice/+/x": 1, // likewise
      "alice/secret/x": 0x87, // wholly denied
      "alice/secret/#": 0x87,
      "bob/#": 0x87, // no rule reaches it
      "#": 1, // reaches alice/..., users/alice/...: only those are delivered
      "$share/g/alice/public/+": 1, // decided on alice/public/+
      "$share/g/alice/+": 1, // filtered like alice/+
      "$share/g/alice/secret/+": 0x87,
      "$SYS/#": 1,
      "users/alice/#": 1, // pattern users/%u/#
      "users/+/inbox": 1 // only users/alice/inbox is delivered
    }
    alice.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: Object.keys(filters).map((topic) => ({ topic, qos: 1 as const })) })
    const suback = (await alice.expect("suback")) as ISubackPacket
    expect(suback.granted).toEqual(Object.values(filters))
    expect([...b.server.engine.sessions.get("alice-s")!.subscriptions.keys()]).toEqual(
      Object.entries(filters).filter(([, code]) => code === 1).map(([f]) => f)
    )
  })

  it("v3.1.1: a refused filter is 0x80 (MQTT.js reports it as a subscribe error carrying the SUBACK)", async () => {
    const b = await broker()
    const c = life.track(await connect(b.url, { protocolVersion: 4, username: "alice", password: USERS.alice }))
    const error = await c.client.subscribeAsync(["alice/public/#", "bob/#"], { qos: 1 }).then(() => null, (e: { packet?: ISubackPacket }) => e)
    expect(error?.packet?.granted).toEqual([1, 0x80])
    const raw = await as(b, 4, "alice", "alice-v4")
    raw.sendPacket({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "bob/#", qos: 2 }, { topic: "alice/public/+", qos: 2 }] })
    expect(((await raw.expect("suback")) as ISubackPacket).granted).toEqual([0x80, 2])
  })

  it("all filters refused: SUBACK with only refusals, nothing stored", async () => {
    const b = await broker()
    const bob = await as(b, 5, "bob", "bob-s")
    bob.sendPacket({ cmd: "subscribe", messageId: 3, subscriptions: [{ topic: "alice/#", qos: 0 }, { topic: "public/#", qos: 2 }] })
    expect(((await bob.expect("suback")) as ISubackPacket).granted).toEqual([0x87, 0x87])
    expect(b.server.engine.sessions.get("bob-s")!.subscriptions.size).toBe(0)
  })

  it("an invalid filter is still 0x8F, not a refusal", async () => {
    const b = await broker()
    const alice = await as(b, 5, "alice", "alice-i")
    alice.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "alice/#/x", qos: 1 }, { topic: "alice/y", qos: 0 }] })
    expect(((await alice.expect("suback")) as ISubackPacket).granted).toEqual([0x8f, 0])
  })

  it("retained messages of a refused filter are never sent, nor denied ones of a granted filter; the others are", async () => {
    const b = await broker()
    const admin = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))
    await admin.client.publishAsync("bob/r", "bob-retained", { qos: 1, retain: true })
    await admin.client.publishAsync("alice/secret/r", "secret-retained", { qos: 1, retain: true })
    await admin.client.publishAsync("alice/r", "alice-retained", { qos: 1, retain: true })
    const alice = await as(b, 5, "alice", "alice-r")
    alice.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: ["bob/r", "alice/#"].map((topic) => ({ topic, qos: 1 as const })) })
    expect(((await alice.expect("suback")) as ISubackPacket).granted).toEqual([0x87, 1])
    const first = await alice.expect("publish")
    expect([first.topic, first.payload.toString(), first.retain]).toEqual(["alice/r", "alice-retained", true])
    await quiet(100)
    expect(alice.pending).toEqual([])
  })
})

describe("who gets which rules", () => {
  it("%c and %u patterns: a user without a section of its own gets them with its names", async () => {
    const b = await broker()
    const bob = await as(b, 5, "bob", "dev1")
    bob.sendPacket({ cmd: "publish", topic: "devices/dev1/up", payload: Buffer.from("a"), qos: 1, messageId: 1, retain: false, dup: false })
    expect(((await bob.expect("puback")) as IPubackPacket).reasonCode ?? 0).toBe(0x10) // allowed; no subscriber
    bob.sendPacket({ cmd: "publish", topic: "devices/dev2/up", payload: Buffer.from("b"), qos: 1, messageId: 2, retain: false, dup: false })
    expect(((await bob.expect("puback")) as IPubackPacket).reasonCode).toBe(0x87)
    bob.sendPacket({ cmd: "subscribe", messageId: 3, subscriptions: [{ topic: "users/bob/#", qos: 1 }, { topic: "users/alice/#", qos: 1 }, { topic: "devices/dev1/up", qos: 1 }] })
    expect(((await bob.expect("suback")) as ISubackPacket).granted).toEqual([1, 0x87, 0x87]) // devices/%c/up is write only
  })

  it("an anonymous client gets the lines before the first user, and %c patterns but never %u ones", async () => {
    const b = await broker()
    const anon = await as(b, 5, null, "sensor-9")
    anon.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "public/#", qos: 0 }, { topic: "users/+/x", qos: 0 }, { topic: "alice/#", qos: 0 }] })
    expect(((await anon.expect("suback")) as ISubackPacket).granted).toEqual([0, 0x87, 0x87])
    anon.sendPacket({ cmd: "publish", topic: "devices/sensor-9/up", payload: Buffer.from("t"), qos: 1, messageId: 2, retain: false, dup: false })
    expect(((await anon.expect("puback")) as IPubackPacket).reasonCode ?? 0).toBe(0x10)
    anon.sendPacket({ cmd: "publish", topic: "public/x", payload: Buffer.from("t"), qos: 1, messageId: 3, retain: false, dup: false })
    expect(((await anon.expect("puback")) as IPubackPacket).reasonCode).toBe(0x87) // read only
  })

  it("$SYS follows the ACL: alice may read it, admin's # does not cover it", async () => {
    const b = await life.broker({ auth: { allowAnonymous: true, ...files }, mqtt: { sysInterval: 1 } })
    const alice = life.track(await connect(b.url, { protocolVersion: 5, username: "alice", password: USERS.alice }))
    expect((await alice.client.subscribeAsync("$SYS/broker/uptime", { qos: 0 })).map((g) => g.qos)).toEqual([0])
    const [m] = await alice.waitFor(1, 5000)
    expect(m!.topic).toBe("$SYS/broker/uptime")
    const admin = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: USERS.admin }))
    const refused = await admin.client.subscribeAsync("$SYS/#", { qos: 0 }).then(() => null, (e: { packet?: ISubackPacket }) => e)
    expect(refused?.packet?.granted).toEqual([0x87])
  })
})

describe("wills", () => {
  it.each([5, 4] as const)("v%i: a will on a topic the client may not publish refuses the CONNECT", async (v) => {
    const b = await broker()
    const refused = await rawConnect(b.port, v, {
      clientId: `will-${v}`,
      username: "alice",
      password: Buffer.from(USERS.alice),
      will: { topic: "bob/will", payload: Buffer.from("x"), qos: 1, retain: false }
    })
    life.track(refused.client)
    expect(refused.code).toBe(v === 5 ? 0x87 : 5)
    await refused.client.expectClosed()
    expect(await connackCode(b.url, { protocolVersion: v, username: "alice", password: USERS.alice, will: { topic: "alice/will", payload: Buffer.from("x"), qos: 1, retain: false } })).toBe(0)
  })

  it("an allowed will is published as usual", async () => {
    const b = await broker()
    const watcher = await watch(b)
    const withWill = await rawConnect(b.port, 5, { clientId: "alice-w2", username: "alice", password: Buffer.from(USERS.alice), will: { topic: "alice/gone", payload: Buffer.from("bye"), qos: 1, retain: false } })
    expect(withWill.code).toBe(0)
    await withWill.client.destroy()
    const [m] = await watcher.waitFor(1)
    expect([m!.topic, m!.payload]).toEqual(["alice/gone", "bye"])
  })
})
