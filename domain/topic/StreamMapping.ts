/**
 * Where MQTT messages live in the log, and which MQTT topic a log record stands for: the one
 * table that ties MQTT topics (unbounded, `device/42/temp`) to log topics (a bounded set that
 * Kafka clients see).
 *
 * MQTT -> log: the first binding whose filter matches the MQTT topic names the log topic (e.g.
 * `sensors/#` -> `sensors`); otherwise the default topic (`mqtt`). The record key is the MQTT
 * topic and the partition is Kafka's murmur2(key) mod partitions, so per-MQTT-topic order holds
 * and a Kafka producer using the same key lands in the same partition.
 *
 * Log -> MQTT: a record of the default topic or of a bound topic stands for the MQTT topic in
 * its key; a record of any other topic (one only Kafka clients write) is delivered on the MQTT
 * topic named like the Kafka topic. Records without a usable topic are not delivered over MQTT.
 *
 * Hot path: `placementOf` is one Map lookup per publish (none with one partition and no bindings).
 */
import { type TopicPartition, topicPartition } from "../ids.js"
import { partitionForKey } from "../kafka/partitioner.js"
import { matches } from "./matches.js"

export interface Binding {
  /** An MQTT topic filter (wildcards allowed, no `$share/`). */
  readonly filter: string
  /** The log (Kafka) topic the matching messages go to. */
  readonly topic: string
}

const CACHE_LIMIT = 10_000
const utf8 = new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = new TextEncoder()

/** Where one MQTT topic's messages go. */
export interface Placement {
  readonly tp: TopicPartition
  /** Bound to a topic of its own: every message is logged, QoS 0 included. */
  readonly bound: boolean
}

export class StreamMapping {
  private readonly cache = new Map<string, Placement>()
  private readonly boundTopics: ReadonlySet<string>
  private defaultPlacement: Placement | null = null

  constructor(
    readonly defaultTopic: string,
    readonly bindings: ReadonlyArray<Binding>,
    /** Current partition count of a log topic (changes with CreatePartitions). */
    private readonly partitionsOf: (topic: string) => number
  ) {
    this.boundTopics = new Set(bindings.map((b) => b.topic))
    this.refresh()
  }

  /** Call after a partition count changed: cached placements are recomputed. */
  refresh(): void {
    this.cache.clear()
    this.defaultPlacement = this.bindings.length === 0 && this.partitionsOf(this.defaultTopic) <= 1
      ? { tp: topicPartition(this.defaultTopic, 0), bound: false }
      : null
  }

  /** The log topic an MQTT topic's messages go to. */
  topicFor(mqttTopic: string): string {
    const bindings = this.bindings
    for (let i = 0; i < bindings.length; i++) {
      if (matches(bindings[i]!.filter, mqttTopic)) return bindings[i]!.topic
    }
    return this.defaultTopic
  }

  /** Hot path: the partition an MQTT message with this topic is appended to. */
  placementOf(mqttTopic: string): Placement {
    if (this.defaultPlacement !== null) return this.defaultPlacement
    let placement = this.cache.get(mqttTopic)
    if (placement === undefined) {
      const topic = this.topicFor(mqttTopic)
      const partition = partitionForKey(utf8Encoder.encode(mqttTopic), this.partitionsOf(topic))
      placement = { tp: topicPartition(topic, partition), bound: topic !== this.defaultTopic }
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear()
      this.cache.set(mqttTopic, placement)
    }
    return placement
  }

  /** Whether records of this log topic carry their MQTT topic in the key. */
  carriesMqttTopics(logTopic: string): boolean {
    return logTopic === this.defaultTopic || this.boundTopics.has(logTopic)
  }

  /** The MQTT topic a record of `logTopic` is delivered on, or null when it has none. */
  mqttTopicOf(logTopic: string, key: Uint8Array | null): string | null {
    if (!this.carriesMqttTopics(logTopic)) return logTopic
    if (key === null || key.length === 0) return null
    let topic: string
    try {
      topic = utf8.decode(key)
    } catch {
      return null
    }
    // A record a Kafka client wrote may carry any key: only a plain topic name is usable.
    if (topic.startsWith("$") || topic.includes("+") || topic.includes("#") || topic.includes("\u0000")) return null
    return topic
  }
}
