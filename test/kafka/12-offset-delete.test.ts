/**
 * OffsetDelete over raw frames (kafkajs has no API for it; librdkafka's
 * DeleteConsumerGroupOffsets and `kafka-consumer-groups --delete-offsets` send the same
 * request), checked with kafkajs admin.fetchOffsets: an empty group's offsets go for the
 * partitions asked for and stay gone after a restart; unknown topics and partitions are
 * UNKNOWN_TOPIC_OR_PARTITION, an unknown group GROUP_ID_NOT_FOUND, and a running kafkajs
 * consumer group keeps the offsets of the topic it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).
 */
import type { Admin } from "kafkajs"
import { describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { useBrokers } from "../support/lifecycle.js"
import { kafkaClient, useKafkaClients, waitFor } from "../support/kafka.js"
import { type KafkaWire, useKafkaWires } from "../support/KafkaWire.js"
import type { TestBroker } from "../support/TestBroker.js"

const offsetDelete = (wire: KafkaWire, groupId: string, topics: Record<string, Array<number>>) =>
  wire.request(ApiKey.OffsetDelete, 0, {
    groupId,
    topics: Object.entries(topics).map(([name, partitions]) => ({ name, partitions: partitions.map((partitionIndex) => ({ partitionIndex })) }))
  })

/** Commits from outside group management (generation -1), as admin tools do for an empty group. */
const commitOffsets = async (wire: KafkaWire, groupId: string, offsets: Array<[string, number, number]>) => {
  const answer = await wire.request(ApiKey.OffsetCommit, 2, {
    groupId,
    generationId: -1,
    memberId: "",
    groupInstanceId: null,
    retentionTimeMs: -1,
    topics: [...new Set(offsets.map(([t]) => t))].map((name) => ({
      name,
      partitions: offsets.filter(([t]) => t === name).map(([, partitionIndex, committedOffset]) => ({
        partitionIndex,
        committedOffset,
        committedLeaderEpoch: -1,
        commitTimestamp: -1,
        committedMetadata: null
      }))
    }))
  })
  expect(answer.topics.flatMap((t) => t.partitions.map((p) => p.errorCode))).toEqual(offsets.map(() => 0))
}

/** The group's committed offsets as "topic-partition@offset" (-1: none). */
const committed = async (admin: Admin, groupId: string, topics: Array<string>) => {
  const offsets = await admin.fetchOffsets({ groupId, topics })
  return offsets.flatMap((t) => t.partitions.map((p) => `${t.topic}-${p.partition}@${p.offset}`)).sort()
}

describe("OffsetDelete", () => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()
  const wires = useKafkaWires()

  it("deletes an empty group's offsets for the partitions asked for, durably; unknown ones are refused", async () => {
    let b: TestBroker = await broker({ storage: "sqlite" })
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: "a", numPartitions: 2 }, { topic: "b" }] })
    const wire = await wires.connect(b.kafkaPort)
    await commitOffsets(wire, "g-del", [["a", 0, 3], ["a", 1, 4], ["b", 0, 5]])
    expect(await committed(admin, "g-del", ["a", "b"])).toEqual(["a-0@3", "a-1@4", "b-0@5"])

    const answer = await offsetDelete(wire, "g-del", { a: [0, 7], b: [0], nope: [0] })
    expect(answer).toEqual({
      errorCode: ErrorCode.NONE,
      throttleTimeMs: 0,
      topics: [
        { name: "a", partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 7, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
        { name: "b", partitions: [{ partitionIndex: 0, errorCode: 0 }] },
        { name: "nope", partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] }
      ]
    })
    expect(await committed(admin, "g-del", ["a", "b"])).toEqual(["a-0@-1", "a-1@4", "b-0@-1"])

    expect(await offsetDelete(wire, "no-such-group", { a: [0], nope: [1] })).toEqual({
      errorCode: ErrorCode.GROUP_ID_NOT_FOUND,
      throttleTimeMs: 0,
      topics: [{ name: "nope", partitions: [{ partitionIndex: 1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] }]
    })

    b = adopt(await b.restart())
    const after = await clients.admin(kafkaClient(b.kafkaPort))
    expect(await committed(after, "g-del", ["a", "b"])).toEqual(["a-0@-1", "a-1@4", "b-0@-1"])
  })

  it("a running consumer group keeps the offsets of the topics it subscribes to", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "live" }, { topic: "other" }] })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "live", acks: -1, messages: [{ value: "x" }, { value: "y" }] })
    // An offset for a topic the group will not subscribe to, committed while it is empty.
    const wire = await wires.connect(b.kafkaPort)
    await commitOffsets(wire, "g-live", [["other", 0, 1]])

    const consumer = await clients.consumer(kafka, { groupId: "g-live" })
    await consumer.subscribe({ topic: "live", fromBeginning: true })
    let seen = 0
    await consumer.run({ eachMessage: async () => void seen++ })
    await waitFor(() => seen === 2, 10_000, () => `2 messages, got ${seen}`)
    await waitFor(async () => (await committed(admin, "g-live", ["live"])).join() === "live-0@2", 5_000, () => "the commit at 2")
    const answer = await offsetDelete(wire, "g-live", { live: [0], other: [0] })
    expect(answer.errorCode).toBe(ErrorCode.NONE)
    expect(answer.topics).toEqual([
      { name: "live", partitions: [{ partitionIndex: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }] },
      { name: "other", partitions: [{ partitionIndex: 0, errorCode: 0 }] }
    ])
    expect(await committed(admin, "g-live", ["live", "other"])).toEqual(["live-0@2", "other-0@-1"])

    // Once the group is empty, its offsets may go.
    await consumer.disconnect()
    await waitFor(async () => (await admin.describeGroups(["g-live"])).groups[0]!.state === "Empty", 5_000, () => "g-live empty")
    expect((await offsetDelete(wire, "g-live", { live: [0] })).topics).toEqual([{ name: "live", partitions: [{ partitionIndex: 0, errorCode: 0 }] }])
    expect(await committed(admin, "g-live", ["live"])).toEqual(["live-0@-1"])
  })
})
