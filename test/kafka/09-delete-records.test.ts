/**
 * DeleteRecords (kafkajs admin.deleteTopicRecords and raw frames) on memory, SQLite and segment
 * storage: the log start offset becomes exactly the offset asked for, even inside a stored
 * batch (ListOffsets earliest, Fetch's logStartOffset, the answer's low watermark); a consumer
 * from the beginning starts there; a fetch below it is OFFSET_OUT_OF_RANGE; -1 means the high
 * watermark; beyond it is OFFSET_OUT_OF_RANGE, below the start changes nothing; unknown topics
 * and partitions are refused. The new start survives a restart, storage frees the batches
 * wholly below it, and a topic deleted and created again starts from 0.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { topicPartition } from "../../domain/ids.js"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { ApiKey, type FetchRequest } from "../../src/kafka/protocol/index.js"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, kafkaClient, useKafkaClients } from "../support/kafka.js"
import { type KafkaWire, useKafkaWires } from "../support/KafkaWire.js"
import type { TestBroker } from "../support/TestBroker.js"

const TOPIC = "trim"

const fetchAt = (fetchOffset: number): FetchRequest => ({
  replicaId: -1,
  maxWaitMs: 0,
  minBytes: 0,
  maxBytes: 1_000_000,
  isolationLevel: 0,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset, logStartOffset: -1, partitionMaxBytes: 1_000_000 }] }],
  forgottenTopicsData: [],
  rackId: ""
})

const earliest = async (wire: KafkaWire, partitionIndex = 0) => {
  const answer = await wire.request(ApiKey.ListOffsets, 5, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex, currentLeaderEpoch: -1, timestamp: -2 }] }]
  })
  return answer.topics[0]!.partitions[0]!.offset
}

const deleteRecords = async (wire: KafkaWire, topic: string, partitions: Array<[number, number]>, version = 1) => {
  const answer = await wire.request(ApiKey.DeleteRecords, version, {
    topics: [{ name: topic, partitions: partitions.map(([partitionIndex, offset]) => ({ partitionIndex, offset })) }],
    timeoutMs: 5_000
  })
  expect(answer.topics.map((t) => t.name)).toEqual([topic])
  return answer.topics[0]!.partitions.map((p) => [p.partitionIndex, p.errorCode, p.lowWatermark])
}

/** Partition 0 gets three batches of ten records (offsets 0-29), partition 1 five records. */
const fill = async (b: TestBroker, clients: ReturnType<typeof useKafkaClients>) => {
  const kafka = kafkaClient(b.kafkaPort)
  const admin = await clients.admin(kafka)
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2 }] })
  const producer = await clients.producer(kafka)
  for (let batch = 0; batch < 3; batch++) {
    await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `p0-${batch * 10 + i}` })) })
  }
  await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ partition: 1, value: `p1-${i}` })) })
  return admin
}

const offsetsFrom = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe.each(["memory", "sqlite", "segment"] as const)("DeleteRecords (%s storage)", (storage) => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()
  const wires = useKafkaWires()

  it("kafkajs deleteTopicRecords: the low watermark is exactly the offset, and a consumer from the beginning starts there", async () => {
    const b = await broker({ storage })
    const admin = await fill(b, clients)
    // kafkajs looks up partition leaders in the metadata it holds before fetching any: it must
    // know the topic first (as against Kafka).
    await admin.fetchTopicMetadata({ topics: [TOPIC] })
    // 15 lies inside the stored batch 10-19.
    await admin.deleteTopicRecords({ topic: TOPIC, partitions: [{ partition: 0, offset: "15" }] })
    expect(await admin.fetchTopicOffsets(TOPIC)).toEqual([
      { partition: 0, offset: "30", high: "30", low: "15" },
      { partition: 1, offset: "5", high: "5", low: "0" }
    ])
    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "g-trim" })
    const got = await consumeN(consumer, TOPIC, 20)
    expect(got.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual(offsetsFrom(15, 30))
    expect(got.filter((m) => m.partition === 0).map((m) => m.value)).toEqual(offsetsFrom(15, 30).map((o) => `p0-${o}`))
    expect(got.filter((m) => m.partition === 1).map((m) => m.offset)).toEqual(offsetsFrom(0, 5))

    // -1: everything up to the high watermark.
    await admin.deleteTopicRecords({ topic: TOPIC, partitions: [{ partition: 1, offset: "-1" }] })
    expect((await admin.fetchTopicOffsets(TOPIC))[1]).toEqual({ partition: 1, offset: "5", high: "5", low: "5" })
  })

  it("raw frames: range checks, unknown partitions, Fetch below the start, ListOffsets earliest", async () => {
    const b = await broker({ storage })
    await fill(b, clients)
    const wire = await wires.connect(b.kafkaPort)
    for (const version of [0, 1]) {
      expect(await deleteRecords(wire, TOPIC, [[0, 31], [0, -2]], version)).toEqual([
        [0, ErrorCode.OFFSET_OUT_OF_RANGE, -1],
        [0, ErrorCode.OFFSET_OUT_OF_RANGE, -1]
      ])
    }
    expect(await deleteRecords(wire, TOPIC, [[0, 15], [1, 0], [2, 0]])).toEqual([
      [0, ErrorCode.NONE, 15],
      [1, ErrorCode.NONE, 0],
      [2, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1]
    ])
    expect(await deleteRecords(wire, "no-such-topic", [[0, 0]])).toEqual([[0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1]])
    // Below the start: nothing changes, the answer says where the start is.
    expect(await deleteRecords(wire, TOPIC, [[0, 12]])).toEqual([[0, ErrorCode.NONE, 15]])
    expect(await earliest(wire)).toBe(15)

    const below = (await wire.request(ApiKey.Fetch, 11, fetchAt(14))).responses[0]!.partitions[0]!
    expect(below).toMatchObject({ errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark: 30, logStartOffset: 15 })
    const at = (await wire.request(ApiKey.Fetch, 11, fetchAt(15))).responses[0]!.partitions[0]!
    expect(at).toMatchObject({ errorCode: ErrorCode.NONE, highWatermark: 30, logStartOffset: 15 })
    expect((at.records as Buffer).length).toBeGreaterThan(0)

    // Storage frees the batch wholly below the new start and keeps the one straddling it.
    const stored = await Effect.runPromise(b.kafka!.context.log.startOffset(topicPartition(TOPIC, 0)))
    expect(stored).toBe(10)
  })

  it.skipIf(storage === "memory")("the new log start survives a restart; a topic created again starts from 0", async () => {
    let b = await broker({ storage })
    const admin = await fill(b, clients)
    await admin.fetchTopicMetadata({ topics: [TOPIC] })
    await admin.deleteTopicRecords({ topic: TOPIC, partitions: [{ partition: 0, offset: "25" }] })
    b = adopt(await b.restart())
    const after = await clients.admin(kafkaClient(b.kafkaPort))
    expect((await after.fetchTopicOffsets(TOPIC))[0]).toEqual({ partition: 0, offset: "30", high: "30", low: "25" })
    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "g-after" })
    const got = await consumeN(consumer, TOPIC, 10)
    expect(got.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual(offsetsFrom(25, 30))

    await after.deleteTopics({ topics: [TOPIC] })
    await after.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }] })
    const producer = await clients.producer(kafkaClient(b.kafkaPort))
    await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: "again" }] })
    expect(await after.fetchTopicOffsets(TOPIC)).toEqual([{ partition: 0, offset: "1", high: "1", low: "0" }])
    b = adopt(await b.restart())
    const again = await clients.admin(kafkaClient(b.kafkaPort))
    expect(await again.fetchTopicOffsets(TOPIC)).toEqual([{ partition: 0, offset: "1", high: "1", low: "0" }])
  })
})
