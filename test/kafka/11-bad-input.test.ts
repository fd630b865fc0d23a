/**
 * The Kafka listener against input no well-behaved client sends, over raw sockets: unknown API
 * keys, unsupported versions, garbage and truncated bodies, impossible frame sizes, clients that
 * vanish mid-request; plus the per-partition errors of Produce and Fetch and the in-order answers
 * to pipelined requests. A bad connection may be closed, never the broker: in each test a kafkajs
 * producer and consumer on the same broker (the bystander) keep working throughout.
 */
import { crc32c } from "@node-rs/crc32"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { topicPartition } from "../../domain/ids.js"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { encodeBatch } from "../../domain/message/RecordBatch.js"
import { ApiKey, encodeRequest, type FetchRequest, type MetadataRequest, type ProduceRequest, SUPPORTED } from "../../src/kafka/protocol/index.js"
import { useBrokers } from "../support/lifecycle.js"
import { kafkaClient, useKafkaClients, waitFor } from "../support/kafka.js"
import { type KafkaWire, useKafkaWires } from "../support/KafkaWire.js"
import type { TestBroker } from "../support/TestBroker.js"

const UNSUPPORTED_VERSION = 35

/** A request frame (size prefix included) built by hand: for versions the codec refuses to encode. */
const rawFrame = (apiKey: number, apiVersion: number, correlationId: number, body: Buffer = Buffer.alloc(0), clientId = "raw"): Buffer => {
  const id = Buffer.from(clientId)
  const header = Buffer.alloc(10)
  header.writeInt16BE(apiKey, 0)
  header.writeInt16BE(apiVersion, 2)
  header.writeInt32BE(correlationId, 4)
  header.writeInt16BE(id.length, 8)
  const size = Buffer.alloc(4)
  size.writeInt32BE(header.length + id.length + body.length)
  return Buffer.concat([size, header, id, body])
}

const batch = (...values: Array<string>): Buffer =>
  Buffer.from(encodeBatch(0, values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: Date.now() }))))

const produce = (topic: string, partitions: Array<{ partitionIndex: number; records: Buffer | null }>, acks = 1): ProduceRequest => ({
  transactionalId: null,
  acks,
  timeoutMs: 5_000,
  topics: [{ name: topic, partitions }]
})

const fetch = (topic: string, fetchOffset: number, maxWaitMs = 0, minBytes = 0): FetchRequest => ({
  replicaId: -1,
  maxWaitMs,
  minBytes,
  maxBytes: 1_000_000,
  isolationLevel: 0,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset, logStartOffset: -1, partitionMaxBytes: 1_000_000 }] }],
  forgottenTopicsData: [],
  rackId: ""
})

const metadata = (topics: Array<string> | null): MetadataRequest => ({
  topics: topics === null ? null : topics.map((name) => ({ name })),
  allowAutoTopicCreation: false,
  includeClusterAuthorizedOperations: false,
  includeTopicAuthorizedOperations: false
})

/** Whole frames (size prefix included) from the codec, for writing several at once or in pieces. */
const produceFrame = (request: ProduceRequest): Buffer =>
  Buffer.concat(encodeRequest({ apiKey: ApiKey.Produce, apiVersion: 8, correlationId: 1, clientId: "raw" }, request))
const metadataFrame = (correlationId: number): Buffer =>
  Buffer.concat(encodeRequest({ apiKey: ApiKey.Metadata, apiVersion: 8, correlationId, clientId: "raw" }, metadata(["t"])))

describe("Kafka listener robustness (raw sockets)", () => {
  const { broker } = useBrokers()
  const clients = useKafkaClients()
  const wires = useKafkaWires()

  // Broker errors are logged through console.log; a request the broker fails on is a defect here.
  let logged: Array<string> = []
  beforeEach(() => {
    logged = []
    vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void logged.push(args.map(String).join(" ")))
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })
  const failuresLogged = () => logged.filter((l) => /level=(ERROR|FATAL)/.test(l))

  /**
   * A kafkajs producer and consumer on `b` that must keep working: `roundTrip()` produces a
   * fresh value and waits until the consumer has it. Already done once when this resolves.
   */
  const bystander = async (b: TestBroker) => {
    const kafka = kafkaClient(b.kafkaPort, "bystander")
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "bystander" }] })
    const producer = await clients.producer(kafka)
    const consumer = await clients.consumer(kafka, { groupId: "bystander" })
    const got: Array<string> = []
    await consumer.subscribe({ topic: "bystander", fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) })
    let n = 0
    const disconnect = async () => {
      await consumer.disconnect()
      await producer.disconnect()
    }
    const roundTrip = async () => {
      const value = `m${n++}`
      await producer.send({ topic: "bystander", acks: 1, messages: [{ value }] })
      await waitFor(() => got.includes(value), 10_000, () => `the bystander consumer to get ${value} (got ${got.join(",")})`)
    }
    await roundTrip()
    return { roundTrip, disconnect }
  }

  /** A broker with a one-partition topic `t` and a two-partition topic `two`, and its bystander. */
  const setUp = async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort, "setup"))
    await admin.createTopics({ topics: [{ topic: "t" }, { topic: "two", numPartitions: 2 }] })
    return { b, bystander: await bystander(b) }
  }

  /** Sends `bytes` on a fresh connection and expects the broker to close it without a word. */
  const expectClosedBy = async (b: TestBroker, bytes: Buffer | ReadonlyArray<Buffer>): Promise<KafkaWire> => {
    const wire = await wires.connect(b.kafkaPort)
    wire.write(bytes)
    expect(await wire.closedWithin(2_000)).toBe(true)
    await expect(wire.nextFrame(100)).rejects.toThrow(/closed/)
    return wire
  }

  it("answers ApiVersions of an unsupported version with UNSUPPORTED_VERSION and the list, and keeps the connection", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    for (const [version, correlationId] of [[4, 7001], [9, 7002]] as const) {
      // A v4+ request is flexible; its body does not matter to the answer.
      wire.write(rawFrame(ApiKey.ApiVersions, version, correlationId, Buffer.from([0x00, 0x05, 0x31, 0x2e, 0x30, 0x00, 0x00])))
      const answer = await wire.response(ApiKey.ApiVersions, 0, correlationId)
      expect(answer.errorCode).toBe(UNSUPPORTED_VERSION)
      expect(answer.apiKeys).toContainEqual({ apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 3 })
      expect(answer.apiKeys).toContainEqual({ apiKey: ApiKey.Fetch, minVersion: 4, maxVersion: 11 })
    }
    // The connection is still usable: ApiVersions v0, then v3 (flexible request, header v0 answer).
    const v0 = await wire.request(ApiKey.ApiVersions, 0, { clientSoftwareName: "", clientSoftwareVersion: "" })
    expect(v0.errorCode).toBe(0)
    expect(v0.apiKeys.map((k) => k.apiKey)).toContain(ApiKey.Produce)
    const v3 = await wire.request(ApiKey.ApiVersions, 3, { clientSoftwareName: "raw-test", clientSoftwareVersion: "1.0" })
    expect(v3.errorCode).toBe(0)
    expect(v3.apiKeys).toEqual(v0.apiKeys)
    expect(wire.isClosed).toBe(false)
    await bystander.roundTrip()
  })

  it("answers every advertised version of Produce, Fetch, ListOffsets and Metadata on one connection", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    const range = (apiKey: ApiKey) => {
      const { minVersion, maxVersion } = SUPPORTED.get(apiKey)!
      return Array.from({ length: maxVersion - minVersion + 1 }, (_, i) => minVersion + i)
    }
    let offset = 0
    for (const v of range(ApiKey.Produce)) {
      const answer = await wire.request(ApiKey.Produce, v, produce("t", [{ partitionIndex: 0, records: batch(`v${v}`) }]))
      expect(answer.responses[0]!.partitions[0], `Produce v${v}`).toMatchObject({ errorCode: 0, baseOffset: offset++ })
    }
    for (const v of range(ApiKey.Fetch)) {
      const answer = await wire.request(ApiKey.Fetch, v, fetch("t", 1))
      const p = answer.responses[0]!.partitions[0]!
      expect(p, `Fetch v${v}`).toMatchObject({ errorCode: 0, highWatermark: offset })
      expect((p.records as Buffer).length, `Fetch v${v}`).toBeGreaterThan(0)
    }
    for (const v of range(ApiKey.ListOffsets)) {
      const answer = await wire.request(ApiKey.ListOffsets, v, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: "t", partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }]
      })
      expect(answer.topics[0]!.partitions[0], `ListOffsets v${v}`).toMatchObject({ errorCode: 0, offset })
    }
    for (const v of range(ApiKey.Metadata)) {
      // v0 has no null (all topics); an empty list means all there.
      const answer = await wire.request(ApiKey.Metadata, v, metadata(v === 0 ? [] : null))
      expect(answer.brokers, `Metadata v${v}`).toEqual([expect.objectContaining({ nodeId: 0, host: "127.0.0.1", port: b.kafkaPort })])
      expect(answer.topics.map((t) => t.name), `Metadata v${v}`).toEqual(expect.arrayContaining(["t", "two", "bystander"]))
    }
    await bystander.roundTrip()
  })

  it("closes only the connection that sends an unknown API key", async () => {
    const { b, bystander } = await setUp()
    const good = await wires.connect(b.kafkaPort)
    await expectClosedBy(b, rawFrame(999, 0, 1))
    await expectClosedBy(b, rawFrame(-1, 0, 1))
    await expectClosedBy(b, rawFrame(60, 0, 1)) // DescribeCluster: real, but not spoken here
    expect((await good.request(ApiKey.Metadata, 8, metadata(["t"]))).topics[0]!.errorCode).toBe(0)
    await bystander.roundTrip()
  })

  it("closes the connection on an unsupported version of another API (Produce v2, Fetch v3, Metadata v99)", async () => {
    const { b, bystander } = await setUp()
    await expectClosedBy(b, rawFrame(ApiKey.Produce, 2, 1, Buffer.from([0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0])))
    await expectClosedBy(b, rawFrame(ApiKey.Fetch, 3, 1))
    await expectClosedBy(b, rawFrame(ApiKey.Metadata, 99, 1))
    await bystander.roundTrip()
  })

  it("closes the connection on a truncated or garbage request body", async () => {
    const { b, bystander } = await setUp()
    // An array claiming two billion topics in four bytes.
    await expectClosedBy(b, rawFrame(ApiKey.Metadata, 1, 1, Buffer.from([0x7f, 0xff, 0xff, 0xff])))
    // A valid Produce frame cut short (and its size prefix fixed up to match).
    const whole = produceFrame(produce("t", [{ partitionIndex: 0, records: batch("x") }]))
    const cut = Buffer.from(whole.subarray(0, whole.length - 20))
    cut.writeInt32BE(cut.length - 4)
    await expectClosedBy(b, cut)
    // A header shorter than the fixed 8 bytes.
    await expectClosedBy(b, Buffer.from([0, 0, 0, 3, 0, 3, 0]))
    // A non-nullable string whose length is negative (the topic name of a Fetch).
    const badName = rawFrame(ApiKey.Fetch, 4, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xff, 0xfe]))
    await expectClosedBy(b, badName)
    await bystander.roundTrip()
  })

  it("survives random bodies for every API (each answered or its connection closed)", async () => {
    const { b, bystander } = await setUp()
    let seed = 20_240_601
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff)
    // APIs whose random bodies could change broker state (create/delete topics, commit offsets) are left out.
    const keys = [ApiKey.Produce, ApiKey.Fetch, ApiKey.ListOffsets, ApiKey.Metadata, ApiKey.OffsetFetch, ApiKey.FindCoordinator, ApiKey.Heartbeat, ApiKey.DescribeGroups, ApiKey.ListGroups, ApiKey.ApiVersions, ApiKey.DescribeConfigs]
    let answered = 0
    let closed = 0
    for (let i = 0; i < 60; i++) {
      const apiKey = keys[next() % keys.length]!
      const { minVersion: lo, maxVersion: hi } = SUPPORTED.get(apiKey)!
      const body = Buffer.alloc(next() % 48)
      for (let j = 0; j < body.length; j++) body[j] = next() & 0xff
      const wire = await wires.connect(b.kafkaPort)
      wire.write(rawFrame(apiKey, lo + (next() % (hi - lo + 1)), i, body))
      const frame = await wire.nextFrame(3_000).catch((e: Error) => e)
      if (frame instanceof Error) {
        expect(frame.message).toMatch(/closed/)
        closed++
      } else {
        expect(frame.readInt32BE(0)).toBe(i)
        answered++
      }
      wire.destroy()
    }
    expect(answered + closed).toBe(60)
    expect(closed).toBeGreaterThan(0)
    await bystander.roundTrip()
    expect(failuresLogged()).toEqual([])
  })

  it("closes the connection on a frame size that is negative or over 100 MiB", async () => {
    const { b, bystander } = await setUp()
    const size = (n: number) => {
      const s = Buffer.alloc(4)
      s.writeInt32BE(n)
      return s
    }
    await expectClosedBy(b, size(-1))
    await expectClosedBy(b, size(-2147483648))
    await expectClosedBy(b, Buffer.concat([size(100 * 1024 * 1024 + 1), Buffer.alloc(64)]))
    // Exactly at the limit is allowed: the broker waits for the rest instead of closing.
    const patient = await wires.connect(b.kafkaPort)
    patient.write(Buffer.concat([size(100 * 1024 * 1024), Buffer.alloc(64)]))
    expect(await patient.closedWithin(300)).toBe(false)
    await bystander.roundTrip()
  })

  it("answers pipelined requests in order: a Metadata behind a long-polling Fetch waits for it", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    const started = Date.now()
    const fetchId = wire.send(ApiKey.Fetch, 11, fetch("t", 0, 1_000, 1))
    const metadataId = wire.send(ApiKey.Metadata, 8, metadata(["t"]))
    const apiVersionsId = wire.send(ApiKey.ApiVersions, 3, { clientSoftwareName: "raw", clientSoftwareVersion: "1" })
    const fetched = await wire.response(ApiKey.Fetch, 11, fetchId, 5_000)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(fetched.responses[0]!.partitions[0]!.errorCode).toBe(0)
    expect((fetched.responses[0]!.partitions[0]!.records as Buffer).length).toBe(0)
    const described = await wire.response(ApiKey.Metadata, 8, metadataId, 1_000)
    expect(described.topics.map((t) => t.name)).toEqual(["t"])
    expect((await wire.response(ApiKey.ApiVersions, 3, apiVersionsId, 1_000)).errorCode).toBe(0)
    // Several requests in one TCP write, and one request split over many writes, too.
    const ids = [100, 101, 102]
    wire.write(Buffer.concat(ids.map(metadataFrame)))
    for (const id of ids) expect((await wire.response(ApiKey.Metadata, 8, id)).topics[0]!.name).toBe("t")
    const split = metadataFrame(200)
    for (let at = 0; at < split.length; at += 7) {
      wire.write(split.subarray(at, at + 7))
      await new Promise((r) => setTimeout(r, 1))
    }
    expect((await wire.response(ApiKey.Metadata, 8, 200)).topics[0]!.name).toBe("t")
    await bystander.roundTrip()
  })

  it("stops reading from a client that pipelines requests but does not read the answers, and serves them all once it does", async () => {
    const { b, bystander } = await setUp()
    const writer = await wires.connect(b.kafkaPort)
    const record = "r".repeat(512 * 1024)
    await writer.request(ApiKey.Produce, 8, produce("t", [{ partitionIndex: 0, records: batch(record) }]))
    const reads = vi.spyOn(b.kafka!.context.log, "readBatches")
    const readsOfT = () => reads.mock.calls.filter((c) => c[0] === topicPartition("t", 0)).length
    const greedy = await wires.connect(b.kafkaPort)
    greedy.pauseReading()
    const requests = 200 // 100 MiB of answers
    const ids = Array.from({ length: requests }, () => greedy.send(ApiKey.Fetch, 11, fetch("t", 0)))
    await new Promise((r) => setTimeout(r, 1_000))
    // Stopped after some 16 MiB queued (plus what the kernel buffers), not all 100 MiB.
    const served = readsOfT()
    expect(served).toBeGreaterThan(0)
    expect(served).toBeLessThan(requests / 2)
    await bystander.roundTrip() // others are served meanwhile
    greedy.resumeReading()
    for (const id of ids) {
      const answer = await greedy.response(ApiKey.Fetch, 11, id, 10_000)
      expect(answer.responses[0]!.partitions[0]!.errorCode).toBe(0)
    }
    expect(readsOfT()).toBe(requests)
  })

  it("holds pipelined long polls beyond its limit of waiting requests and answers every one, in order", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    const started = Date.now()
    // 300 Fetches that each wait 400 ms: at most 128 wait at once, the rest are read later.
    const ids = Array.from({ length: 300 }, () => wire.send(ApiKey.Fetch, 11, fetch("t", 0, 400, 1)))
    for (const id of ids) expect((await wire.response(ApiKey.Fetch, 11, id, 5_000)).responses[0]!.partitions[0]!.errorCode).toBe(0)
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 400 - 50)
    expect((await wire.request(ApiKey.Metadata, 8, metadata(["t"]))).topics[0]!.name).toBe("t")
    await bystander.roundTrip()
  })

  it("a Fetch with fewer than minBytes stored waits for more without spinning, and answers once enough arrives", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    const first = batch("small")
    await wire.request(ApiKey.Produce, 8, produce("t", [{ partitionIndex: 0, records: first }]))
    const reads = vi.spyOn(b.kafka!.context.log, "readBatches")
    const readsOfT = () => reads.mock.calls.filter((c) => c[0] === topicPartition("t", 0)).length
    // Not enough, ever: the answer comes at maxWaitMs with what there is, after a read or two.
    let started = Date.now()
    const waited = await wire.request(ApiKey.Fetch, 11, fetch("t", 0, 600, 1_000_000))
    expect(Date.now() - started).toBeGreaterThanOrEqual(550)
    expect((waited.responses[0]!.partitions[0]!.records as Buffer).length).toBe(first.length)
    expect(readsOfT()).toBeLessThanOrEqual(3)
    // Enough arrives while it waits: answered then, with both batches.
    started = Date.now()
    const id = wire.send(ApiKey.Fetch, 11, fetch("t", 0, 5_000, first.length + 1))
    await new Promise((r) => setTimeout(r, 200))
    const producer = await wires.connect(b.kafkaPort)
    const second = batch("more")
    await producer.request(ApiKey.Produce, 8, produce("t", [{ partitionIndex: 0, records: second }]))
    const answered = await wire.response(ApiKey.Fetch, 11, id, 6_000)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect((answered.responses[0]!.partitions[0]!.records as Buffer).length).toBe(first.length + second.length)
    await bystander.roundTrip()
  })

  it("answers CORRUPT_MESSAGE for a batch with a bad CRC while the other partition of the request is stored", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    const corrupt = batch("broken")
    corrupt[corrupt.length - 1]! ^= 0xff // in the record, under the CRC
    const answer = await wire.request(ApiKey.Produce, 8, produce("two", [{ partitionIndex: 0, records: batch("good") }, { partitionIndex: 1, records: corrupt }]))
    const [p0, p1] = answer.responses[0]!.partitions
    expect(p0).toMatchObject({ partitionIndex: 0, errorCode: 0, baseOffset: 0 })
    expect(p1).toMatchObject({ partitionIndex: 1, errorCode: ErrorCode.CORRUPT_MESSAGE, baseOffset: -1 })
    // Garbage where a batch should be, and no batch at all, are corrupt too.
    const garbage = await wire.request(ApiKey.Produce, 8, produce("two", [{ partitionIndex: 1, records: Buffer.from("not a record batch at all, clearly") }, { partitionIndex: 0, records: null }]))
    expect(garbage.responses[0]!.partitions.map((p) => p.errorCode)).toEqual([ErrorCode.CORRUPT_MESSAGE, ErrorCode.CORRUPT_MESSAGE])
    const ends = await clients.admin(kafkaClient(b.kafkaPort)).then((a) => a.fetchTopicOffsets("two"))
    expect(Object.fromEntries(ends.map((e) => [e.partition, e.high]))).toEqual({ 0: "1", 1: "0" })
    await bystander.roundTrip()
  })

  it("refuses batches no consumer could read: an unknown compression codec, zstd before Produce v7", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    /** `batch(...)` relabelled with compression `codec` (bits 0-2 of the attributes), its CRC redone. */
    const withCodec = (codec: number): Buffer => {
      const x = batch("payload")
      x.writeInt16BE(codec, 21)
      x.writeUInt32BE(crc32c(x.subarray(21)), 17)
      return x
    }
    for (const codec of [5, 6, 7]) {
      const answer = await wire.request(ApiKey.Produce, 8, produce("t", [{ partitionIndex: 0, records: withCodec(codec) }]))
      expect(answer.responses[0]!.partitions[0]!.errorCode, `codec ${codec}`).toBe(ErrorCode.CORRUPT_MESSAGE)
    }
    const zstdOld = await wire.request(ApiKey.Produce, 6, produce("t", [{ partitionIndex: 0, records: withCodec(4) }]))
    expect(zstdOld.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)
    expect((await wire.request(ApiKey.Fetch, 11, fetch("t", 0))).responses[0]!.partitions[0]!.highWatermark).toBe(0)
    await bystander.roundTrip()
  })

  it("answers UNKNOWN_TOPIC_OR_PARTITION for an unknown partition or topic, INVALID_REQUIRED_ACKS for acks=2", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    const unknown = await wire.request(ApiKey.Produce, 8, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5_000,
      topics: [
        { name: "t", partitions: [{ partitionIndex: 5, records: batch("x") }, { partitionIndex: -1, records: batch("x") }, { partitionIndex: 0, records: batch("ok") }] },
        { name: "no-such-topic", partitions: [{ partitionIndex: 0, records: batch("x") }] }
      ]
    })
    expect(unknown.responses.map((t) => [t.name, t.partitions.map((p) => p.errorCode)])).toEqual([
      ["t", [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 0]],
      ["no-such-topic", [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]
    ])
    const acks2 = await wire.request(ApiKey.Produce, 8, produce("t", [{ partitionIndex: 0, records: batch("y") }], 2))
    expect(acks2.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.INVALID_REQUIRED_ACKS)
    // Nothing but "ok" was stored.
    const fetched = await wire.request(ApiKey.Fetch, 11, fetch("t", 0))
    expect(fetched.responses[0]!.partitions[0]!.highWatermark).toBe(1)
    await bystander.roundTrip()
  })

  it("answers OFFSET_OUT_OF_RANGE for a Fetch beyond the high watermark (and at once, without long-polling)", async () => {
    const { b, bystander } = await setUp()
    const wire = await wires.connect(b.kafkaPort)
    await wire.request(ApiKey.Produce, 8, produce("t", [{ partitionIndex: 0, records: batch("a", "b") }]))
    const started = Date.now()
    const beyond = await wire.request(ApiKey.Fetch, 11, fetch("t", 3, 2_000, 1))
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(beyond.responses[0]!.partitions[0]).toMatchObject({ errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark: 2 })
    const negative = await wire.request(ApiKey.Fetch, 11, fetch("t", -5))
    expect(negative.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE)
    // At the high watermark is not out of range: an empty answer.
    const atEnd = await wire.request(ApiKey.Fetch, 11, fetch("t", 2))
    expect(atEnd.responses[0]!.partitions[0]).toMatchObject({ errorCode: 0, highWatermark: 2 })
    const unknown = await wire.request(ApiKey.Fetch, 11, fetch("nope", 0))
    expect(unknown.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    await bystander.roundTrip()
  })

  it("a client that vanishes during a long-polling Fetch, or mid-frame, costs nothing; shutdown stops every handler", async () => {
    const b = await broker({ storage: "sqlite" })
    const admin = await clients.admin(kafkaClient(b.kafkaPort, "setup"))
    await admin.createTopics({ topics: [{ topic: "t" }] })
    const { roundTrip, disconnect } = await bystander(b)
    const writer = await wires.connect(b.kafkaPort)
    await writer.request(ApiKey.Produce, 8, produce("t", [{ partitionIndex: 0, records: batch("stored") }]))
    // With minBytes above what is stored, a Fetch reads the partition, waits, and reads it again
    // at maxWaitMs: counting the reads of t-0 shows whether a handler is still running.
    const reads = vi.spyOn(b.kafka!.context.log, "readBatches")
    const readsOfT = () => reads.mock.calls.filter((c) => c[0] === topicPartition("t", 0)).length
    const longPoll = fetch("t", 0, 800, 1_000_000)
    for (let i = 0; i < 3; i++) {
      const before = readsOfT()
      const wire = await wires.connect(b.kafkaPort)
      wire.send(ApiKey.Fetch, 11, longPoll)
      wire.write(rawFrame(ApiKey.Metadata, 8, 9).subarray(0, 9)) // and half a frame behind it
      await waitFor(() => readsOfT() > before, 2_000, () => "the Fetch's first read")
      wire.destroy()
    }
    const afterVanishing = readsOfT()
    await new Promise((r) => setTimeout(r, 1_000)) // past maxWaitMs
    expect(readsOfT()).toBe(afterVanishing)
    await roundTrip()
    await disconnect()
    await admin.disconnect()
    // A Fetch still long-polling when the broker stops is interrupted before the storage closes.
    const polling = await wires.connect(b.kafkaPort)
    polling.send(ApiKey.Fetch, 11, longPoll)
    await waitFor(() => readsOfT() > afterVanishing, 2_000, () => "the Fetch's first read")
    const beforeStop = readsOfT()
    await b.stop()
    expect(await polling.closedWithin(1_000)).toBe(true)
    await new Promise((r) => setTimeout(r, 1_000)) // past maxWaitMs
    expect(readsOfT()).toBe(beforeStop)
    expect(failuresLogged()).toEqual([])
  })
})
