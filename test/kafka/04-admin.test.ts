/**
 * The kafkajs admin client against the broker: topic creation with partition counts and
 * configs, listing, metadata, deletion (and auto-creation of a fresh topic afterwards), partition
 * growth, DescribeConfigs for topics and the broker, the errors Kafka gives for bad requests,
 * the protected MQTT topic, group listing and description, and ListOffsets (earliest, latest and
 * by timestamp).
 */
import { ConfigResourceTypes } from "kafkajs"
import { describe, expect, it } from "vitest"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, kafkaClient, protocolErrorTypes, useKafkaClients, waitFor } from "../support/kafka.js"

/** Deletion and ListOffsets by time reach into the storage driver: each one is tried. */
const STORAGES = ["memory", "sqlite", "segment"] as const

describe("kafkajs admin", () => {
  const { broker } = useBrokers()
  const clients = useKafkaClients()

  it("creates topics with a partition count and configs, lists them and describes their metadata", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    const created = await admin.createTopics({
      topics: [
        { topic: "events", numPartitions: 3, configEntries: [{ name: "retention.ms", value: "60000" }] },
        { topic: "single" }
      ]
    })
    expect(created).toBe(true)
    const names = await admin.listTopics()
    expect(names).toEqual(expect.arrayContaining(["events", "single", "mqtt"]))
    const { topics } = await admin.fetchTopicMetadata({ topics: ["events", "single"] })
    const events = topics.find((t) => t.name === "events")!
    expect(events.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2])
    for (const p of events.partitions) {
      expect(p.leader).toBe(0)
      expect(p.replicas).toEqual([0])
      expect(p.isr).toEqual([0])
    }
    expect(topics.find((t) => t.name === "single")!.partitions).toHaveLength(1)
  })

  it("describes a topic's configs (its overrides apart from the defaults) and the broker's", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: "configured", configEntries: [{ name: "retention.ms", value: "60000" }] }] })
    const { resources } = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: "configured" }],
      includeSynonyms: false
    })
    expect(resources).toHaveLength(1)
    expect(resources[0]!.errorCode).toBe(0)
    const entries = new Map(resources[0]!.configEntries.map((e) => [e.configName, e]))
    expect(entries.get("retention.ms")).toMatchObject({ configValue: "60000", isDefault: false, configSource: 1 })
    expect(entries.get("cleanup.policy")).toMatchObject({ configValue: "delete", isDefault: true, configSource: 5 })
    expect(entries.get("retention.bytes")).toMatchObject({ isDefault: true })

    // Only the names asked for.
    const some = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: "configured", configNames: ["retention.ms"] }],
      includeSynonyms: false
    })
    expect(some.resources[0]!.configEntries.map((e) => e.configName)).toEqual(["retention.ms"])

    const brokerConfigs = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.BROKER, name: "0" }],
      includeSynonyms: false
    })
    const brokerEntries = new Map(brokerConfigs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]))
    expect(brokerEntries.get("auto.create.topics.enable")).toBe("true")
    expect(brokerEntries.get("num.partitions")).toBe("1")
  })

  it("answers TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION, INVALID_REPLICATION_FACTOR, INVALID_CONFIG and INVALID_PARTITIONS", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    expect(await admin.createTopics({ topics: [{ topic: "twice", numPartitions: 2 }] })).toBe(true)
    // kafkajs reports a create that only met TOPIC_ALREADY_EXISTS as `false`.
    expect(await admin.createTopics({ topics: [{ topic: "twice", numPartitions: 4 }] })).toBe(false)
    expect((await admin.fetchTopicMetadata({ topics: ["twice"] })).topics[0]!.partitions).toHaveLength(2)

    const invalid = await protocolErrorTypes(admin.createTopics({ topics: [{ topic: "no spaces allowed" }], waitForLeaders: false }))
    expect(invalid).toEqual(["INVALID_TOPIC_EXCEPTION"])
    const replicated = await protocolErrorTypes(admin.createTopics({ topics: [{ topic: "replicated", replicationFactor: 3 }], waitForLeaders: false }))
    expect(replicated).toEqual(["INVALID_REPLICATION_FACTOR"])
    const badConfig = await protocolErrorTypes(
      admin.createTopics({ topics: [{ topic: "bad-config", configEntries: [{ name: "retention.ms", value: "soon" }] }], waitForLeaders: false })
    )
    expect(badConfig).toEqual(["INVALID_CONFIG"])
    const noPartitions = await protocolErrorTypes(admin.createTopics({ topics: [{ topic: "empty", numPartitions: 0 }], waitForLeaders: false }))
    expect(noPartitions).toEqual(["INVALID_PARTITIONS"])
    // validateOnly checks without creating.
    expect(await admin.createTopics({ topics: [{ topic: "checked", numPartitions: 2 }], validateOnly: true, waitForLeaders: false })).toBe(true)
    const reserved = await protocolErrorTypes(admin.createTopics({ topics: [{ topic: "__internal" }], validateOnly: true, waitForLeaders: false }))
    expect(reserved).toEqual(["INVALID_TOPIC_EXCEPTION"])
    const names = await admin.listTopics()
    for (const refused of ["no spaces allowed", "replicated", "bad-config", "empty", "checked", "__internal"]) expect(names).not.toContain(refused)
  })

  it.each(STORAGES)("deletes topics; producing to a deleted name auto-creates a fresh topic from offset 0 (%s)", async (storage) => {
    const b = await broker({ storage })
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    const producer = await clients.producer(kafka)
    await admin.createTopics({ topics: [{ topic: "doomed", numPartitions: 2 }] })
    await producer.send({ topic: "doomed", messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `old ${i}` })) })
    await admin.deleteTopics({ topics: ["doomed"] })
    expect(await admin.listTopics()).not.toContain("doomed")

    // A fresh producer (the first one still has the old metadata cached).
    const second = await clients.producer(kafkaClient(b.kafkaPort))
    const sent = await second.send({ topic: "doomed", messages: [{ value: "new 0" }, { value: "new 1" }] })
    expect(sent).toEqual([expect.objectContaining({ topicName: "doomed", partition: 0, errorCode: 0, baseOffset: "0" })])
    expect(await admin.listTopics()).toContain("doomed")
    const { topics } = await admin.fetchTopicMetadata({ topics: ["doomed"] })
    expect(topics[0]!.partitions).toHaveLength(1) // the default partition count, not the old 2
    expect(await admin.fetchTopicOffsets("doomed")).toEqual([{ partition: 0, offset: "2", high: "2", low: "0" }])
    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "g-doomed" })
    const got = await consumeN(consumer, "doomed", 2)
    expect(got.map((m) => [m.offset, m.value])).toEqual([[0, "new 0"], [1, "new 1"]])
  })

  it("deleting a topic drops the groups' committed offsets for it: a recreated topic is read from its start", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "reborn" }, { topic: "kept" }] })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "reborn", messages: Array.from({ length: 5 }, (_, i) => ({ value: `old ${i}` })) })
    await producer.send({ topic: "kept", messages: [{ value: "stays" }] })
    const first = await clients.consumer(kafka, { groupId: "g-reborn" })
    await first.subscribe({ topics: ["reborn", "kept"], fromBeginning: true })
    let seen = 0
    await first.run({ eachMessage: async () => void seen++ })
    await waitFor(() => seen === 6, 10_000, () => `6 records, got ${seen}`)
    await waitFor(async () => {
      const offsets = await admin.fetchOffsets({ groupId: "g-reborn", topics: ["reborn", "kept"] })
      return offsets.every((t) => t.partitions[0]!.offset === (t.topic === "reborn" ? "5" : "1"))
    }, 5_000, () => "commits at 5 and 1")
    await first.disconnect()

    await admin.deleteTopics({ topics: ["reborn"] })
    await admin.createTopics({ topics: [{ topic: "reborn" }] })
    await producer.send({ topic: "reborn", messages: Array.from({ length: 8 }, (_, i) => ({ value: `new ${i}` })) })
    const offsets = await admin.fetchOffsets({ groupId: "g-reborn", topics: ["reborn", "kept"] })
    expect(offsets.find((t) => t.topic === "reborn")!.partitions).toEqual([{ partition: 0, offset: "-1", metadata: null }])
    expect(offsets.find((t) => t.topic === "kept")!.partitions).toEqual([{ partition: 0, offset: "1", metadata: null }])
    // Kafka forgets a deleted topic's offsets; a stale offset 5 would skip "new 0".."new 4".
    const again = await clients.consumer(kafka, { groupId: "g-reborn" })
    const got = await consumeN(again, "reborn", 8)
    expect(got.map((m) => m.value)).toEqual(Array.from({ length: 8 }, (_, i) => `new ${i}`))
  })

  it("refuses to delete the MQTT default topic", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    expect(await protocolErrorTypes(admin.deleteTopics({ topics: ["mqtt"] }))).toEqual(["POLICY_VIOLATION"])
    expect(await admin.listTopics()).toContain("mqtt")
  })

  it("grows a topic's partition count and refuses a lower one with INVALID_PARTITIONS", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: "growing", numPartitions: 2 }] })
    await admin.createPartitions({ topicPartitions: [{ topic: "growing", count: 5 }] })
    const { topics } = await admin.fetchTopicMetadata({ topics: ["growing"] })
    expect(topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3, 4])
    expect(await protocolErrorTypes(admin.createPartitions({ topicPartitions: [{ topic: "growing", count: 3 }] }))).toEqual(["INVALID_PARTITIONS"])
    expect(await protocolErrorTypes(admin.createPartitions({ topicPartitions: [{ topic: "growing", count: 5 }] }))).toEqual(["INVALID_PARTITIONS"])
    expect((await admin.fetchTopicMetadata({ topics: ["growing"] })).topics[0]!.partitions).toHaveLength(5)
    // The new partitions take records.
    const producer = await clients.producer(kafkaClient(b.kafkaPort))
    const sent = await producer.send({ topic: "growing", messages: [{ partition: 4, value: "on the new partition" }] })
    expect(sent[0]).toMatchObject({ partition: 4, errorCode: 0, baseOffset: "0" })
  })

  it("lists and describes a live consumer group", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "watched", numPartitions: 2 }] })
    const consumer = await clients.consumer(kafka, { groupId: "g-live-admin" })
    let joined = false
    consumer.on(consumer.events.GROUP_JOIN, () => void (joined = true))
    await consumer.subscribe({ topic: "watched" })
    await consumer.run({ eachMessage: async () => {} })
    await waitFor(() => joined, 10_000, () => "the consumer's GROUP_JOIN")

    const { groups } = await admin.listGroups()
    expect(groups).toContainEqual({ groupId: "g-live-admin", protocolType: "consumer" })
    // The group is Stable once the member has synced, just after GROUP_JOIN.
    let described = (await admin.describeGroups(["g-live-admin"])).groups[0]!
    await waitFor(async () => {
      described = (await admin.describeGroups(["g-live-admin"])).groups[0]!
      return described.state === "Stable"
    }, 5_000, () => `a Stable group, last ${described.state}`)
    expect(described).toMatchObject({ groupId: "g-live-admin", errorCode: 0, protocolType: "consumer", protocol: "RoundRobinAssigner" })
    expect(described.members).toHaveLength(1)
    expect(described.members[0]!.clientId).toBe("robustmq-test")
    expect(described.members[0]!.memberAssignment.length).toBeGreaterThan(0)

    const unknown = (await admin.describeGroups(["never-seen"])).groups[0]!
    expect(unknown).toMatchObject({ groupId: "never-seen", state: "Dead", members: [] })
  })

  it.each(STORAGES)("answers ListOffsets: earliest, latest and the first offset at or after a timestamp (%s)", async (storage) => {
    const b = await broker({ storage })
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "timed", numPartitions: 2 }] })
    const producer = await clients.producer(kafka)
    const t0 = Date.now() - 60_000
    // Partition 0: three batches 10 s apart; partition 1: one batch.
    for (let i = 0; i < 3; i++) {
      await producer.send({
        topic: "timed",
        messages: [0, 1].map((j) => ({ partition: 0, value: `p0 ${i}.${j}`, timestamp: String(t0 + i * 10_000 + j) }))
      })
    }
    await producer.send({ topic: "timed", messages: [{ partition: 1, value: "p1", timestamp: String(t0) }] })

    const offsets = await admin.fetchTopicOffsets("timed")
    expect(offsets.sort((x, y) => x.partition - y.partition)).toEqual([
      { partition: 0, offset: "6", high: "6", low: "0" },
      { partition: 1, offset: "1", high: "1", low: "0" }
    ])
    const byTime = async (ts: number) =>
      (await admin.fetchTopicOffsetsByTimestamp("timed", ts)).sort((x, y) => x.partition - y.partition).map((p) => p.offset)
    expect(await byTime(t0 - 1)).toEqual(["0", "0"])
    expect(await byTime(t0 + 1)).toEqual(["1", "1"]) // partition 1 has nothing newer: kafkajs gives its high watermark
    expect(await byTime(t0 + 10_000)).toEqual(["2", "1"])
    expect(await byTime(t0 + 10_001)).toEqual(["3", "1"])
    expect(await byTime(t0 + 15_000)).toEqual(["4", "1"])
    expect(await byTime(Date.now() + 60_000)).toEqual(["6", "1"])
  })
})
