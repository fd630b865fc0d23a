/**
 * Bans end to end, through real clients (issue 10, bans): a banned client id, user or address is
 * refused at CONNECT (MQTT.js v5 sees 0x8A, v3.1.1 code 5, mosquitto_pub gives up), connected
 * clients a new ban covers are closed (v5: DISCONNECT 0x98), a banned address's Kafka connections
 * are closed (kafkajs), a banned SASL user's too, a timed ban runs out, and bans survive a
 * restart on SQLite. Tests add bans through the Bans service of the TestBroker until the admin
 * API covers them.
 */
import { Effect } from "effect"
import type { IConnackPacket, IConnectPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import type { AddBan } from "../../domain/ban/decide.js"
import type { BanKind } from "../../domain/ban/events.js"
import type { ListBans } from "../../src/bans/Bans.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { authDir, connackCode, writeUsers } from "../auth/authFiles.js"
import { connect, quiet, roundTrip, waitUntil } from "../support/clients.js"
import { kafkaClient, useKafkaClients } from "../support/kafka.js"
import { KafkaWire } from "../support/KafkaWire.js"
import { useBrokerProcesses } from "../support/BrokerProcess.js"
import { useBrokers } from "../support/lifecycle.js"
import { mosquittoInstalled, PUB } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"
import { RawClient } from "../support/RawClient.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const life = useBrokers()
const processes = useBrokerProcesses()
const kafkaClients = useKafkaClients()
const spawnClient = useProcesses()
const dir = authDir()

/** The broker's Bans service as promises. */
const bansOf = (b: TestBroker) => ({
  add: (cmd: AddBan) => Effect.runPromise(b.bans.add(cmd)),
  remove: (kind: BanKind, value: string) => Effect.runPromise(b.bans.remove(kind, value)),
  list: (options?: ListBans) => Effect.runPromise(b.bans.list(options))
})

describe("a banned MQTT client is refused at CONNECT", () => {
  it("by client id: MQTT.js v5 sees 0x8A Banned, v3.1.1 code 5 (not authorized); other clients connect; refusals are counted", async () => {
    const b = await life.broker()
    await bansOf(b).add({ kind: "clientid", value: "bad-device", reason: "leaks data" })
    expect(await connackCode(b.url, { protocolVersion: 5, clientId: "bad-device" })).toBe(0x8a)
    expect(await connackCode(b.url, { protocolVersion: 4, clientId: "bad-device" })).toBe(5)
    expect(await connackCode(b.url, { protocolVersion: 5, clientId: "good-device" })).toBe(0)
    expect(b.server.context.admission.refused.banned).toBe(2)
  })

  it("by user name (exact), and by an IPv4 CIDR range covering the client's address", async () => {
    const b = await life.broker()
    await bansOf(b).add({ kind: "username", value: "mallory" })
    expect(await connackCode(b.url, { protocolVersion: 5, username: "mallory" })).toBe(0x8a)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "Mallory" })).toBe(0)
    // From 127.0.0.2: a /32 ban of it refuses that address only.
    await bansOf(b).add({ kind: "ip", value: "127.0.0.2/32" })
    expect(await rawConnectFrom(b.port, "127.0.0.1")).toBe(0)
    expect(await rawConnectFrom(b.port, "127.0.0.2")).toBe(0x8a)
    await bansOf(b).add({ kind: "ip", value: "127.0.0.0/8", durationSeconds: 600 })
    expect(await connackCode(b.url, { protocolVersion: 4, clientId: "anyone" })).toBe(5)
  })

  it("by IPv6 address on a dual-stack listener, where an IPv4 client's ::ffff: form still matches an IPv4 range", async () => {
    const b = await life.broker({ mqtt: { host: "::" } })
    const v6 = `mqtt://[::1]:${b.port}`
    expect(await connackCode(v6, { protocolVersion: 5, clientId: "v6-before" })).toBe(0)
    await bansOf(b).add({ kind: "ip", value: "::1/128" })
    expect(await connackCode(v6, { protocolVersion: 5, clientId: "v6-after" })).toBe(0x8a)
    expect(await connackCode(b.url, { protocolVersion: 5, clientId: "v4-via-dual-stack" })).toBe(0)
    await bansOf(b).add({ kind: "ip", value: "127.0.0.0/8" })
    expect(await connackCode(b.url, { protocolVersion: 5, clientId: "v4-via-dual-stack" })).toBe(0x8a)
  })

  it.skipIf(!mosquittoInstalled)("mosquitto_pub under a banned client id is refused and exits with an error", async () => {
    const b = await life.broker()
    await bansOf(b).add({ kind: "clientid", value: "banned-pub" })
    // mosquitto_pub names the CONNACK it got: v3.1.1 code 5, v5 reason 0x8A.
    for (const [v, said] of [["mqttv311", /Connection Refused: not authori[sz]ed/], ["mqttv5", /Connection error: Banned/]] as const) {
      const r = await spawnClient(PUB, ["-h", "127.0.0.1", "-p", String(b.port), "-V", v, "-i", "banned-pub", "-t", "t", "-m", "x"]).exited
      expect(r.code).not.toBe(0)
      expect(r.stderr).toMatch(said)
    }
    const ok = await spawnClient(PUB, ["-h", "127.0.0.1", "-p", String(b.port), "-V", "mqttv5", "-i", "fine-pub", "-t", "t", "-m", "x"]).exited
    expect(ok.code).toBe(0)
  })

  it("a timed ban runs out and lets the client in again", async () => {
    const b = await life.broker()
    await bansOf(b).add({ kind: "clientid", value: "timed", durationSeconds: 1 })
    expect(await connackCode(b.url, { protocolVersion: 5, clientId: "timed" })).toBe(0x8a)
    let code = -1
    for (let i = 0; i < 40 && code !== 0; i++) {
      await quiet(100)
      code = await connackCode(b.url, { protocolVersion: 5, clientId: "timed" })
    }
    expect(code).toBe(0)
    expect((await bansOf(b).list()).items).toEqual([])
  })
})

/** A raw v5 CONNECT from a local address; the CONNACK's reason code. */
const rawConnectFrom = async (port: number, from: string): Promise<number> => {
  const client = life.track(await RawClient.connect(port, 5, from))
  client.sendPacket({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clientId: "", clean: true, keepalive: 0 } as IConnectPacket)
  return ((await client.expect("connack")) as IConnackPacket).reasonCode ?? -1
}

describe("a new ban closes the connections it covers", () => {
  it("MQTT: a v5 client gets DISCONNECT 0x98, a v3.1.1 client is closed, and clients it does not cover stay", async () => {
    const b = await life.broker()
    const v5 = life.track(await connect(b.url, { protocolVersion: 5, clientId: "m5", username: "mallory" }))
    const v4 = life.track(await connect(b.url, { protocolVersion: 4, clientId: "m4", username: "mallory" }))
    const bystander = life.track(await connect(b.url, { protocolVersion: 5, clientId: "alice", username: "alice" }))
    let reason = -1
    v5.client.on("disconnect", (p) => (reason = p.reasonCode ?? 0))
    let v4Closed = false
    v4.client.on("close", () => (v4Closed = true))
    const { disconnected } = await bansOf(b).add({ kind: "username", value: "mallory", reason: "abuse" })
    expect(disconnected).toBe(2)
    await waitUntil(() => reason !== -1 && v4Closed, 5000, () => `both of mallory's clients to be closed (reason ${reason}, v3 closed ${v4Closed})`)
    expect(reason).toBe(0x98)
    await roundTrip(bystander, "still/there")
    // And they may not come back.
    expect(await connackCode(b.url, { protocolVersion: 5, clientId: "m5", username: "mallory" })).toBe(0x8a)
  })

  it("MQTT: a client id ban closes that client, an address ban every client from the range", async () => {
    const b = await life.broker()
    const target = life.track(await connect(b.url, { protocolVersion: 5, clientId: "target" }))
    const other = life.track(await connect(b.url, { protocolVersion: 5, clientId: "other" }))
    let targetReason = -1
    target.client.on("disconnect", (p) => (targetReason = p.reasonCode ?? 0))
    expect((await bansOf(b).add({ kind: "clientid", value: "target" })).disconnected).toBe(1)
    await waitUntil(() => targetReason === 0x98, 5000, () => "the banned client id to get DISCONNECT 0x98")
    let otherReason = -1
    other.client.on("disconnect", (p) => (otherReason = p.reasonCode ?? 0))
    expect((await bansOf(b).add({ kind: "ip", value: "127.0.0.0/8" })).disconnected).toBe(1)
    await waitUntil(() => otherReason === 0x98, 5000, () => "the client from 127.0.0.1 to get DISCONNECT 0x98")
  })

  it("Kafka: an address ban closes kafkajs's connections from it, and new ones at accept; lifting it lets them in", async () => {
    const b = await life.broker()
    const admin = await kafkaClients.admin(kafkaClient(b.kafkaPort, "banned-host"))
    await admin.createTopics({ topics: [{ topic: "before-ban", numPartitions: 1 }] })
    expect(b.kafka!.openConnections()).toBeGreaterThan(0)
    const { disconnected } = await bansOf(b).add({ kind: "ip", value: "127.0.0.0/8", reason: "kafka scanner" })
    expect(disconnected).toBeGreaterThan(0)
    await waitUntil(() => b.kafka!.openConnections() === 0, 5000, () => "the Kafka connections from 127.0.0.1 to close")
    const refused = await kafkaClients.admin(kafkaClient(b.kafkaPort, "banned-again")).then(() => null, (e: Error) => e)
    expect(refused).not.toBeNull()
    // At accept: a raw connection is closed before it can ask anything.
    const wire = await KafkaWire.connect(b.kafkaPort).catch(() => null)
    const answered = wire === null ? false : await wire.request(ApiKey.ApiVersions, 0, {} as never).then(() => true, () => false)
    wire?.destroy()
    expect(answered).toBe(false)
    expect(b.server.context.admission.refused.banned).toBeGreaterThan(0)
    await bansOf(b).remove("ip", "127.0.0.0/8")
    const back = await kafkaClients.admin(kafkaClient(b.kafkaPort, "welcome-back"))
    expect(await back.listTopics()).toContain("before-ban")
  })

  it("Kafka SASL: a user ban closes that user's connections and refuses its next login; other users go on", async () => {
    const passwordFile = writeUsers(dir, { mallory: "secret-m", alice: "secret-a" })
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile } })
    const sasl = (username: string, password: string) => ({ sasl: { mechanism: "plain" as const, username, password } })
    const mallory = await kafkaClients.admin(kafkaClient(b.kafkaPort, "m", sasl("mallory", "secret-m")))
    const alice = await kafkaClients.admin(kafkaClient(b.kafkaPort, "a", sasl("alice", "secret-a")))
    await mallory.listTopics()
    const before = b.kafka!.openConnections()
    expect((await bansOf(b).add({ kind: "username", value: "mallory" })).disconnected).toBeGreaterThan(0)
    await waitUntil(() => b.kafka!.openConnections() < before, 5000, () => "mallory's Kafka connection to close")
    const again = await kafkaClients.admin(kafkaClient(b.kafkaPort, "m2", sasl("mallory", "secret-m"))).then(() => null, (e: Error) => e)
    expect(again).not.toBeNull()
    expect(await alice.listTopics()).toBeInstanceOf(Array)
    // MQTT too, with the right password.
    expect(await connackCode(b.url, { protocolVersion: 5, username: "mallory", password: "secret-m" })).toBe(0x8a)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "secret-a" })).toBe(0)
  })
})

describe("bans are events", () => {
  it("survive a restart on SQLite: still refused, still listed with their expiry; a removal survives too", async () => {
    const first = await life.broker({ storage: "sqlite" })
    await bansOf(first).add({ kind: "clientid", value: "forever", reason: "kept" })
    const { ban: timed } = await bansOf(first).add({ kind: "username", value: "for-an-hour", durationSeconds: 3600 })
    await bansOf(first).add({ kind: "clientid", value: "lifted" })
    await bansOf(first).remove("clientid", "lifted")
    const second = life.adopt(await first.restart())
    expect(await connackCode(second.url, { protocolVersion: 5, clientId: "forever" })).toBe(0x8a)
    expect(await connackCode(second.url, { protocolVersion: 5, username: "for-an-hour" })).toBe(0x8a)
    expect(await connackCode(second.url, { protocolVersion: 5, clientId: "lifted" })).toBe(0)
    const listed = (await bansOf(second).list()).items
    expect(listed.map((x) => `${x.kind}:${x.value}`)).toEqual(["clientid:forever", "username:for-an-hour"])
    expect(listed.find((x) => x.value === "for-an-hour")?.until).toBe(timed.until)
    expect(listed.find((x) => x.value === "forever")?.reason).toBe("kept")
    await bansOf(second).remove("clientid", "forever")
    const third = life.adopt(await second.restart())
    expect(await connackCode(third.url, { protocolVersion: 5, clientId: "forever" })).toBe(0)
    expect((await bansOf(third).list()).items.map((x) => x.value)).toEqual(["for-an-hour"])
  })

  it("the real executable on a stopped broker's SQLite data dir refuses the same clients, with one debug line per refusal", async () => {
    const dataDir = processes.dataDir()
    const first = await startBroker({ storage: "sqlite", dataDir })
    await bansOf(first).add({ kind: "clientid", value: "banned-in-process", reason: "moved on" })
    await bansOf(first).add({ kind: "ip", value: "127.0.0.2" })
    await first.stop()
    const broker = await processes.start(dataDir, { storage: "sqlite", logLevel: "debug", kafkaPort: null })
    expect(broker.output()).toContain("bans: 2 in force")
    expect(await connackCode(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, clientId: "banned-in-process" })).toBe(0x8a)
    expect(await rawConnectFrom(broker.port, "127.0.0.2")).toBe(0x8a)
    expect(await connackCode(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, clientId: "welcome" })).toBe(0)
    await waitUntil(() => (broker.output().match(/refused: banned/g) ?? []).length >= 2, 5000, () => `two refusal lines in: ${broker.output()}`)
    expect(broker.output()).toMatch(/CONNECT from 127\.0\.0\.1:\d+ \(client "banned-in-process"\) refused: banned, clientid "banned-in-process" for ever \("moved on"\)/)
    expect(broker.output()).toMatch(/CONNECT from 127\.0\.0\.2:\d+ \(client "auto-[^"]+"\) refused: banned, ip "127\.0\.0\.2" for ever/)
    await broker.stop()
  })
})
