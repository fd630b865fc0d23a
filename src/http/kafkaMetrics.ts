/**
 * The Kafka listener's metrics, read at scrape time: requests by API (a plain counter array the
 * listener bumps once per request), open connections, partitions with their high watermark, and
 * consumer groups with their committed offsets and lag under kafka_exporter's names
 * (`kafka_consumergroup_lag`, `kafka_consumergroup_current_offset`,
 * `kafka_topic_partition_current_offset`, ...), so the dashboards built for it work unchanged.
 */
import { Effect, Layer, Option } from "effect"
import { topicPartition } from "../../domain/ids.js"
import { partitionLags } from "../kafka/groups/groupLag.js"
import { KafkaServer } from "../kafka/KafkaServer.js"
import { ApiKey } from "../kafka/protocol/index.js"
import { type Metrics, registerScoped, scrapedCounter, scrapedGauge } from "./Metrics.js"

/** API key -> its name, for the `api` label. */
const API_NAMES: ReadonlyArray<string | undefined> = (() => {
  const names: Array<string | undefined> = []
  for (const [name, key] of Object.entries(ApiKey)) names[key] = name
  return names
})()

export const kafkaMetrics = (server: KafkaServer["Type"]) => {
  const ctx = server.context
  const log = ctx.log
  /** The log end (next offset) of each partition of every topic, by topic. */
  const partitionEnds = function*() {
    for (const topic of ctx.topics.list()) {
      for (let p = 0; p < topic.partitions; p++) yield [topic.name, p, log.unsafeHighWatermark(topicPartition(topic.name, p))] as const
    }
  }
  return [
    scrapedCounter("robustmq_kafka_requests_total", "Kafka requests handled, by API", ["api"], (put) => {
      ctx.requests.forEach((n, key) => {
        if (n > 0) put(n, { api: API_NAMES[key] ?? `api_${key}` })
      })
    }),
    scrapedGauge("robustmq_kafka_connections", "Kafka connections open, both listeners", [], (put) => put(server.openConnections())),
    scrapedGauge("kafka_topic_partitions", "Partitions per Kafka topic", ["topic"], (put) => {
      for (const topic of ctx.topics.list()) put(topic.partitions, { topic: topic.name })
    }),
    scrapedGauge("kafka_topic_partition_current_offset", "High watermark (next offset) of each partition", ["topic", "partition"], (put) => {
      for (const [topic, partition, end] of partitionEnds()) put(end, { topic, partition: String(partition) })
    }),
    scrapedGauge("robustmq_kafka_consumer_groups", "Consumer groups by state", ["state"], (put) => {
      const byState = new Map<string, number>()
      for (const group of ctx.groups.unsafeGroups()) byState.set(group.state, (byState.get(group.state) ?? 0) + 1)
      for (const [state, n] of byState) put(n, { state })
    }),
    scrapedGauge("kafka_consumergroup_members", "Members of each consumer group", ["consumergroup"], (put) => {
      for (const group of ctx.groups.unsafeGroups()) put(group.members.size, { consumergroup: group.groupId })
    }),
    scrapedGauge("kafka_consumergroup_current_offset", "Committed offset of each consumer group per partition", ["consumergroup", "topic", "partition"], (put) => {
      for (const group of ctx.groups.unsafeGroups()) {
        for (const [topic, partitions] of group.offsets) {
          for (const [partition, committed] of partitions) put(committed.offset, { consumergroup: group.groupId, topic, partition: String(partition) })
        }
      }
    }),
    scrapedGauge("kafka_consumergroup_lag", "Records behind the high watermark, per consumer group and partition", ["consumergroup", "topic", "partition"], (put) => {
      for (const group of ctx.groups.unsafeGroups()) {
        for (const p of partitionLags(group, log)) put(p.lag, { consumergroup: group.groupId, topic: p.topic, partition: String(p.partition) })
      }
    })
  ]
}

/** Registers the Kafka metrics while the Kafka listener runs (nothing when Kafka or metrics are off). */
export const layer: Layer.Layer<never, never, Metrics> = Layer.scopedDiscard(
  Effect.flatMap(Effect.serviceOption(KafkaServer), (server) =>
    Option.isNone(server) ? Effect.void : registerScoped(() => kafkaMetrics(server.value)))
)
