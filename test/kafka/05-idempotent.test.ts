/**
 * The kafkajs idempotent producer (InitProducerId, per-partition sequence numbers): its records
 * are stored exactly once, including when a Produce response is lost on the way back and the
 * client sends the same batch again on a new connection (the broker answers the retry with the
 * first copy's offset instead of appending it twice).
 */
import { describe, expect, it } from "vitest"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, kafkaClient, produceResponseTap, useKafkaClients } from "../support/kafka.js"

/**
 * A kafkajs socket factory that loses the response to the first Produce request it sends: the
 * request reaches the broker, then the connection fails before the answer is delivered.
 * `produceRequests` counts the Produce frames written, retries included.
 */
const losingFirstProduceResponse = () => {
  const stats = { produceRequests: 0, lost: 0 }
  const factory = produceResponseTap(() => {
    stats.produceRequests++
    return stats.lost === 0 ? "fail" : "deliver"
  }, () => stats.lost++)
  return { factory, stats }
}

describe("kafkajs idempotent producer", () => {
  const { broker } = useBrokers()
  const clients = useKafkaClients()

  it("produces over several partitions; every record is readable exactly once, in order", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "once", numPartitions: 3 }] })
    const producer = await clients.producer(kafka, { idempotent: true, maxInFlightRequests: 1 })
    for (let s = 0; s < 5; s++) {
      const sent = await producer.send({
        topic: "once",
        acks: -1,
        messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 7}`, value: String(s * 20 + i) }))
      })
      expect(sent.every((r) => r.errorCode === 0)).toBe(true)
    }
    const consumer = await clients.consumer(kafka, { groupId: "g-once" })
    const got = await consumeN(consumer, "once", 100)
    expect(got.map((m) => Number(m.value)).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i))
    for (let p = 0; p < 3; p++) {
      const inPartition = got.filter((m) => m.partition === p)
      expect(inPartition.map((m) => m.offset)).toEqual(inPartition.map((_, i) => i))
      const values = inPartition.map((m) => Number(m.value))
      expect(values).toEqual([...values].sort((x, y) => x - y))
    }
    expect((await admin.fetchTopicOffsets("once")).reduce((n, p) => n + Number(p.high), 0)).toBe(100)
  })

  it("stores a batch once when its response is lost and kafkajs sends it again", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: "retried" }] })
    const { factory, stats } = losingFirstProduceResponse()
    const kafka = kafkaClient(b.kafkaPort, "lossy-producer", { socketFactory: factory })
    const producer = await clients.producer(kafka, { idempotent: true, maxInFlightRequests: 1 })
    const first = await producer.send({ topic: "retried", acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `a${i}` })) })
    expect(stats.lost).toBe(1)
    expect(stats.produceRequests).toBe(2) // the original and the retry, same producer id and sequence
    expect(first).toEqual([expect.objectContaining({ partition: 0, errorCode: 0, baseOffset: "0" })])
    const second = await producer.send({ topic: "retried", acks: -1, messages: [{ value: "b0" }] })
    expect(second).toEqual([expect.objectContaining({ partition: 0, errorCode: 0, baseOffset: "10" })])

    expect(await admin.fetchTopicOffsets("retried")).toEqual([{ partition: 0, offset: "11", high: "11", low: "0" }])
    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "g-retried" })
    const got = await consumeN(consumer, "retried", 11)
    expect(got.map((m) => m.value)).toEqual([...Array.from({ length: 10 }, (_, i) => `a${i}`), "b0"])
  })
})
