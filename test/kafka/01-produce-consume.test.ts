/**
 * kafkajs against the broker: produce with keys and headers, consume from the beginning, gzip
 * batches, acks 0/1/-1, auto-created topics, several partitions, and a Fetch long poll that
 * answers as soon as a record arrives.
 */
import { CompressionTypes } from "kafkajs"
import { describe, expect, it } from "vitest"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, kafkaClient, useKafkaClients, waitFor } from "../support/kafka.js"

describe("kafkajs produce and consume", () => {
  const { broker } = useBrokers()
  const clients = useKafkaClients()

  it("produces keyed records with headers and consumes them from the beginning, in order", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const producer = await clients.producer(kafka)
    const sent = await producer.send({
      topic: "orders",
      acks: 1,
      messages: [
        { key: "k1", value: "one", headers: { source: "test", trace: "a" } },
        { key: "k2", value: "two" },
        { key: null, value: "three" }
      ]
    })
    expect(sent[0]!.errorCode).toBe(0)
    expect(sent[0]!.baseOffset).toBe("0")
    const consumer = await clients.consumer(kafka, { groupId: "g-orders" })
    const got = await consumeN(consumer, "orders", 3)
    expect(got.map((m) => [m.offset, m.key, m.value])).toEqual([[0, "k1", "one"], [1, "k2", "two"], [2, null, "three"]])
    expect(got[0]!.headers).toEqual({ source: "test", trace: "a" })
  })

  it("accepts gzip-compressed batches and serves them back", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const producer = await clients.producer(kafka)
    const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `value ${i} `.repeat(20) }))
    await producer.send({ topic: "zipped", compression: CompressionTypes.GZIP, messages })
    const consumer = await clients.consumer(kafka, { groupId: "g-zipped" })
    const got = await consumeN(consumer, "zipped", 50)
    expect(got.map((m) => m.value)).toEqual(messages.map((m) => m.value))
  })

  it("answers acks=-1 and acks=0 producers; every record is readable", async () => {
    const b = await broker({ storage: "sqlite" })
    const kafka = kafkaClient(b.kafkaPort)
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "acks", acks: -1, messages: [{ value: "all" }] })
    await producer.send({ topic: "acks", acks: 0, messages: [{ value: "none" }] })
    await producer.send({ topic: "acks", acks: 1, messages: [{ value: "leader" }] })
    const consumer = await clients.consumer(kafka, { groupId: "g-acks" })
    const got = await consumeN(consumer, "acks", 3)
    expect(got.map((m) => m.value)).toEqual(["all", "none", "leader"])
  })

  it("spreads keys over partitions like Kafka's default partitioner and keeps per-key order", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "spread", numPartitions: 3 }] })
    const producer = await clients.producer(kafka)
    const messages = Array.from({ length: 60 }, (_, i) => ({ key: `device-${i % 6}`, value: String(i) }))
    await producer.send({ topic: "spread", messages })
    const consumer = await clients.consumer(kafka, { groupId: "g-spread" })
    const got = await consumeN(consumer, "spread", 60)
    expect(new Set(got.map((m) => m.partition)).size).toBeGreaterThan(1)
    for (let d = 0; d < 6; d++) {
      const values = got.filter((m) => m.key === `device-${d}`).map((m) => Number(m.value))
      expect(values).toEqual([...values].sort((x, y) => x - y))
      expect(new Set(got.filter((m) => m.key === `device-${d}`).map((m) => m.partition)).size).toBe(1)
    }
  })

  it("a consumer waiting on an empty topic gets a record as soon as it is produced", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "live" }] })
    const consumer = await clients.consumer(kafka, { groupId: "g-live", maxWaitTimeInMs: 5_000 })
    let fetches = 0
    consumer.on(consumer.events.FETCH_START, () => fetches++)
    let arrivedAt = 0
    await consumer.subscribe({ topic: "live", fromBeginning: true })
    await consumer.run({
      eachMessage: async () => {
        arrivedAt ||= Date.now()
      }
    })
    // The consumer has joined and a Fetch is now long-polling (up to 5 s) on the empty topic.
    await waitFor(() => fetches >= 1, 10_000, () => "the consumer's first fetch")
    await new Promise((r) => setTimeout(r, 200))
    const producer = await clients.producer(kafka)
    const sentAt = Date.now()
    await producer.send({ topic: "live", messages: [{ value: "now" }] })
    await waitFor(() => arrivedAt > 0, 10_000, () => "the record to arrive")
    // Well inside the 5 s long poll: the append woke the waiting Fetch.
    expect(arrivedAt - sentAt).toBeLessThan(1_000)
  })

})
