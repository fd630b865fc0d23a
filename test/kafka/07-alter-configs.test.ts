/**
 * Admin changes over the Kafka API. AlterConfigs (kafkajs `admin.alterConfigs`) replaces a
 * topic's configs, IncrementalAlterConfigs (raw wire: kafkajs lacks it) sets or resets single
 * keys: checked through DescribeConfigs, through retention taking effect, and across a restart.
 * DeleteGroups (kafkajs `admin.deleteGroups`) removes an empty group and its offsets for good;
 * a group with members is NON_EMPTY_GROUP.
 */
import { describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { useKafkaWires } from "../support/KafkaWire.js"
import { consumeN, kafkaClient, protocolErrorTypes, useKafkaClients, waitFor } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"

const TOPIC = 2
const BROKER = 4

describe("AlterConfigs and IncrementalAlterConfigs", () => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()
  const wires = useKafkaWires()

  /** The topic's configs DescribeConfigs reports as set (not defaults). */
  const setConfigs = async (admin: Awaited<ReturnType<typeof clients.admin>>, topic: string) => {
    const described = await admin.describeConfigs({ resources: [{ type: TOPIC, name: topic }], includeSynonyms: false })
    return Object.fromEntries(
      described.resources[0]!.configEntries.filter((e) => !e.isDefault).map((e) => [e.configName, e.configValue])
    )
  }

  it("alterConfigs replaces a topic's configs, retention.ms takes effect, and it survives a restart", async () => {
    const b = await broker({ storage: "sqlite" })
    let kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "t", configEntries: [{ name: "segment.ms", value: "5000" }] }] })
    const producer = await clients.producer(kafka)
    const old = Date.now() - 60_000
    await producer.send({ topic: "t", messages: [{ value: "old-1", timestamp: String(old) }] })
    await producer.send({ topic: "t", messages: [{ value: "old-2", timestamp: String(old) }] })
    await producer.send({ topic: "t", messages: [{ value: "new", timestamp: String(Date.now()) }] })
    await b.runRetention()
    expect((await admin.fetchTopicOffsets("t"))[0]!.low).toBe("0") // default retention keeps them

    // validateOnly changes nothing
    await admin.alterConfigs({ validateOnly: true, resources: [{ type: TOPIC, name: "t", configEntries: [{ name: "retention.ms", value: "1000" }] }] })
    expect(await setConfigs(admin, "t")).toEqual({ "segment.ms": "5000" })

    await admin.alterConfigs({ validateOnly: false, resources: [{ type: TOPIC, name: "t", configEntries: [{ name: "retention.ms", value: "1000" }] }] })
    // segment.ms was not listed: it is back to its default
    expect(await setConfigs(admin, "t")).toEqual({ "retention.ms": "1000" })
    await waitFor(async () => {
      await b.runRetention()
      return (await admin.fetchTopicOffsets("t"))[0]!.low === "2"
    }, 10_000, () => "low watermark of t to reach 2 after retention.ms was altered")
    await producer.disconnect()
    await admin.disconnect()

    const again = adopt(await b.restart())
    kafka = kafkaClient(again.kafkaPort)
    const admin2 = await clients.admin(kafka)
    expect(await setConfigs(admin2, "t")).toEqual({ "retention.ms": "1000" })
    const got = await consumeN(await clients.consumer(kafka, { groupId: "g" }), "t", 1)
    expect(got.map((m) => m.value)).toEqual(["new"])
  })

  it("refuses unknown topics, unknown or bad configs and broker resources, per resource", async () => {
    const b = await broker()
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: "t" }] })
    const alter = (type: number, name: string, configName: string, value: string) =>
      admin.alterConfigs({ validateOnly: false, resources: [{ type, name, configEntries: [{ name: configName, value }] }] })
    expect(await protocolErrorTypes(alter(TOPIC, "nope", "retention.ms", "1"))).toEqual(["UNKNOWN_TOPIC_OR_PARTITION"])
    expect(await protocolErrorTypes(alter(TOPIC, "t", "retention.mss", "1"))).toEqual(["INVALID_CONFIG"])
    expect(await protocolErrorTypes(alter(TOPIC, "t", "cleanup.policy", "compact"))).toEqual(["INVALID_CONFIG"])
    expect(await protocolErrorTypes(alter(BROKER, "0", "log.retention.ms", "1"))).toEqual(["INVALID_REQUEST"])
    const twice = admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: TOPIC, name: "t", configEntries: [{ name: "retention.ms", value: "1" }, { name: "retention.ms", value: "2" }] }]
    })
    expect(await protocolErrorTypes(twice)).toEqual(["INVALID_REQUEST"])
    expect(await setConfigs(admin, "t")).toEqual({})

    // the message says why, on the raw response
    const wire = await wires.connect(b.kafkaPort)
    const res = await wire.request(ApiKey.AlterConfigs, 1, {
      validateOnly: false,
      resources: [
        { resourceType: BROKER, resourceName: "0", configs: [{ name: "log.retention.ms", value: "1" }] },
        { resourceType: TOPIC, resourceName: "t", configs: [{ name: "retention.ms", value: "77" }] }
      ]
    })
    expect(res.responses).toEqual([
      { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: expect.stringMatching(/static/), resourceType: BROKER, resourceName: "0" },
      { errorCode: ErrorCode.NONE, errorMessage: null, resourceType: TOPIC, resourceName: "t" }
    ])
    expect(await setConfigs(admin, "t")).toEqual({ "retention.ms": "77" })
  })

  it("incrementalAlterConfigs sets and deletes single keys; APPEND/SUBTRACT and broker resources are INVALID_REQUEST", async () => {
    const b = await broker({ storage: "sqlite" })
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({
      topics: [{ topic: "t", configEntries: [{ name: "segment.ms", value: "5000" }, { name: "retention.bytes", value: "100" }] }]
    })
    const wire = await wires.connect(b.kafkaPort)
    const incremental = (resourceType: number, configs: Array<{ name: string; configOperation: number; value: string | null }>, validateOnly = false) =>
      wire.request(ApiKey.IncrementalAlterConfigs, 0, { validateOnly, resources: [{ resourceType, resourceName: "t", configs }] })
    const codeOf = async (p: ReturnType<typeof incremental>) => (await p).responses[0]!.errorCode

    expect(await codeOf(incremental(TOPIC, [{ name: "retention.ms", configOperation: 0, value: "1000" }], true))).toBe(ErrorCode.NONE)
    expect(await setConfigs(admin, "t")).toEqual({ "segment.ms": "5000", "retention.bytes": "100" })
    expect(
      await codeOf(incremental(TOPIC, [
        { name: "retention.ms", configOperation: 0, value: "1000" },
        { name: "segment.ms", configOperation: 1, value: null }
      ]))
    ).toBe(ErrorCode.NONE)
    expect(await setConfigs(admin, "t")).toEqual({ "retention.ms": "1000", "retention.bytes": "100" })

    expect(await codeOf(incremental(TOPIC, [{ name: "retention.ms", configOperation: 2, value: "1" }]))).toBe(ErrorCode.INVALID_REQUEST)
    expect(await codeOf(incremental(TOPIC, [{ name: "retention.ms", configOperation: 3, value: "1" }]))).toBe(ErrorCode.INVALID_REQUEST)
    expect(await codeOf(incremental(TOPIC, [{ name: "retention.ms", configOperation: 0, value: null }]))).toBe(ErrorCode.INVALID_REQUEST)
    expect(
      await codeOf(incremental(TOPIC, [
        { name: "retention.ms", configOperation: 0, value: "1" },
        { name: "retention.ms", configOperation: 1, value: null }
      ]))
    ).toBe(ErrorCode.INVALID_REQUEST)
    expect(await codeOf(incremental(TOPIC, [{ name: "bogus", configOperation: 1, value: null }]))).toBe(ErrorCode.INVALID_CONFIG)
    expect(await codeOf(incremental(BROKER, [{ name: "log.retention.ms", configOperation: 0, value: "1" }]))).toBe(ErrorCode.INVALID_REQUEST)
    expect(await setConfigs(admin, "t")).toEqual({ "retention.ms": "1000", "retention.bytes": "100" })

    await admin.disconnect()
    const again = adopt(await b.restart())
    const admin2 = await clients.admin(kafkaClient(again.kafkaPort))
    expect(await setConfigs(admin2, "t")).toEqual({ "retention.ms": "1000", "retention.bytes": "100" })
  })
})

describe("DeleteGroups", () => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()

  it("deletes an empty group and its offsets, also across a restart; a live group is NON_EMPTY_GROUP", async () => {
    const b = await broker({ storage: "sqlite" })
    let kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "t" }] })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "t", acks: -1, messages: [{ value: "a" }, { value: "b" }] })

    const done = await clients.consumer(kafka, { groupId: "done" })
    expect((await consumeN(done, "t", 2)).map((m) => m.value)).toEqual(["a", "b"])
    await done.disconnect()
    const committed = async (a: typeof admin, groupId: string) =>
      (await a.fetchOffsets({ groupId, topics: ["t"] }))[0]!.partitions[0]!.offset
    await waitFor(async () => (await committed(admin, "done")) === "2", 10_000, () => "the offsets of group done to be committed")

    const live = await clients.consumer(kafka, { groupId: "live" })
    await live.subscribe({ topic: "t", fromBeginning: true })
    await live.run({ eachMessage: async () => {} })
    await waitFor(async () => (await admin.describeGroups(["live"])).groups[0]!.state === "Stable", 10_000, () => "group live to be Stable")

    const groupIds = async (a: typeof admin) => (await a.listGroups()).groups.map((g) => g.groupId).sort()
    expect(await groupIds(admin)).toEqual(["done", "live"])
    expect(await admin.deleteGroups(["done"])).toEqual([{ groupId: "done", errorCode: 0 }])
    expect(await groupIds(admin)).toEqual(["live"])
    expect(await committed(admin, "done")).toBe("-1")

    const refused = await admin.deleteGroups(["live", "done"]).then(() => undefined, (e: { groups?: unknown }) => e.groups)
    expect(refused).toEqual([
      expect.objectContaining({ groupId: "live", errorCode: ErrorCode.NON_EMPTY_GROUP }),
      expect.objectContaining({ groupId: "done", errorCode: ErrorCode.GROUP_ID_NOT_FOUND })
    ])
    expect(await groupIds(admin)).toEqual(["live"])
    await live.disconnect()
    await producer.disconnect()
    await admin.disconnect()

    const again = adopt(await b.restart())
    kafka = kafkaClient(again.kafkaPort)
    const admin2 = await clients.admin(kafka)
    expect(await groupIds(admin2)).toEqual(["live"])
    expect(await committed(admin2, "done")).toBe("-1")
    // the id is free again: a new group "done" reads the topic from its start
    const reborn = await clients.consumer(kafka, { groupId: "done" })
    expect((await consumeN(reborn, "t", 2)).map((m) => m.value)).toEqual(["a", "b"])
  })
})
