/**
 * Authentication at CONNECT against a Mosquitto password file, with MQTT.js (v4, v5) and a raw
 * client (v3.1, byte-exact codes): right and wrong passwords, unknown users, anonymous clients
 * allowed or refused, the refusal CONNACK then close, the real mosquitto_passwd file as is, the
 * verified-credential cache, and packets pipelined behind a CONNECT waiting for the hash.
 */
import * as mqttPacket from "mqtt-packet"
import type { IPublishPacket, ISubackPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient } from "../support/RawClient.js"
import { authDir, connackCode, fixturePasswords, rawConnect, writeUsers } from "./authFiles.js"

const life = useBrokers()
const dir = authDir()

describe.each([4, 5] as const)("authentication, MQTT v%i", (v) => {
  const bad = v === 5 ? 0x86 : 4
  const notAuthorized = v === 5 ? 0x87 : 5

  it("accepts the right password; refuses a wrong one, an unknown user, a missing password, an anonymous client", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "wonderland", bob: "builder" }) } })
    expect(await connackCode(b.url, { protocolVersion: v, username: "alice", password: "wonderland" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: v, username: "bob", password: "builder" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: v, username: "alice", password: "builder" })).toBe(bad)
    expect(await connackCode(b.url, { protocolVersion: v, username: "mallory", password: "wonderland" })).toBe(bad)
    expect(await connackCode(b.url, { protocolVersion: v, username: "alice" })).toBe(bad)
    expect(await connackCode(b.url, { protocolVersion: v })).toBe(notAuthorized)
  })

  it("allow_anonymous = true with users: no user name is fine, a wrong password is still refused", async () => {
    const b = await life.broker({ auth: { allowAnonymous: true, passwordFile: writeUsers(dir, { alice: "wonderland" }) } })
    expect(await connackCode(b.url, { protocolVersion: v })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: v, username: "alice", password: "wonderland" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: v, username: "alice", password: "x" })).toBe(bad)
  })

  it("the refusal is a CONNACK, then the broker closes the connection [MQTT-3.2.2-6]", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "wonderland" }) } })
    const wrong = await rawConnect(b.port, v, { username: "alice", password: Buffer.from("no") })
    life.track(wrong.client)
    expect(wrong.code).toBe(bad)
    expect(wrong.connack.sessionPresent).toBe(false)
    await wrong.client.expectClosed()
    expect(b.server.engine.sessions.size).toBe(0) // refused before any session exists
  })
})

describe("authentication", () => {
  it("no users and allow_anonymous = true (the default): everyone is accepted, credentials ignored", async () => {
    const b = await life.broker({ auth: { allowAnonymous: true, passwordFile: writeUsers(dir, {}) } })
    expect(await connackCode(b.url, { protocolVersion: 5, username: "anyone", password: "anything" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 4 })).toBe(0)
    expect(b.server.context.auth).not.toBeNull()
    const plain = await life.broker()
    expect(plain.server.context.auth).toBeNull() // nothing configured: no checks at all
  })

  it("no users and allow_anonymous = false: nobody gets in", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false } })
    expect(await connackCode(b.url, { protocolVersion: 5, username: "anyone", password: "anything" })).toBe(0x86)
    expect(await connackCode(b.url, { protocolVersion: 5 })).toBe(0x87)
  })

  it("takes the file mosquitto_passwd wrote as is: $7$ and $6$ hashes, a name with a space, UTF-8 passwords", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: fixturePasswords } })
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "alice-secret" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 4, username: "bob", password: "b0b pass:with colon" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 4, username: "legacy", password: "legacy-secret" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "dev ice", password: "ünïcode-pässword" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 4, username: "legacy", password: "alice-secret" })).toBe(4)
  })

  it("MQTT 3.1 (MQIsdp): return codes 4 and 5", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "wonderland" }) } })
    const ok = await rawConnect(b.port, 3, { clientId: "v31", username: "alice", password: Buffer.from("wonderland") })
    life.track(ok.client)
    expect(ok.code).toBe(0)
    const wrong = await rawConnect(b.port, 3, { clientId: "v31b", username: "alice", password: Buffer.from("x") })
    life.track(wrong.client)
    expect(wrong.code).toBe(4)
    const anonymous = await rawConnect(b.port, 3, { clientId: "v31c" })
    life.track(anonymous.client)
    expect(anonymous.code).toBe(5)
  })

  it("a successful verification is cached: reconnecting with the same credentials skips PBKDF2", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "wonderland" }) } })
    const auth = b.server.context.auth!
    expect(auth.cachedCredentials()).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "wonderland" })).toBe(0)
    expect(auth.cachedCredentials()).toBe(1)
    // Answered from the cache: no thread-pool round trip, the same outcome.
    const pending: Array<number> = []
    expect(auth.unsafeAuthenticate("alice", Buffer.from("wonderland"), (r) => pending.push(r))).toBe(0)
    expect(auth.unsafeAuthenticate("alice", Buffer.from("wrong"), (r) => pending.push(r))).toBe(-1) // a miss hashes again
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "wrong" })).toBe(0x86)
    expect(auth.cachedCredentials()).toBe(1) // failures are not cached
  })

  it("packets pipelined behind CONNECT wait for the verification, in order", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "wonderland" }) } })
    const raw = life.track(await RawClient.connect(b.port, 5))
    const gen = (p: object) => mqttPacket.generate(p as never, { protocolVersion: 5 })
    raw.send(Buffer.concat([
      gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clientId: "pipelined", clean: true, keepalive: 0, username: "alice", password: Buffer.from("wonderland") }),
      gen({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "p/#", qos: 1 }] }),
      gen({ cmd: "publish", topic: "p/1", payload: Buffer.from("hi"), qos: 1, messageId: 2, retain: false, dup: false })
    ]))
    expect((await raw.expect("connack")).reasonCode).toBe(0)
    expect(((await raw.expect("suback")) as ISubackPacket).granted).toEqual([1])
    const got: Array<string> = []
    for (let i = 0; i < 2; i++) {
      const p = await raw.nextPacket()
      got.push(p.cmd === "publish" ? `publish ${(p as IPublishPacket).topic}` : p.cmd)
    }
    expect(got.sort()).toEqual(["puback", "publish p/1"])
  })

  it("an MQTT.js client with the right password publishes and receives as usual", async () => {
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "wonderland" }) } })
    const c = life.track(await connect(b.url, { protocolVersion: 5, username: "alice", password: "wonderland" }))
    await c.client.subscribeAsync("a/#", { qos: 1 })
    await c.client.publishAsync("a/b", "x", { qos: 1 })
    expect((await c.waitFor(1))[0]!.payload).toBe("x")
  })
})
