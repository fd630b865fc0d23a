/**
 * The topic registry decider (domain/meta/topics.ts), the MQTT <-> log mapping
 * (domain/topic/StreamMapping.ts) and Kafka's default partitioner (domain/kafka/partitioner.ts).
 */
import { createRequire } from "node:module"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { murmur2, partitionForKey } from "../../domain/kafka/partitioner.js"
import {
  decideTopic,
  evolveTopics,
  MAX_PARTITIONS,
  type TopicCommand,
  TopicConfigChanged,
  TopicEvent,
  type TopicState
} from "../../domain/meta/topics.js"
import { StreamMapping } from "../../domain/topic/StreamMapping.js"

const fold = (events: ReadonlyArray<TopicEvent>): Map<string, TopicState> => {
  const topics = new Map<string, TopicState>()
  for (const e of events) evolveTopics(topics, e)
  return topics
}

const run = (topics: Map<string, TopicState>, command: TopicCommand) => {
  const decided = decideTopic(topics, command, 1000)
  if (Array.isArray(decided)) for (const e of decided) evolveTopics(topics, e)
  return decided
}

const create = (name: string, partitions = 1, config: Record<string, string> = {}, replicationFactor = 1): TopicCommand => ({
  _tag: "CreateTopic",
  name,
  partitions,
  replicationFactor,
  config
})

const rejected = (result: unknown): number => (Array.isArray(result) ? 0 : (result as { errorCode: number }).errorCode)

describe("topic decider", () => {
  it("creates a topic with its partitions and config; a second create is TOPIC_ALREADY_EXISTS", () => {
    const topics = fold([])
    const events = run(topics, create("orders", 3, { "retention.ms": "60000" }))
    expect(Array.isArray(events) && events.map((e) => e._tag)).toEqual(["TopicCreated"])
    expect(topics.get("orders")).toEqual({ name: "orders", partitions: 3, config: { "retention.ms": "60000" }, createdAt: 1000 })
    expect(rejected(run(topics, create("orders")))).toBe(ErrorCode.TOPIC_ALREADY_EXISTS)
  })

  it("refuses illegal names, reserved names, bad partition counts, replication > 1 and unknown or bad configs", () => {
    const topics = fold([])
    expect(rejected(run(topics, create("has space")))).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION)
    expect(rejected(run(topics, create("..")))).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION)
    expect(rejected(run(topics, create("x".repeat(250))))).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION)
    expect(rejected(run(topics, create("__internal")))).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION)
    expect(rejected(run(topics, create("t", 0)))).toBe(ErrorCode.INVALID_PARTITIONS)
    expect(rejected(run(topics, create("t", MAX_PARTITIONS + 1)))).toBe(ErrorCode.INVALID_PARTITIONS)
    expect(rejected(run(topics, create("t", 2 ** 31 - 1)))).toBe(ErrorCode.INVALID_PARTITIONS)
    expect(rejected(run(topics, create("t", 1, {}, 3)))).toBe(ErrorCode.INVALID_REPLICATION_FACTOR)
    expect(rejected(run(topics, create("t", 1, { "retention.mss": "1" })))).toBe(ErrorCode.INVALID_CONFIG)
    expect(rejected(run(topics, create("t", 1, { "retention.ms": "soon" })))).toBe(ErrorCode.INVALID_CONFIG)
    expect(rejected(run(topics, create("t", 1, { "cleanup.policy": "compact" })))).toBe(ErrorCode.INVALID_CONFIG)
    expect(rejected(run(topics, create("t", 1, { "robustmq.storage": "tape" })))).toBe(ErrorCode.INVALID_CONFIG)
    expect(topics.size).toBe(0)
    expect(rejected(run(topics, create("t", 1, { "robustmq.storage": "segment", "retention.bytes": "-1" })))).toBe(0)
  })

  it("partitions only grow, up to the cap; deleting forgets the topic so it can be created again", () => {
    const topics = fold([])
    run(topics, create("t", 2))
    expect(rejected(run(topics, { _tag: "CreatePartitions", name: "t", count: 2 }))).toBe(ErrorCode.INVALID_PARTITIONS)
    expect(rejected(run(topics, { _tag: "CreatePartitions", name: "t", count: MAX_PARTITIONS + 1 }))).toBe(ErrorCode.INVALID_PARTITIONS)
    expect(rejected(run(topics, { _tag: "CreatePartitions", name: "nope", count: 5 }))).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    expect(rejected(run(topics, { _tag: "CreatePartitions", name: "t", count: 5 }))).toBe(0)
    expect(topics.get("t")!.partitions).toBe(5)
    expect(rejected(run(topics, { _tag: "DeleteTopic", name: "nope" }))).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    expect(rejected(run(topics, { _tag: "DeleteTopic", name: "t" }))).toBe(0)
    expect(topics.has("t")).toBe(false)
    expect(rejected(run(topics, create("t", 1)))).toBe(0)
    expect(topics.get("t")!.partitions).toBe(1)
  })

  it("AlterTopicConfig replaces the whole config set; unknown topics and bad configs are refused", () => {
    const topics = fold([])
    run(topics, create("t", 2, { "retention.ms": "60000", "segment.ms": "1000" }))
    const events = run(topics, { _tag: "AlterTopicConfig", name: "t", config: { "retention.bytes": "100" } })
    expect(events).toEqual([new TopicConfigChanged({ name: "t", config: { "retention.bytes": "100" } })])
    // keys not listed are back to their defaults: they are no longer stored
    expect(topics.get("t")).toMatchObject({ partitions: 2, config: { "retention.bytes": "100" }, createdAt: 1000 })
    expect(rejected(run(topics, { _tag: "AlterTopicConfig", name: "nope", config: {} }))).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    expect(rejected(run(topics, { _tag: "AlterTopicConfig", name: "t", config: { "retention.mss": "1" } }))).toBe(ErrorCode.INVALID_CONFIG)
    expect(rejected(run(topics, { _tag: "AlterTopicConfig", name: "t", config: { "retention.ms": "-2" } }))).toBe(ErrorCode.INVALID_CONFIG)
    expect(topics.get("t")!.config).toEqual({ "retention.bytes": "100" })
    // robustmq.storage may change (it only places partitions that have no data yet)
    expect(rejected(run(topics, { _tag: "AlterTopicConfig", name: "t", config: { "robustmq.storage": "memory" } }))).toBe(0)
    expect(run(topics, { _tag: "AlterTopicConfig", name: "t", config: {} })).toEqual([new TopicConfigChanged({ name: "t", config: {} })])
    expect(topics.get("t")!.config).toEqual({})
  })

  it("IncrementalAlterTopicConfig sets and resets single keys, keeping the others", () => {
    const topics = fold([])
    run(topics, create("t", 1, { "retention.ms": "60000", "segment.ms": "1000" }))
    const inc = (set: Record<string, string>, reset: Array<string>, name = "t"): TopicCommand => ({
      _tag: "IncrementalAlterTopicConfig",
      name,
      set,
      reset
    })
    expect(rejected(run(topics, inc({ "retention.bytes": "5" }, ["segment.ms"])))).toBe(0)
    expect(topics.get("t")!.config).toEqual({ "retention.ms": "60000", "retention.bytes": "5" })
    expect(rejected(run(topics, inc({}, ["max.message.bytes"])))).toBe(0) // resetting a default is a no-op change
    expect(topics.get("t")!.config).toEqual({ "retention.ms": "60000", "retention.bytes": "5" })
    expect(rejected(run(topics, inc({}, ["no.such.key"])))).toBe(ErrorCode.INVALID_CONFIG)
    expect(rejected(run(topics, inc({ "cleanup.policy": "compact" }, [])))).toBe(ErrorCode.INVALID_CONFIG)
    expect(rejected(run(topics, inc({}, [], "nope")))).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    expect(topics.get("t")!.config).toEqual({ "retention.ms": "60000", "retention.bytes": "5" })
  })

  it("TopicConfigChanged round-trips through the event schema", () => {
    const event = new TopicConfigChanged({ name: "t", config: { "retention.ms": "5" } })
    const encoded = Schema.encodeSync(TopicEvent)(event)
    expect(JSON.parse(JSON.stringify(encoded))).toEqual({ _tag: "TopicConfigChanged", name: "t", config: { "retention.ms": "5" } })
    expect(Schema.decodeUnknownSync(TopicEvent)(encoded)).toEqual(event)
  })
})

describe("Kafka's default partitioner", () => {
  const require = createRequire(import.meta.url)
  const kafkajsMurmur2 = require("kafkajs/src/producer/partitioners/default/murmur2.js") as (key: Buffer) => number

  it("murmur2 agrees with kafkajs's Java-compatible implementation for every tail length", () => {
    for (const key of ["", "a", "ab", "abc", "abcd", "abcde", "a/b/c", "sensors/1/temperature", "ünïcödé/🙂"]) {
      expect(murmur2(Buffer.from(key)), key).toBe(kafkajsMurmur2(Buffer.from(key)))
    }
  })

  it("places a key in [0, partitions) and always in the same partition", () => {
    const key = Buffer.from("device-42")
    const p = partitionForKey(key, 7)
    expect(p).toBeGreaterThanOrEqual(0)
    expect(p).toBeLessThan(7)
    expect(partitionForKey(key, 7)).toBe(p)
    expect(partitionForKey(key, 1)).toBe(0)
  })
})

describe("StreamMapping", () => {
  const partitions: Record<string, number> = { mqtt: 1, sensors: 4 }
  const mapping = new StreamMapping("mqtt", [{ filter: "sensors/#", topic: "sensors" }, { filter: "+/events", topic: "events" }], (t) => partitions[t] ?? 1)

  it("sends a bound filter's topics to their log topic, partitioned by murmur2 of the MQTT topic; the rest to the default", () => {
    const placement = mapping.placementOf("sensors/1/temp")
    expect(placement.bound).toBe(true)
    expect(placement.tp).toBe(`sensors-${partitionForKey(Buffer.from("sensors/1/temp"), 4)}`)
    expect(mapping.placementOf("plant/events")).toEqual({ tp: "events-0", bound: true })
    expect(mapping.placementOf("other/x")).toEqual({ tp: "mqtt-0", bound: false })
  })

  it("reads the MQTT topic of a record: the key for MQTT-carrying topics, the topic name otherwise", () => {
    expect(mapping.mqttTopicOf("mqtt", Buffer.from("a/b"))).toBe("a/b")
    expect(mapping.mqttTopicOf("sensors", Buffer.from("sensors/9"))).toBe("sensors/9")
    expect(mapping.mqttTopicOf("orders", Buffer.from("o-1"))).toBe("orders")
    expect(mapping.mqttTopicOf("mqtt", null)).toBe(null)
    expect(mapping.mqttTopicOf("mqtt", Buffer.from("a/+"))).toBe(null)
    expect(mapping.mqttTopicOf("mqtt", Buffer.from("$SYS/x"))).toBe(null)
    expect(mapping.mqttTopicOf("mqtt", Buffer.from([0xff, 0xfe]))).toBe(null)
  })

  it("recomputes placements after a partition count changes", () => {
    const counts: Record<string, number> = { mqtt: 1 }
    const m = new StreamMapping("mqtt", [], (t) => counts[t] ?? 1)
    expect(m.placementOf("a/b").tp).toBe("mqtt-0")
    counts.mqtt = 8
    m.refresh()
    expect(m.placementOf("a/b").tp).toBe(`mqtt-${partitionForKey(Buffer.from("a/b"), 8)}`)
  })
})
