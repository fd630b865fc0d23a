/**
 * librdkafka (through kcat) against the broker: metadata listing, produce with keys and headers,
 * consume from the beginning, balanced group consumption with committed offsets, every
 * compression codec, acks=all and the idempotent producer, and offset queries by time.
 * librdkafka is strict where kafkajs is lenient (ApiVersions v3, null record sets, tagged
 * fields), so these are the tests that catch wire-format slips a kafkajs test lets through.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { batchAttributes, batchBaseSequence, batchProducerId, decodeBatch } from "../../domain/message/RecordBatch.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, hasKcat, kafkaClient, kcat, kcatBroker, kcatPath, type KcatResult, useKafkaClients, waitFor, withTimeout } from "../support/kafka.js"
import { useKafkaWires } from "../support/KafkaWire.js"

/** Runs kcat and expects exit code 0 (the failure message carries its stderr). */
const kcatOk = async (args: ReadonlyArray<string>, input?: string): Promise<KcatResult> => {
  const result = await kcat(args, input === undefined ? {} : { input })
  expect(result.code, `kcat ${args.join(" ")} failed: ${result.stderr}`).toBe(0)
  // librdkafka logs wire-format errors it recovers from (and retries forever) as PROTOERR.
  expect(result.stderr).not.toMatch(/PROTOERR|Protocol parse failure|invalid MessageSetSize/)
  return result
}

/** Lines of kcat output, without the trailing empty one. */
const lines = (stdout: string): Array<string> => stdout.split("\n").filter((l) => l !== "")

/** A kcat left running (a group member): its output so far, and a graceful stop (SIGTERM). */
interface RunningKcat {
  readonly stdout: () => string
  readonly stderr: () => string
  /** SIGTERM (kcat commits and leaves its group), then waits up to 10 s for it to exit. */
  readonly stop: () => Promise<number | null>
}

const running: Array<ChildProcess> = []
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

const startKcat = (args: ReadonlyArray<string>): RunningKcat => {
  const child = spawn(kcatPath()!, [...args], { stdio: ["ignore", "pipe", "pipe"] })
  running.push(child)
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (b: Buffer) => void (stdout += b.toString("utf8")))
  child.stderr.on("data", (b: Buffer) => void (stderr += b.toString("utf8")))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    stop: () => {
      child.kill("SIGTERM")
      return withTimeout(exited, 10_000, "kcat exit after SIGTERM")
    }
  }
}

const CODECS = [
  { name: "gzip", id: 1 },
  { name: "snappy", id: 2 },
  { name: "lz4", id: 3 },
  { name: "zstd", id: 4 }
] as const

describe.skipIf(!hasKcat())("kcat (librdkafka) against the broker", () => {
  const { broker } = useBrokers()
  const clients = useKafkaClients()
  const wires = useKafkaWires()

  /** The stored record batches of a partition as a raw Fetch v11 returns them. */
  const fetchBatches = async (port: number, topic: string, partition = 0): Promise<Array<Buffer>> => {
    const wire = await wires.connect(port)
    const response = await wire.request(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 10_000_000,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 10_000_000 }] }],
      forgottenTopicsData: [],
      rackId: ""
    })
    const p = response.responses[0]!.partitions[0]!
    expect(p.errorCode).toBe(0)
    const records = p.records as Buffer
    const batches: Array<Buffer> = []
    // Batches back to back: baseOffset (8) + batchLength (4) + batchLength bytes.
    for (let at = 0; at + 12 <= records.length; at += 12 + records.readInt32BE(at + 8)) {
      batches.push(records.subarray(at, at + 12 + records.readInt32BE(at + 8)))
    }
    return batches
  }

  it("negotiates ApiVersions v3 and lists the broker and topics with their partitions (-L -J)", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: "listed", numPartitions: 3 }, { topic: "single" }] })
    const { stdout, stderr } = await kcatOk([...kcatBroker(b.kafkaPort), "-L", "-J", "-X", "debug=protocol"])
    // librdkafka asked for the newest ApiVersions and did not fall back to guessing versions.
    expect(stderr).toMatch(/Sent ApiVersionRequest \(v3/)
    expect(stderr).toMatch(/Received ApiVersionResponse \(v3/)
    expect(stderr).not.toMatch(/fallback/i)
    const listing = JSON.parse(stdout) as {
      brokers: Array<{ id: number; name: string }>
      topics: Array<{ topic: string; error?: string; partitions: Array<{ partition: number; leader: number; replicas: Array<{ id: number }> }> }>
    }
    expect(listing.brokers).toEqual([{ id: 0, name: `127.0.0.1:${b.kafkaPort}` }])
    const listed = listing.topics.find((t) => t.topic === "listed")
    expect(listed?.error).toBeUndefined()
    expect(listed!.partitions.map((p) => p.partition).sort()).toEqual([0, 1, 2])
    for (const p of listed!.partitions) {
      expect(p.leader).toBe(0)
      expect(p.replicas).toEqual([{ id: 0 }])
    }
    expect(listing.topics.find((t) => t.topic === "single")!.partitions).toHaveLength(1)
    // One topic by name (a Metadata request with a topic list).
    const one = JSON.parse((await kcatOk([...kcatBroker(b.kafkaPort), "-L", "-J", "-t", "listed"])).stdout) as typeof listing
    expect(one.topics.map((t) => t.topic)).toEqual(["listed"])
  })

  it("produces keyed records with headers (-P -K: -H) and consumes them from the beginning with their offsets", async () => {
    const b = await broker()
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "kv", "-K:", "-H", "source=kcat", "-H", "trace=t1"], "k1:one\nk2:two\nk3:three\n")
    const { stdout, stderr } = await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", "kv", "-e", "-X", "check.crcs=true", "-o", "beginning", "-f", "%t|%p|%o|%k|%s|%h\n"])
    expect(lines(stdout)).toEqual([
      "kv|0|0|k1|one|source=kcat,trace=t1",
      "kv|0|1|k2|two|source=kcat,trace=t1",
      "kv|0|2|k3|three|source=kcat,trace=t1"
    ])
    expect(stderr).toMatch(/Reached end of topic kv \[0\] at offset 3/)
    // kafkajs reads what librdkafka wrote.
    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "g-kv" })
    const got = await consumeN(consumer, "kv", 3)
    expect(got.map((m) => [m.offset, m.key, m.value])).toEqual([[0, "k1", "one"], [1, "k2", "two"], [2, "k3", "three"]])
    expect(got[2]!.headers).toEqual({ source: "kcat", trace: "t1" })
  })

  it("consumes in a balanced group (-G): a second run continues from the committed offsets", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "grouped", numPartitions: 2 }] })
    const input = Array.from({ length: 10 }, (_, i) => `key-${i}:v${i}\n`).join("")
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "grouped", "-K:"], input)
    const group = [...kcatBroker(b.kafkaPort), "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-f", "%p:%o:%s\n"]
    const first = lines((await kcatOk([...group, "-c", "6", "grouped"])).stdout)
    expect(first).toHaveLength(6)
    const second = lines((await kcatOk([...group, "-e", "grouped"])).stdout)
    expect(second).toHaveLength(4)
    // Together exactly the ten records, each once.
    expect([...first, ...second].map((l) => l.split(":")[2]).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`).sort())
    // The group's committed offsets are the partitions' ends, seen from kafkajs too.
    const committed = await admin.fetchOffsets({ groupId: "kcat-group", topics: ["grouped"] })
    const ends = await admin.fetchTopicOffsets("grouped")
    const byPartition = (xs: Array<{ partition: number; offset: string }>) => Object.fromEntries(xs.map((x) => [x.partition, x.offset]))
    expect(byPartition(committed[0]!.partitions)).toEqual(byPartition(ends))
    // A third run finds nothing left.
    expect(lines((await kcatOk([...group, "-e", "grouped"])).stdout)).toEqual([])
  })

  it("splits a topic's partitions between two group members (-G) that together consume every record once", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "shared", numPartitions: 4 }] })
    const member = (name: string) =>
      startKcat([...kcatBroker(b.kafkaPort), "-G", "duo", "-u", "-X", "auto.offset.reset=earliest", "-f", `${name} %p %s\n`, "shared"])
    const assignments = (m: RunningKcat) => [...m.stderr().matchAll(/assigned: (.*)/g)].map((x) => x[1]!)
    const a = member("A")
    await waitFor(() => assignments(a).length >= 1, 10_000, () => `A's first assignment: ${a.stderr()}`)
    const bMember = member("B")
    // A gives up half of the partitions to B: both end up with an assignment after B joined.
    await waitFor(() => assignments(bMember).length >= 1 && assignments(a).length >= 2, 15_000, () => `a split: A ${a.stderr()} B ${bMember.stderr()}`)
    const input = Array.from({ length: 40 }, (_, i) => `key-${i}:v${i}\n`).join("")
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "shared", "-K:"], input)
    const consumed = () => [...lines(a.stdout()), ...lines(bMember.stdout())]
    await waitFor(() => consumed().length >= 40, 10_000, () => `40 records, got ${consumed().length}`)
    expect(await a.stop()).toBe(0)
    expect(await bMember.stop()).toBe(0)
    const records = consumed().map((l) => l.split(" "))
    expect(records.map((r) => r[2]).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `v${i}`).sort())
    const partitionsOf = (name: string) => new Set(records.filter((r) => r[0] === name).map((r) => r[1]))
    expect(partitionsOf("A").size).toBeGreaterThan(0)
    expect(partitionsOf("B").size).toBeGreaterThan(0)
    for (const p of partitionsOf("A")) expect(partitionsOf("B").has(p)).toBe(false)
    // Both members committed what they consumed when they left.
    const committed = await admin.fetchOffsets({ groupId: "duo", topics: ["shared"] })
    const ends = await admin.fetchTopicOffsets("shared")
    const byPartition = (xs: Array<{ partition: number; offset: string }>) => Object.fromEntries(xs.map((x) => [x.partition, x.offset]))
    expect(byPartition(committed[0]!.partitions)).toEqual(byPartition(ends))
  })

  it.each(CODECS)("produces $name-compressed batches (-z) that are stored compressed and read back by kcat", async ({ name, id }) => {
    const b = await broker()
    const topic = `z-${name}`
    const values = Array.from({ length: 200 }, (_, i) => `${name} record ${i} ${"payload ".repeat(10)}`)
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", topic, "-z", name, "-K:"], values.map((v, i) => `k${i}:${v}\n`).join(""))
    const batches = await fetchBatches(b.kafkaPort, topic)
    expect(batches.length).toBeGreaterThan(0)
    for (const batch of batches) expect(batchAttributes(batch) & 0x07).toBe(id)
    const { stdout } = await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", topic, "-e", "-X", "check.crcs=true", "-o", "beginning", "-f", "%o|%k|%s\n"])
    expect(lines(stdout)).toEqual(values.map((v, i) => `${i}|k${i}|${v}`))
    // From the middle of a compressed batch: the client skips the records before the offset.
    const tail = await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", topic, "-e", "-o", "150", "-f", "%o\n"])
    expect(lines(tail.stdout)).toEqual(Array.from({ length: 50 }, (_, i) => String(150 + i)))
    if (name === "gzip") {
      // kafkajs decompresses gzip natively (the other codecs need plugins it does not ship).
      const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: `g-${topic}` })
      const got = await consumeN(consumer, topic, values.length)
      expect(got.map((m) => m.value)).toEqual(values)
    }
  })

  it("carries records near the 1 MiB limit, refuses larger ones (MESSAGE_TOO_LARGE) and serves batches larger than the fetch budget", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: "capped", configEntries: [{ name: "max.message.bytes", value: "2000" }] }] })
    const big = "x".repeat(900_000)
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "large"], `${big}\n`)
    const read = await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", "large", "-e", "-X", "check.crcs=true", "-f", "%o:%S\n"])
    expect(lines(read.stdout)).toEqual(["0:900000"])
    // Over the broker default (librdkafka's own limit raised so that the broker is the one to refuse).
    const refused = await kcat([...kcatBroker(b.kafkaPort), "-P", "-t", "large", "-X", "message.max.bytes=2000000"], { input: `${"y".repeat(1_100_000)}\n` })
    expect(refused.stderr).toMatch(/Message size too large/)
    // Over the topic's max.message.bytes.
    const oneEach = ["-X", "linger.ms=0", "-X", "batch.num.messages=1"] // one record per batch
    const capped = await kcat([...kcatBroker(b.kafkaPort), "-P", "-t", "capped", ...oneEach], { input: `${"z".repeat(3_000)}\nsmall\n` })
    expect(capped.stderr).toMatch(/Message size too large/)
    expect(lines((await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", "capped", "-e", "-f", "%s\n"])).stdout)).toEqual(["small"])
    // Fetch budgets far below one batch: each batch still comes whole, one at a time (KIP-74).
    const records = Array.from({ length: 5 }, (_, i) => String(i).repeat(200_000))
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "chunky", ...oneEach], records.map((r) => `${r}\n`).join(""))
    const small = ["-X", "fetch.max.bytes=1000", "-X", "message.max.bytes=1000", "-X", "max.partition.fetch.bytes=1000"]
    const chunks = await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", "chunky", "-e", ...small, "-X", "check.crcs=true", "-f", "%o:%S\n"])
    expect(lines(chunks.stdout)).toEqual(records.map((r, i) => `${i}:${r.length}`))
  })

  it("produces with acks=all and as an idempotent producer (producer id and sequences in the stored batches)", async () => {
    const b = await broker({ storage: "sqlite" })
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "durable", "-X", "acks=all"], "a1\na2\na3\n")
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "durable", "-X", "enable.idempotence=true"], "i1\ni2\ni3\n")
    const { stdout } = await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", "durable", "-e", "-o", "beginning", "-f", "%o:%s\n"])
    expect(lines(stdout)).toEqual(["0:a1", "1:a2", "2:a3", "3:i1", "4:i2", "5:i3"])
    const batches = await fetchBatches(b.kafkaPort, "durable")
    expect(batchProducerId(batches[0]!)).toBe(-1)
    const idempotent = batches.filter((x) => batchProducerId(x) >= 0)
    expect(idempotent.length).toBeGreaterThan(0)
    expect(batchBaseSequence(idempotent[0]!)).toBe(0)
    const values = idempotent.flatMap((x) => {
      const records = decodeBatch(x)
      return typeof records === "string" ? [records] : records.map((r) => Buffer.from(r.value!).toString())
    })
    expect(values).toEqual(["i1", "i2", "i3"])
  })

  it("answers offset queries (-Q): latest, earliest and by timestamp", async () => {
    const b = await broker()
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "timed"], "early-1\nearly-2\n")
    await new Promise((r) => setTimeout(r, 30)) // the second batch gets a later timestamp
    await kcatOk([...kcatBroker(b.kafkaPort), "-P", "-t", "timed"], "late-1\nlate-2\nlate-3\n")
    const stamped = lines((await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", "timed", "-e", "-o", "beginning", "-f", "%o:%T\n"])).stdout)
    const timestamps = stamped.map((l) => Number(l.split(":")[1]))
    expect(timestamps[2]!).toBeGreaterThan(timestamps[1]!)
    const query = async (spec: string): Promise<number> => {
      const out = JSON.parse((await kcatOk([...kcatBroker(b.kafkaPort), "-Q", "-J", "-t", `timed:0:${spec}`])).stdout) as Record<string, Record<string, { offset: number }>>
      return out["timed"]!["0"]!.offset
    }
    expect(await query("-1")).toBe(5)
    expect(await query("-2")).toBe(0)
    expect(await query("0")).toBe(0)
    expect(await query(String(timestamps[2]!))).toBe(2)
    expect(await query(String(timestamps[1]! + 1))).toBe(2)
    expect(await query(String(timestamps[4]! + 60_000))).toBe(-1)
    // kcat consumes from a timestamp too (-o s@ts: ListOffsets by time, then Fetch).
    const fromTime = await kcatOk([...kcatBroker(b.kafkaPort), "-C", "-t", "timed", "-e", "-o", `s@${timestamps[2]!}`, "-f", "%s\n"])
    expect(lines(fromTime.stdout)).toEqual(["late-1", "late-2", "late-3"])
  })
})
