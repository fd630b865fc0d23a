/**
 * Committed group offsets across a broker restart on segment-file storage: a consumer commits
 * part of a topic and stops, the broker restarts on the same data dir, and a new consumer of
 * the same group continues exactly after the committed offsets. OffsetFetch (admin.fetchOffsets)
 * answers the same before and after; offsets set with admin.setOffsets survive too; the topic's
 * partitions and the log's offsets carry on; a deleted topic's offsets stay forgotten; and a
 * consumer left running through the restart reconnects, rejoins and reads on.
 */
import type { Admin, Consumer } from "kafkajs"
import { describe, expect, it } from "vitest"
import { useBrokers } from "../support/lifecycle.js"
import { type ConsumedMessage, consumeN, kafkaClient, useKafkaClients, waitFor, withTimeout } from "../support/kafka.js"

const TOPIC = "durable"

/** The group's committed offsets on TOPIC as [partition, offset] pairs. */
const committed = async (admin: Admin, groupId: string) => {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [TOPIC] })
  return offsets!.partitions.map((p) => [p.partition, Number(p.offset)]).sort((x, y) => x[0]! - y[0]!)
}

/** Runs `consumer` from the group's committed offsets until `n` records arrived, and stops it. */
const consumeCommitted = (consumer: Consumer, n: number) => consumeN(consumer, TOPIC, n)

const byPartition = (got: ReadonlyArray<ConsumedMessage>, partition: number) =>
  got.filter((m) => m.partition === partition).map((m) => [m.offset, m.value])

describe("kafkajs group offsets across a restart (segment storage)", () => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()

  it("a new consumer of the group continues exactly after the offsets committed before the restart", async () => {
    let b = await broker({ storage: "segment" })
    let kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2 }] })
    const producer = await clients.producer(kafka)
    const produce = async (from: number, count: number) => {
      // Alternating partitions: record i goes to partition i % 2 at offset floor(i / 2).
      const messages = Array.from({ length: count }, (_, k) => ({ partition: (from + k) % 2, value: `r${from + k}` }))
      await producer.send({ topic: TOPIC, acks: -1, messages })
    }
    await produce(0, 60)

    // The first consumer reads all 60 and commits after each batch; then it stops (and leaves).
    const first = await clients.consumer(kafka, { groupId: "g-durable" })
    expect(await consumeCommitted(first, 60)).toHaveLength(60)
    await waitFor(async () => JSON.stringify(await committed(admin, "g-durable")) === "[[0,30],[1,30]]", 5_000, () => "commits at 30/30")
    await withTimeout(first.disconnect(), 5_000, "first consumer disconnect")

    // A second group positioned by the admin client (a short-lived member seeks and commits;
    // kafkajs spends its 5 s default maxWaitTime on that member's paused fetch).
    await admin.setOffsets({ groupId: "g-set", topic: TOPIC, partitions: [{ partition: 0, offset: "10" }, { partition: 1, offset: "25" }] })
    expect(await committed(admin, "g-set")).toEqual([[0, 10], [1, 25]])

    await produce(60, 40) // 20 more per partition, not consumed yet
    b = adopt(await b.restart())
    kafka = kafkaClient(b.kafkaPort)

    const after = await clients.admin(kafka)
    expect(await committed(after, "g-durable")).toEqual([[0, 30], [1, 30]])
    expect(await committed(after, "g-set")).toEqual([[0, 10], [1, 25]])
    const metadata = await after.fetchTopicMetadata({ topics: [TOPIC] })
    expect(metadata.topics[0]!.partitions).toHaveLength(2)

    const next = await clients.consumer(kafka, { groupId: "g-durable" })
    const resumed = await consumeCommitted(next, 40)
    expect(byPartition(resumed, 0)).toEqual(Array.from({ length: 20 }, (_, k) => [30 + k, `r${60 + 2 * k}`]))
    expect(byPartition(resumed, 1)).toEqual(Array.from({ length: 20 }, (_, k) => [30 + k, `r${61 + 2 * k}`]))
    await waitFor(async () => JSON.stringify(await committed(after, "g-durable")) === "[[0,50],[1,50]]", 5_000, () => "commits at 50/50")

    const positioned = await clients.consumer(kafka, { groupId: "g-set" })
    const fromSet = await consumeCommitted(positioned, 40 + 25)
    expect(byPartition(fromSet, 0).map(([o]) => o)).toEqual(Array.from({ length: 40 }, (_, k) => 10 + k))
    expect(byPartition(fromSet, 1).map(([o]) => o)).toEqual(Array.from({ length: 25 }, (_, k) => 25 + k))

    // The log's offsets carry on after the restart too.
    const again = await clients.producer(kafka)
    const sent = await again.send({ topic: TOPIC, messages: [{ partition: 0, value: "after" }] })
    expect(sent[0]).toMatchObject({ partition: 0, errorCode: 0, baseOffset: "50" })
  })

  it("a consumer running through the restart rejoins and reads on from its commits, nothing twice", async () => {
    let b = await broker({ storage: "segment" })
    // Retries that outlast a restart on a loaded machine (the test's default gives up in ~1 s).
    const kafka = kafkaClient(b.kafkaPort, "robustmq-test", { retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 } })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ value: `v${i}` })) })
    const admin = await clients.admin(kafka)
    const consumer = await clients.consumer(kafka, { groupId: "g-through" })
    const got: Array<string> = []
    let crashed = false
    consumer.on(consumer.events.CRASH, () => void (crashed = true))
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) })
    await waitFor(() => got.length === 20, 10_000, () => `20 records, got ${got.length}`)
    await waitFor(async () => JSON.stringify(await committed(admin, "g-through")) === "[[0,20]]", 5_000, () => "commit at 20")

    // Same port and data dir: the clients reconnect by themselves.
    b = adopt(await b.restart())
    await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ value: `v${20 + i}` })) })
    await waitFor(() => got.length >= 25, 15_000, () => `25 records, got ${got.length}`)
    await waitFor(async () => JSON.stringify(await committed(admin, "g-through")) === "[[0,25]]", 5_000, () => "commit at 25")
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => `v${i}`))
    expect(crashed).toBe(false)
  })

  it("a deleted topic's group offsets stay forgotten after a restart", async () => {
    let b = await broker({ storage: "segment" })
    let kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: TOPIC }, { topic: "other" }] })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 4 }, (_, i) => ({ value: `old ${i}` })) })
    await producer.send({ topic: "other", acks: -1, messages: [{ value: "x" }] })
    const consumer = await clients.consumer(kafka, { groupId: "g-forget" })
    await consumer.subscribe({ topics: [TOPIC, "other"], fromBeginning: true })
    let seen = 0
    await consumer.run({ eachMessage: async () => void seen++ })
    await waitFor(() => seen === 5, 10_000, () => `5 records, got ${seen}`)
    await waitFor(async () => JSON.stringify(await committed(admin, "g-forget")) === "[[0,4]]", 5_000, () => "commit at 4")
    await withTimeout(consumer.disconnect(), 5_000, "consumer disconnect")
    await admin.deleteTopics({ topics: [TOPIC] })

    b = adopt(await b.restart())
    kafka = kafkaClient(b.kafkaPort)
    const again = await clients.admin(kafka)
    expect(await again.listTopics()).not.toContain(TOPIC)
    await again.createTopics({ topics: [{ topic: TOPIC }] })
    const offsets = await again.fetchOffsets({ groupId: "g-forget", topics: [TOPIC, "other"] })
    expect(offsets.map((t) => [t.topic, t.partitions.map((p) => p.offset)]).sort()).toEqual([["durable", ["-1"]], ["other", ["1"]]])
  })
})
