/**
 * JWT passwords ([auth.jwt]) with MQTT.js against the real broker: HS256 from a secret file,
 * RS256 and ES256 from a PEM public key, a JWKS picked by `kid`; expired, not-yet-valid, badly
 * signed, `alg: none` and key-confusion tokens refused (v5 0x86, v3 code 4); the CONNECT user
 * name must be the token's; the `acl` claim narrows the ACL file or is the whole ACL; failed
 * tokens count toward auth.max_failures; SIGHUP rotates the keys and a bad file keeps the old.
 * Keys are made here with node:crypto: no key file is committed.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { SignJWT } from "jose"
import type { IConnackPacket, IPubackPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { defaultConfig, type JwtConfig } from "../../config/BrokerConfigShape.js"
import { connect, quiet, roundTrip } from "../support/clients.js"
import { kafkaClient, useKafkaClients } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient } from "../support/RawClient.js"
import type { TestBroker, TestBrokerOptions } from "../support/TestBroker.js"
import { authDir, connackCode, writeAcl, writeUsers } from "./authFiles.js"

const life = useBrokers()
const kafka = useKafkaClients()
const dir = authDir()
let fileCount = 0
const file = (name: string, content: string | Buffer): string => {
  const path = join(dir, `${fileCount++}-${name}`)
  writeFileSync(path, content)
  return path
}

const SECRET = "a-long-random-secret-for-the-tests-0123456789"
const now = () => Math.floor(Date.now() / 1000)

const sign = (claims: Record<string, unknown>, key: KeyObject | Uint8Array, alg: string, header: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg, ...header }).setIssuedAt().setExpirationTime("10m").sign(key)
const hs256 = (claims: Record<string, unknown>, secret = SECRET) => sign(claims, new TextEncoder().encode(secret), "HS256")
const b64 = (json: object) => Buffer.from(JSON.stringify(json)).toString("base64url")
/** An unsecured token, as an attacker would send it. */
const algNone = (claims: Record<string, unknown>) => `${b64({ alg: "none", typ: "JWT" })}.${b64({ exp: now() + 600, ...claims })}.`

const jwtBroker = (jwt: Partial<JwtConfig>, auth: TestBrokerOptions["auth"] = {}) =>
  life.broker({ auth: { allowAnonymous: false, ...auth, jwt: { ...defaultConfig.auth.jwt, ...jwt } } })
const hsBroker = (auth: TestBrokerOptions["auth"] = {}) => jwtBroker({ secretFile: file("jwt.secret", `${SECRET}\n`) }, auth)

/** The CONNACK code for a token as password, v5 (0x86) and v3.1.1 (4) both checked. */
const codes = async (b: TestBroker, token: string, username: string | undefined = "alice") => [
  await connackCode(b.url, { protocolVersion: 5, password: token, ...(username === undefined ? {} : { username }) }),
  await connackCode(b.url, { protocolVersion: 4, password: token, username: username ?? "alice" })
]
const authOf = (b: TestBroker) => b.server.context.auth!

describe("HS256 with auth.jwt.secret_file", () => {
  it("a good token connects (v5 and v3.1.1) and publishes and subscribes", async () => {
    const b = await hsBroker()
    const token = await hs256({ sub: "alice" })
    const v5 = life.track(await connect(b.url, { protocolVersion: 5, username: "alice", password: token }))
    await roundTrip(v5, "t/v5")
    const v4 = life.track(await connect(b.url, { protocolVersion: 4, username: "alice", password: token }))
    await roundTrip(v4, "t/v4")
  })

  it("MQTT 5 allows a password without a user name: the token names the user", async () => {
    const aclFile = writeAcl(dir, "user alice\ntopic readwrite alice/#\n")
    const b = await hsBroker({ aclFile })
    const token = Buffer.from(await hs256({ sub: "alice" }))
    // By hand: mqtt-packet (under MQTT.js) will not write a password without a user name.
    const str = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
    const body = Buffer.concat([str(Buffer.from("MQTT")), Buffer.from([5, 0x42, 0, 0, 0]), str(Buffer.from("nameless")), str(token)])
    const length = body.length < 128 ? [body.length] : [(body.length & 0x7f) | 0x80, body.length >> 7]
    const raw = life.track(await RawClient.connect(b.port, 5))
    raw.send(Buffer.concat([Buffer.from([0x10, ...length]), body]))
    expect(((await raw.expect("connack")) as IConnackPacket).reasonCode).toBe(0)
    raw.sendPacket({ cmd: "publish", topic: "alice/x", payload: Buffer.from("mine"), qos: 1, messageId: 1, retain: false, dup: false })
    expect(((await raw.expect("puback")) as IPubackPacket).reasonCode).toBe(0x10) // accepted; no matching subscribers
    raw.sendPacket({ cmd: "publish", topic: "bob/x", payload: Buffer.from("not mine"), qos: 1, messageId: 2, retain: false, dup: false })
    expect(((await raw.expect("puback")) as IPubackPacket).reasonCode).toBe(0x87)
  })

  it("expired, not yet valid, badly signed and alg:none tokens are refused: 0x86, v3 code 4", async () => {
    const b = await hsBroker()
    const expired = await new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() - 60).sign(new TextEncoder().encode(SECRET))
    const early = await new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).setNotBefore(now() + 60).sign(new TextEncoder().encode(SECRET))
    expect(await codes(b, expired)).toEqual([0x86, 4])
    expect(await codes(b, early)).toEqual([0x86, 4])
    expect(await codes(b, await hs256({ sub: "alice" }, "some-other-secret-of-the-same-length-0123456"))).toEqual([0x86, 4])
    expect(await codes(b, algNone({ sub: "alice" }))).toEqual([0x86, 4])
    // A tampered payload keeps the old signature.
    const [h, , s] = (await hs256({ sub: "alice" })).split(".")
    expect(await codes(b, `${h}.${b64({ sub: "admin", exp: now() + 600 })}.${s}`, "admin")).toEqual([0x86, 4])
  })

  it("exp and nbf allow auth.jwt.clock_skew seconds of leeway", async () => {
    const b = await jwtBroker({ secretFile: file("jwt.secret", SECRET), clockSkew: 30 })
    const key = new TextEncoder().encode(SECRET)
    const justExpired = await new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() - 10).sign(key)
    const almostValid = await new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).setNotBefore(now() + 10).setExpirationTime(now() + 60).sign(key)
    expect(await codes(b, justExpired)).toEqual([0, 0])
    expect(await codes(b, almostValid)).toEqual([0, 0])
  })

  it("the CONNECT user name must be the token's (username_claim); a token without one is refused", async () => {
    const b = await jwtBroker({ secretFile: file("jwt.secret", SECRET), usernameClaim: "username" })
    const token = await hs256({ sub: "ignored", username: "alice" })
    expect(await codes(b, token, "alice")).toEqual([0, 0])
    expect(await codes(b, token, "mallory")).toEqual([0x86, 4])
    expect(await codes(b, await hs256({ sub: "alice" }), "alice")).toEqual([0x86, 4])
  })

  it("iss and aud are checked when configured", async () => {
    const b = await jwtBroker({ secretFile: file("jwt.secret", SECRET), issuer: "https://id.example", audience: "mqtt" })
    expect(await codes(b, await hs256({ sub: "alice", iss: "https://id.example", aud: ["web", "mqtt"] }))).toEqual([0, 0])
    expect(await codes(b, await hs256({ sub: "alice", iss: "https://evil.example", aud: "mqtt" }))).toEqual([0x86, 4])
    expect(await codes(b, await hs256({ sub: "alice", iss: "https://id.example", aud: "web" }))).toEqual([0x86, 4])
    expect(await codes(b, await hs256({ sub: "alice" }))).toEqual([0x86, 4])
  })

  it("passwords that are not JWTs still go to the password file", async () => {
    const b = await hsBroker({ passwordFile: writeUsers(dir, { bob: "builder", dotted: "not.a.jwt" }) })
    expect(await connackCode(b.url, { protocolVersion: 5, username: "bob", password: "builder" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 4, username: "dotted", password: "not.a.jwt" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "bob", password: "wrong" })).toBe(0x86)
    // A JWT is judged by its signature alone, never by the password file.
    expect(await codes(b, await hs256({ sub: "bob" }, "some-other-secret-of-the-same-length-0123456"), "bob")).toEqual([0x86, 4])
  })

  it("Kafka SASL/PLAIN does not take JWTs: the acl claim could not bind a Kafka client", async () => {
    const b = await hsBroker({ passwordFile: writeUsers(dir, { bob: "builder" }) })
    const token = await hs256({ sub: "alice", acl: { pub: [], sub: [] } })
    expect(await codes(b, token)).toEqual([0, 0])
    const admin = kafka.track(kafkaClient(b.kafkaPort, "jwt-over-plain", { sasl: { mechanism: "plain", username: "alice", password: token } }).admin())
    const error = await admin.connect().then(() => null, (e: Error) => e)
    expect(error?.name).toBe("KafkaJSSASLAuthenticationError")
  })

  it("refused tokens count toward auth.max_failures", async () => {
    const b = await hsBroker({ maxFailures: 3, failureWindow: 60 })
    const bad = algNone({ sub: "alice" })
    for (let i = 0; i < 3; i++) expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: bad })).toBe(0x86)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: await hs256({ sub: "alice" }) })).toBe(0x8a)
  })

  it("SIGHUP re-reads the secret; a bad file keeps the previous keys and says why, without the secret", async () => {
    const secretFile = file("jwt.secret", SECRET)
    const b = await jwtBroker({ secretFile })
    const old = await hs256({ sub: "alice" })
    const rotated = "the-next-secret-after-rotation-0123456789abcdef"
    writeFileSync(secretFile, "\n")
    const error = await Effect.runPromise(Effect.flip(authOf(b).reloadJwt))
    expect(error.message).toBe(`auth.jwt.secret_file ${secretFile} is empty: put a long random secret in it (openssl rand -base64 48)`)
    expect(await codes(b, old)).toEqual([0, 0])
    writeFileSync(secretFile, rotated)
    process.emit("SIGHUP", "SIGHUP")
    const fresh = await hs256({ sub: "alice" }, rotated)
    let code = -1
    for (let i = 0; i < 100 && code !== 0; i++) {
      code = await connackCode(b.url, { protocolVersion: 5, username: "alice", password: fresh })
      if (code !== 0) await quiet(20)
    }
    expect(code).toBe(0)
    expect(await codes(b, old)).toEqual([0x86, 4])
  })
})

describe("public keys: auth.jwt.public_key_file and auth.jwt.jwks_file", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
  const rsaPem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string

  it("RS256 with a PEM public key; HS256 signed with that public key (key confusion), alg:none and other keys are refused", async () => {
    const b = await jwtBroker({ publicKeyFile: file("rsa.pem", rsaPem) })
    expect(await codes(b, await sign({ sub: "alice" }, rsa.privateKey, "RS256"))).toEqual([0, 0])
    expect(await codes(b, await hs256({ sub: "alice" }, rsaPem))).toEqual([0x86, 4])
    expect(await codes(b, algNone({ sub: "alice" }))).toEqual([0x86, 4])
    expect(await codes(b, await sign({ sub: "alice" }, ec.privateKey, "ES256"))).toEqual([0x86, 4])
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 })
    expect(await codes(b, await sign({ sub: "alice" }, other.privateKey, "RS256"))).toEqual([0x86, 4])
    const c = life.track(await connect(b.url, { protocolVersion: 5, username: "alice", password: await sign({ sub: "alice" }, rsa.privateKey, "RS256") }))
    await roundTrip(c, "rs/1")
  })

  it("ES256 with a PEM public key", async () => {
    const b = await jwtBroker({ publicKeyFile: file("ec.pem", ec.publicKey.export({ type: "spki", format: "pem" }) as string) })
    expect(await codes(b, await sign({ sub: "alice" }, ec.privateKey, "ES256"))).toEqual([0, 0])
    expect(await codes(b, await sign({ sub: "alice" }, rsa.privateKey, "RS256"))).toEqual([0x86, 4])
    expect(await codes(b, await hs256({ sub: "alice" }, ec.publicKey.export({ type: "spki", format: "pem" }) as string))).toEqual([0x86, 4])
  })

  it("a JWKS file: the key is picked by kid; unknown kids and keys outside the set are refused", async () => {
    const jwks = { keys: [{ ...rsa.publicKey.export({ format: "jwk" }), kid: "rsa-1", use: "sig" }, { ...ec.publicKey.export({ format: "jwk" }), kid: "ec-1", alg: "ES256" }] }
    const b = await jwtBroker({ jwksFile: file("jwks.json", JSON.stringify(jwks)) })
    expect(await codes(b, await sign({ sub: "alice" }, rsa.privateKey, "RS256", { kid: "rsa-1" }))).toEqual([0, 0])
    expect(await codes(b, await sign({ sub: "alice" }, ec.privateKey, "ES256", { kid: "ec-1" }))).toEqual([0, 0])
    expect(await codes(b, await sign({ sub: "alice" }, ec.privateKey, "ES256", { kid: "ec-2" }))).toEqual([0x86, 4])
    const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" })
    expect(await codes(b, await sign({ sub: "alice" }, stranger.privateKey, "ES256", { kid: "ec-1" }))).toEqual([0x86, 4])
    expect(await codes(b, await hs256({ sub: "alice" }, rsaPem))).toEqual([0x86, 4])
    expect(await codes(b, algNone({ sub: "alice" }))).toEqual([0x86, 4])
  })

  it("a key file that is not a public key stops the broker with a line naming it", async () => {
    const privateFile = file("private.pem", rsa.privateKey.export({ type: "pkcs8", format: "pem" }) as string)
    await expect(jwtBroker({ publicKeyFile: privateFile })).rejects.toThrow(`auth.jwt.public_key_file ${privateFile} holds a private key`)
    await expect(jwtBroker({ secretFile: file("s", SECRET), jwksFile: file("j", "{}") })).rejects.toThrow("[auth.jwt] sets secret_file and jwks_file: set only one key source")
  })
})

describe("the acl claim", () => {
  const admin = () => hs256({ sub: "admin" })
  /** MQTT.js v5 rejects a SUBACK whose only filter is refused. */
  const refused = { packet: { granted: [0x87] } }

  it("narrows the ACL file: a publish outside pub is refused (v5 0x87) and not delivered; a subscribe outside sub gets 0x87 / 0x80", async () => {
    const aclFile = writeAcl(dir, "user alice\ntopic readwrite a/#\n\nuser admin\ntopic readwrite #\n")
    const b = await hsBroker({ aclFile })
    const watcher = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: await admin() }))
    await watcher.client.subscribeAsync("#", { qos: 1 })
    const token = await hs256({ sub: "alice", acl: { pub: ["a/up", "x/up"], sub: ["a/down/#", "x/#"] } })

    const v5 = life.track(await connect(b.url, { protocolVersion: 5, username: "alice", password: token }))
    await v5.client.publishAsync("a/up", "ok", { qos: 1 })
    await expect(v5.client.publishAsync("a/other", "claim says no", { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
    await expect(v5.client.publishAsync("x/up", "file says no", { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
    expect((await v5.client.subscribeAsync("a/down/#", { qos: 1 })).map((g) => g.qos)).toEqual([1])
    await expect(v5.client.subscribeAsync("a/up/#", { qos: 1 })).rejects.toMatchObject(refused) // claim says no
    await expect(v5.client.subscribeAsync("x/#", { qos: 1 })).rejects.toMatchObject(refused) // file says no

    const v4 = life.track(await connect(b.url, { protocolVersion: 4, username: "alice", password: token }))
    await v4.client.publishAsync("a/other", "v4 claim says no", { qos: 1 }) // acknowledged, dropped
    await v4.client.publishAsync("a/up", "v4 ok", { qos: 1 })
    await expect(v4.client.subscribeAsync("a/up/#", { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x80] } })

    await watcher.client.publishAsync("a/down/1", "to alice", { qos: 1 })
    await v5.waitFor(1)
    await watcher.waitFor(3)
    await quiet(50)
    expect(watcher.messages.map((m) => m.payload)).toEqual(["ok", "v4 ok", "to alice"])
    expect(v5.messages.map((m) => `${m.topic}=${m.payload}`)).toEqual(["a/down/1=to alice"])
  })

  it("without an ACL file it is the client's whole ACL, in the EMQX 5 rule form too; a token without one may do anything", async () => {
    const b = await hsBroker()
    const free = life.track(await connect(b.url, { protocolVersion: 5, username: "admin", password: await admin() }))
    const rules = [
      { permission: "deny", action: "all", topic: "a/secret/#" },
      { permission: "allow", action: "subscribe", topic: "a/#" },
      { permission: "allow", action: "publish", topic: "up/${clientid}" },
      { permission: "deny", action: "all", topic: "#" }
    ]
    const alice = life.track(await connect(b.url, { protocolVersion: 5, username: "alice", clientId: "dev-7", password: await hs256({ sub: "alice", acl: rules }) }))
    expect((await alice.client.subscribeAsync("a/#", { qos: 1 })).map((g) => g.qos)).toEqual([1])
    await expect(alice.client.subscribeAsync("b/#", { qos: 1 })).rejects.toMatchObject(refused)
    await expect(alice.client.subscribeAsync("a/secret/#", { qos: 1 })).rejects.toMatchObject(refused)
    await alice.client.publishAsync("up/dev-7", "mine", { qos: 1 })
    await expect(alice.client.publishAsync("up/dev-8", "not mine", { qos: 1 })).rejects.toMatchObject({ code: 0x87 })
    // a/# is granted and filtered: a/secret/... never reaches alice.
    await free.client.publishAsync("a/secret/x", "hidden", { qos: 1 })
    await free.client.publishAsync("a/open", "shown", { qos: 1 })
    await alice.waitFor(1)
    await quiet(50)
    expect(alice.messages.map((m) => `${m.topic}=${m.payload}`)).toEqual(["a/open=shown"])
    await roundTrip(free, "anything/at/all")
  })

  it("a claim the broker cannot honour is refused with 0x87 (v3: 5) rather than half applied", async () => {
    const b = await hsBroker()
    const token = await hs256({ sub: "alice", acl: [{ permission: "allow", action: "publish", topic: "a", qos: [1] }] })
    expect(await codes(b, token)).toEqual([0x87, 5])
  })
})
