/**
 * SASL/PLAIN on the Kafka listener against the MQTT password file: kafkajs and kcat
 * (librdkafka) authenticate, produce and consume; a wrong password is refused with
 * SASL_AUTHENTICATION_FAILED and the connection ends; with `allow_anonymous = false` a client
 * without SASL is closed on its first request other than ApiVersions/SASL, while with anonymous
 * clients allowed it works and SASL, when done, is still checked. Raw frames cover what clients
 * do not send: other mechanisms, requests before authentication, SaslAuthenticate without a
 * handshake, SaslHandshake v0 with a bare token, pipelining behind a pending password check,
 * and closing a removed user's connections on reload.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { authDir, writeUsers } from "../auth/authFiles.js"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, hasKcat, kafkaClient, kcat, kcatBroker, useKafkaClients } from "../support/kafka.js"
import { type KafkaWire, useKafkaWires } from "../support/KafkaWire.js"
import type { TestBroker } from "../support/TestBroker.js"

const life = useBrokers()
const clients = useKafkaClients()
const wires = useKafkaWires()
const dir = authDir()

const plain = (username: string, password: string, authzid = "") => Buffer.from(`${authzid}\u0000${username}\u0000${password}`)
const sasl = (username: string, password: string) => ({ sasl: { mechanism: "plain" as const, username, password } })

/** A broker whose Kafka listener requires SASL (alice/a1, bob/b1). */
const securedBroker = async (allowAnonymous = false): Promise<TestBroker> => {
  const passwordFile = writeUsers(dir, { alice: "a1", bob: "b1" })
  return life.broker({ auth: { allowAnonymous, passwordFile } })
}

/** SaslHandshake v1 + SaslAuthenticate v`version` on a raw connection; returns the answer. */
const authenticate = async (wire: KafkaWire, username: string, password: string, version = 1) => {
  const handshake = await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })
  expect(handshake).toEqual({ errorCode: 0, mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] })
  return wire.request(ApiKey.SaslAuthenticate, version, { authBytes: plain(username, password) })
}

const metadataV1 = { topics: [], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false }

describe("kafkajs with SASL/PLAIN", () => {
  it("authenticates, produces and consumes on a listener that requires it", async () => {
    const b = await securedBroker()
    const kafka = kafkaClient(b.kafkaPort, "sasl-ok", sasl("alice", "a1"))
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "secured", messages: [{ key: "k1", value: "one" }, { key: "k2", value: "two" }] })
    const consumer = await clients.consumer(kafka, { groupId: "g-secured" })
    const got = await consumeN(consumer, "secured", 2)
    expect(got.map((m) => [m.offset, m.key, m.value])).toEqual([[0, "k1", "one"], [1, "k2", "two"]])
  })

  it("refuses a wrong password with a SASL authentication error", async () => {
    const b = await securedBroker()
    const admin = clients.track(kafkaClient(b.kafkaPort, "sasl-bad", sasl("alice", "wrong")).admin())
    const error = await admin.connect().then(() => null, (e: Error) => e)
    expect(error?.name).toBe("KafkaJSSASLAuthenticationError")
    expect(error?.message).toMatch(/SASL PLAIN authentication failed: Authentication failed: Invalid username or password/)
    // An unknown user is refused the same way.
    const unknown = clients.track(kafkaClient(b.kafkaPort, "sasl-unknown", sasl("mallory", "a1")).admin())
    expect((await unknown.connect().then(() => null, (e: Error) => e))?.name).toBe("KafkaJSSASLAuthenticationError")
  })

  it("closes a client without SASL when anonymous clients are refused", async () => {
    const b = await securedBroker()
    const admin = clients.track(kafkaClient(b.kafkaPort, "no-sasl").admin())
    const error = await admin.connect().then(() => admin.listTopics()).then(() => null, (e: Error) => e)
    expect(error).not.toBeNull()
    expect(error!.name).toMatch(/KafkaJS(ConnectionClosedError|NumberOfRetriesExceeded|NonRetriableError|ConnectionError)/)
  })

  it("with anonymous clients allowed: works without SASL, and SASL when done is still checked", async () => {
    const b = await securedBroker(true)
    const anonymous = await clients.admin(kafkaClient(b.kafkaPort, "anon"))
    await anonymous.createTopics({ topics: [{ topic: "open" }] })
    expect(await anonymous.listTopics()).toContain("open")
    const withSasl = await clients.admin(kafkaClient(b.kafkaPort, "sasl-open", sasl("bob", "b1")))
    expect(await withSasl.listTopics()).toContain("open")
    const wrong = clients.track(kafkaClient(b.kafkaPort, "sasl-open-bad", sasl("bob", "nope")).admin())
    expect((await wrong.connect().then(() => null, (e: Error) => e))?.name).toBe("KafkaJSSASLAuthenticationError")
  })
})

describe("SASL on raw frames", () => {
  it("answers another mechanism with UNSUPPORTED_SASL_MECHANISM and the list, then closes", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    const answer = await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "GSSAPI" })
    expect(answer).toEqual({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] })
    expect(await wire.closedWithin(2_000)).toBe(true)
  })

  it("answers ApiVersions before authentication (listing both SASL APIs) and closes on any other request", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    const versions = await wire.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "raw", clientSoftwareVersion: "1" })
    expect(versions.apiKeys).toContainEqual({ apiKey: ApiKey.SaslHandshake, minVersion: 0, maxVersion: 1 })
    expect(versions.apiKeys).toContainEqual({ apiKey: ApiKey.SaslAuthenticate, minVersion: 0, maxVersion: 2 })
    wire.send(ApiKey.Metadata, 1, metadataV1)
    await expect(wire.nextFrame(2_000)).rejects.toThrow(/closed the connection/)
  })

  it("answers SaslAuthenticate without a handshake with ILLEGAL_SASL_STATE, then closes", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    const answer = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: plain("alice", "a1") })
    expect(answer.errorCode).toBe(ErrorCode.ILLEGAL_SASL_STATE)
    expect(await wire.closedWithin(2_000)).toBe(true)
  })

  it("refuses a wrong password with SASL_AUTHENTICATION_FAILED and its message, then closes", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    const answer = await authenticate(wire, "alice", "a2")
    expect(answer).toEqual({
      errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED,
      errorMessage: "Authentication failed: Invalid username or password",
      authBytes: Buffer.alloc(0),
      sessionLifetimeMs: 0
    })
    expect(await wire.closedWithin(2_000)).toBe(true)
  })

  it("refuses an authorization id other than the user", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })
    const answer = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: plain("alice", "a1", "bob") })
    expect(answer.errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED)
    expect(answer.errorMessage).toMatch(/authorization id/)
    expect(await wire.closedWithin(2_000)).toBe(true)
  })

  it("accepts SaslAuthenticate v2 (flexible) and an authorization id equal to the user", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })
    const answer = await wire.request(ApiKey.SaslAuthenticate, 2, { authBytes: plain("bob", "b1", "bob") })
    expect(answer.errorCode).toBe(0)
    expect((await wire.request(ApiKey.Metadata, 1, metadataV1)).brokers).toHaveLength(1)
    // A second handshake on an authenticated connection: ILLEGAL_SASL_STATE, the connection stays.
    expect((await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })).errorCode).toBe(ErrorCode.ILLEGAL_SASL_STATE)
    expect((await wire.request(ApiKey.Metadata, 1, metadataV1)).brokers).toHaveLength(1)
  })

  it("holds requests pipelined behind SaslAuthenticate until the password is verified, answering in order", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    const h = wire.send(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })
    const a = wire.send(ApiKey.SaslAuthenticate, 1, { authBytes: plain("alice", "a1") })
    const m = wire.send(ApiKey.Metadata, 1, metadataV1)
    expect((await wire.response(ApiKey.SaslHandshake, 1, h)).errorCode).toBe(0)
    expect((await wire.response(ApiKey.SaslAuthenticate, 1, a)).errorCode).toBe(0)
    expect((await wire.response(ApiKey.Metadata, 1, m)).brokers).toHaveLength(1)
  })

  it("after a pipelined wrong password, answers the refusal and reads nothing more", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    wire.send(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })
    const a = wire.send(ApiKey.SaslAuthenticate, 1, { authBytes: plain("alice", "bad") })
    wire.send(ApiKey.Metadata, 1, metadataV1)
    await wire.nextFrame()
    expect((await wire.response(ApiKey.SaslAuthenticate, 1, a)).errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED)
    await expect(wire.nextFrame(2_000)).rejects.toThrow(/closed the connection/)
  })

  it("SaslHandshake v0: the bare token follows, an empty frame accepts it; a wrong one closes", async () => {
    const b = await securedBroker()
    const wire = await wires.connect(b.kafkaPort)
    expect(await wire.request(ApiKey.SaslHandshake, 0, { mechanism: "PLAIN" })).toEqual({ errorCode: 0, mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] })
    const token = plain("alice", "a1")
    const size = Buffer.alloc(4)
    size.writeInt32BE(token.length)
    wire.write([size, token])
    expect((await wire.nextFrame()).length).toBe(0)
    expect((await wire.request(ApiKey.Metadata, 1, metadataV1)).brokers).toHaveLength(1)

    const refused = await wires.connect(b.kafkaPort)
    await refused.request(ApiKey.SaslHandshake, 0, { mechanism: "PLAIN" })
    const bad = plain("alice", "nope")
    size.writeInt32BE(bad.length)
    refused.write([size, bad])
    await expect(refused.nextFrame(2_000)).rejects.toThrow(/closed the connection/)
  })

  it("closes the Kafka connections of a user removed on reload; others stay", async () => {
    const passwordFile = writeUsers(dir, { alice: "a1", bob: "b1" })
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile } })
    const alice = await wires.connect(b.kafkaPort)
    expect((await authenticate(alice, "alice", "a1")).errorCode).toBe(0)
    const bob = await wires.connect(b.kafkaPort)
    expect((await authenticate(bob, "bob", "b1")).errorCode).toBe(0)
    writeUsers(dir, { bob: "b1" }, passwordFile)
    const changes = await Effect.runPromise(b.server.context.auth!.reload)
    expect(changes.usersRemoved).toEqual(["alice"])
    expect(changes.kicked).toBe(1)
    expect(await alice.closedWithin(2_000)).toBe(true)
    expect((await bob.request(ApiKey.Metadata, 1, metadataV1)).brokers).toHaveLength(1)
  })
})

describe.skipIf(!hasKcat())("kcat (librdkafka) with SASL/PLAIN", () => {
  const saslArgs = (username: string, password: string) => [
    "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN", "-X", `sasl.username=${username}`, "-X", `sasl.password=${password}`
  ]

  it("lists metadata, produces and consumes", async () => {
    const b = await securedBroker()
    const auth = saslArgs("alice", "a1")
    const produced = await kcat([...kcatBroker(b.kafkaPort), ...auth, "-P", "-t", "kc-sasl", "-K:"], { input: "k1:one\nk2:two\n" })
    expect(produced.code, produced.stderr).toBe(0)
    const listed = await kcat([...kcatBroker(b.kafkaPort), ...auth, "-L", "-J"])
    expect(listed.code, listed.stderr).toBe(0)
    const listing = JSON.parse(listed.stdout) as { topics: Array<{ topic: string }> }
    expect(listing.topics.map((t) => t.topic)).toContain("kc-sasl")
    const consumed = await kcat([...kcatBroker(b.kafkaPort), ...auth, "-C", "-t", "kc-sasl", "-e", "-o", "beginning", "-f", "%o|%k|%s\n"])
    expect(consumed.code, consumed.stderr).toBe(0)
    expect(consumed.stdout.split("\n").filter((l) => l !== "")).toEqual(["0|k1|one", "1|k2|two"])
  })

  it("fails with a wrong password, reporting the authentication failure", async () => {
    const b = await securedBroker()
    const result = await kcat([...kcatBroker(b.kafkaPort), ...saslArgs("alice", "wrong"), "-L", "-m", "3"])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/Authentication failed|SASL authentication error/i)
  })
})
