/**
 * Per-topic configs reach storage: `robustmq.storage` places a topic's partitions on another
 * storage kind (checked across a restart: a memory topic starts empty again, a SQLite one keeps
 * its records), `retention.ms` ages a topic's old batches out, and
 * `message.timestamp.type=LogAppendTime` gives records the broker's append time.
 */
import { describe, expect, it } from "vitest"
import { consumeN, kafkaClient, useKafkaClients, waitFor } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"

describe("per-topic storage config", () => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()

  it("a topic with robustmq.storage=memory forgets its records on restart; the default (segment) keeps them", async () => {
    const b = await broker({ storage: "segment" })
    let kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({
      topics: [
        { topic: "scratch", configEntries: [{ name: "robustmq.storage", value: "memory" }] },
        { topic: "kept" }
      ]
    })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "scratch", acks: -1, messages: [{ value: "gone" }] })
    await producer.send({ topic: "kept", acks: -1, messages: [{ value: "stays" }] })
    await producer.disconnect()
    await admin.disconnect()

    const again = adopt(await b.restart())
    kafka = kafkaClient(again.kafkaPort)
    const admin2 = await clients.admin(kafka)
    const [scratch] = await admin2.fetchTopicOffsets("scratch")
    const [kept] = await admin2.fetchTopicOffsets("kept")
    expect([scratch!.low, scratch!.high]).toEqual(["0", "0"])
    expect([kept!.low, kept!.high]).toEqual(["0", "1"])
    const described = await admin2.describeConfigs({
      resources: [{ type: 2, name: "scratch", configNames: ["robustmq.storage"] }],
      includeSynonyms: false
    })
    expect(described.resources[0]!.configEntries[0]).toMatchObject({ configName: "robustmq.storage", configValue: "memory", isDefault: false })
    const got = await consumeN(await clients.consumer(kafka, { groupId: "k" }), "kept", 1)
    expect(got[0]!.value).toBe("stays")
  })

  it("retention.ms on a topic deletes its old batches (the newest batch stays)", async () => {
    const b = await broker({ storage: "sqlite" })
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "short", configEntries: [{ name: "retention.ms", value: "1000" }] }] })
    const producer = await clients.producer(kafka)
    const old = Date.now() - 60_000
    await producer.send({ topic: "short", messages: [{ value: "old-1", timestamp: String(old) }] })
    await producer.send({ topic: "short", messages: [{ value: "old-2", timestamp: String(old) }] })
    await producer.send({ topic: "short", messages: [{ value: "new", timestamp: String(Date.now()) }] })
    await waitFor(async () => {
      await b.runRetention() // the fiber itself runs every 30 s
      const [p] = await admin.fetchTopicOffsets("short")
      return p!.low === "2"
    }, 10_000, () => "low watermark of short to reach 2")
    const got = await consumeN(await clients.consumer(kafka, { groupId: "s" }), "short", 1)
    expect(got.map((m) => m.value)).toEqual(["new"])
  })

  it("message.timestamp.type=LogAppendTime stamps records with the broker's time; CreateTime keeps the producer's", async () => {
    const b = await broker({ storage: "segment" })
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({
      topics: [
        { topic: "appended", configEntries: [{ name: "message.timestamp.type", value: "LogAppendTime" }] },
        { topic: "created" }
      ]
    })
    const producer = await clients.producer(kafka)
    const old = "1600000000000"
    const before = Date.now()
    const [sent] = await producer.send({ topic: "appended", acks: -1, messages: [{ value: "a1", timestamp: old }, { value: "a2", timestamp: old }] })
    await producer.send({ topic: "created", acks: -1, messages: [{ value: "c1", timestamp: old }] })
    const after = Date.now()
    // The produce response carries the append time (Produce v2+ log_append_time_ms).
    expect(Number(sent!.logAppendTime)).toBeGreaterThanOrEqual(before)
    const appended = await consumeN(await clients.consumer(kafka, { groupId: "t1" }), "appended", 2)
    for (const m of appended) {
      expect(m.timestamp).toBeGreaterThanOrEqual(before)
      expect(m.timestamp).toBeLessThanOrEqual(after)
    }
    const created = await consumeN(await clients.consumer(kafka, { groupId: "t2" }), "created", 1)
    expect(created[0]!.timestamp).toBe(Number(old))
  })
})
