/**
 * The Kafka listener's metrics, read at scrape time: requests by API (a plain counter array the
 * listener bumps once per request) with their handling time, open connections, records and
 * bytes produced and fetched by topic, partitions with their high watermark and log start
 * offset, and consumer groups with their committed offsets and lag under kafka_exporter's names
 * (`kafka_consumergroup_lag`, `kafka_consumergroup_current_offset`,
 * `kafka_topic_partition_current_offset`, ...), so the dashboards built for it work unchanged.
 * The per-partition, per-group and per-topic families are rendered straight into the text
 * (exposition.ts): at 10k topics prom-client's label handling alone took over 100 ms.
 */
import { Effect, Layer, Option } from "effect"
import { topicPartition, type TopicPartition } from "../../domain/ids.js"
import { partitionLags } from "../kafka/groups/groupLag.js"
import { KafkaServer } from "../kafka/KafkaServer.js"
import { ApiKey } from "../kafka/protocol/index.js"
import { escapeLabel, ExpositionWriter, type RenderedFamily, samplePrefix } from "./exposition.js"
import { type Metrics, registerRenderedScoped, registerScoped, scrapedCounter, scrapedGauge } from "./Metrics.js"

/** API key -> its name, for the `api` label. */
const API_NAMES: ReadonlyArray<string | undefined> = (() => {
  const names: Array<string | undefined> = []
  for (const [name, key] of Object.entries(ApiKey)) names[key] = name
  return names
})()

/** Log start offsets are storage reads: refreshed in the background of scrapes, this long at most per scrape. */
const OLDEST_REFRESH_BUDGET_MS = 5
/** A log start offset read this long ago is read again (retention moves it in whole segments or batches). */
const OLDEST_MAX_AGE_MS = 30_000

type Ctx = KafkaServer["Type"]["context"]

/** `topic="..."` per topic name, escaped once and reused across scrapes (bounded by the topic count). */
const topicLabels = new Map<string, string>()
const topicLabel = (topic: string): string => {
  let label = topicLabels.get(topic)
  if (label === undefined) {
    if (topicLabels.size > 200_000) topicLabels.clear()
    topicLabels.set(topic, (label = `topic="${escapeLabel(topic)}"`))
  }
  return label
}

const CURRENT_OFFSET = "kafka_topic_partition_current_offset"
const OLDEST_OFFSET = "kafka_topic_partition_oldest_offset"
const PARTITIONS = "kafka_topic_partitions"

/** One partition: its sample prefixes (made once) and its log start offset as last read. */
class PartitionRow {
  /** Log start offset, -1 until read; and when it was read (ms). */
  oldest = -1
  oldestAt = 0
  readonly currentPrefix: Uint8Array
  readonly oldestPrefix: Uint8Array
  constructor(readonly tp: TopicPartition, labels: string) {
    this.currentPrefix = samplePrefix(CURRENT_OFFSET, labels)
    this.oldestPrefix = samplePrefix(OLDEST_OFFSET, labels)
  }
}

/**
 * The topics' partitions, with the sample lines that only change with them kept as bytes:
 * `kafka_topic_partitions` whole, and `kafka_topic_partition_oldest_offset` until a log start
 * offset moves (a scrape copies them instead of writing 10k lines).
 */
interface TopicTable {
  readonly partitions: ReadonlyArray<PartitionRow>
  /** Every `kafka_topic_partitions{topic="..."} N` line. */
  readonly partitionCounts: Uint8Array
  /** Every known `kafka_topic_partition_oldest_offset` line; null after a log start offset moved. */
  oldestLines: Uint8Array | null
}

/**
 * The topics sorted by name and their partitions' rows, rebuilt only after a change (Topics.list
 * sorts on every call); log start offsets already read carry over.
 */
const topicTable = (ctx: Ctx) => {
  let table: TopicTable | null = null
  let stale: TopicTable | null = null
  ctx.topics.onChange(() => {
    stale = table ?? stale
    table = null
  })
  return (): TopicTable => {
    if (table !== null) return table
    const before = new Map<TopicPartition, PartitionRow>()
    if (stale !== null) for (const row of stale.partitions) before.set(row.tp, row)
    stale = null
    const counts = new ExpositionWriter(false)
    const partitions: Array<PartitionRow> = []
    for (const topic of ctx.topics.list()) {
      const t = topicLabel(topic.name)
      counts.samplePrefixed(samplePrefix(PARTITIONS, t), topic.partitions)
      for (let p = 0; p < topic.partitions; p++) {
        const row = new PartitionRow(topicPartition(topic.name, p), `${t},partition="${p}"`)
        const old = before.get(row.tp)
        if (old !== undefined) {
          row.oldest = old.oldest
          row.oldestAt = old.oldestAt
        }
        partitions.push(row)
      }
    }
    return (table = { partitions, partitionCounts: counts.result(), oldestLines: null })
  }
}

/**
 * Log start offsets per partition, read from storage a few at a time after each scrape, in
 * round-robin order, at most OLDEST_REFRESH_BUDGET_MS per scrape: a scrape never waits on 10k
 * storage reads. A partition is exported once it has been read.
 */
const refreshOldestOffsets = (ctx: Ctx, table: () => TopicTable) => {
  let next = 0
  /** Nothing is stale before this (ms): a full pass found every offset fresh (until topics change). */
  let due = 0
  let seen: TopicTable | null = null
  return Effect.gen(function*() {
    const started = Date.now()
    const current = table()
    if (current !== seen) {
      seen = current
      due = 0
    }
    if (started < due) return
    const rows = current.partitions
    let oldestAt = started
    let n = 0
    for (; n < rows.length && Date.now() - started <= OLDEST_REFRESH_BUDGET_MS; n++) {
      if (next >= rows.length) next = 0
      const row = rows[next++]!
      if (row.oldest < 0 || started - row.oldestAt >= OLDEST_MAX_AGE_MS) {
        const offset = yield* Effect.orElseSucceed(ctx.logStartOffset(row.tp), () => -1)
        if (offset >= 0) {
          if (offset !== row.oldest) current.oldestLines = null
          row.oldest = offset
          row.oldestAt = Date.now()
        }
      }
      if (row.oldestAt < oldestAt) oldestAt = row.oldestAt
    }
    if (n === rows.length) due = oldestAt + OLDEST_MAX_AGE_MS
  })
}

/** The rendered families: everything here grows with topics, partitions or groups. */
export const kafkaRenderedFamilies = (
  ctx: Ctx,
  table: () => TopicTable
): ReadonlyArray<RenderedFamily> => {
  const log = ctx.log
  const perTopic = (name: string, help: string, read: (t: { producedRecords: number; producedBytes: number; fetchedRecords: number; fetchedBytes: number }) => number): RenderedFamily => ({
    name, type: "counter", help, render: (out) => {
      for (const [topic, traffic] of ctx.topicTraffic) out.sample(topicLabel(topic), read(traffic))
    }
  })
  /** Each committed offset of each group with its lag (groupLag.ts), and its labels. */
  const eachCommitted = (visit: (labels: string, offset: number, lag: number) => void) => {
    for (const group of ctx.groups.unsafeGroups()) {
      const g = `consumergroup="${escapeLabel(group.groupId)}",`
      for (const p of partitionLags(group, log)) visit(`${g}${topicLabel(p.topic)},partition="${p.partition}"`, p.offset, p.lag)
    }
  }
  return [
    {
      name: "robustmq_kafka_request_duration_seconds", type: "histogram", help: "Time from a Kafka request's arrival to its response, by API (long-polling Fetches included)",
      render: (out) => ctx.requestLatency.forEach((h, key) => {
        if (h !== undefined) out.histogram(`api="${API_NAMES[key] ?? `api_${key}`}"`, h)
      })
    },
    perTopic("robustmq_kafka_produced_records_total", "Records produced over Kafka, by topic", (t) => t.producedRecords),
    perTopic("robustmq_kafka_produced_bytes_total", "Bytes of record batches produced over Kafka, by topic", (t) => t.producedBytes),
    perTopic("robustmq_kafka_fetched_records_total", "Records returned to Kafka Fetch requests, by topic", (t) => t.fetchedRecords),
    perTopic("robustmq_kafka_fetched_bytes_total", "Bytes of record batches returned to Kafka Fetch requests, by topic", (t) => t.fetchedBytes),
    {
      name: PARTITIONS, type: "gauge", help: "Partitions per Kafka topic",
      render: (out) => out.block(table().partitionCounts)
    },
    {
      name: CURRENT_OFFSET, type: "gauge", help: "High watermark (next offset) of each partition",
      render: (out) => {
        for (const row of table().partitions) out.samplePrefixed(row.currentPrefix, log.unsafeHighWatermark(row.tp))
      }
    },
    {
      name: OLDEST_OFFSET, type: "gauge", help: "Log start offset of each partition (refreshed from storage within 30 s)",
      render: (out) => {
        const t = table()
        if (t.oldestLines === null) {
          const lines = new ExpositionWriter(false)
          for (const row of t.partitions) if (row.oldest >= 0) lines.samplePrefixed(row.oldestPrefix, row.oldest)
          t.oldestLines = lines.result()
        }
        out.block(t.oldestLines)
      }
    },
    {
      name: "kafka_consumergroup_members", type: "gauge", help: "Members of each consumer group",
      render: (out) => {
        for (const group of ctx.groups.unsafeGroups()) out.sample(`consumergroup="${escapeLabel(group.groupId)}"`, group.members.size)
      }
    },
    {
      name: "kafka_consumergroup_current_offset", type: "gauge", help: "Committed offset of each consumer group per partition",
      render: (out) => eachCommitted((labels, offset) => out.sample(labels, offset))
    },
    {
      name: "kafka_consumergroup_lag", type: "gauge", help: "Records behind the high watermark, per consumer group and partition",
      render: (out) => eachCommitted((labels, _offset, lag) => out.sample(labels, lag))
    }
  ]
}

/** The small families, through prom-client. */
export const kafkaMetrics = (server: KafkaServer["Type"]) => {
  const ctx = server.context
  return [
    scrapedCounter("robustmq_kafka_requests_total", "Kafka requests handled, by API", ["api"], (put) => {
      ctx.requests.forEach((n, key) => {
        if (n > 0) put(n, { api: API_NAMES[key] ?? `api_${key}` })
      })
    }),
    scrapedGauge("robustmq_kafka_connections", "Kafka connections open, both listeners", [], (put) => put(server.openConnections())),
    scrapedGauge("robustmq_kafka_consumer_groups", "Consumer groups by state", ["state"], (put) => {
      const byState = new Map<string, number>()
      for (const group of ctx.groups.unsafeGroups()) byState.set(group.state, (byState.get(group.state) ?? 0) + 1)
      for (const [state, n] of byState) put(n, { state })
    })
  ]
}

/** Registers the Kafka metrics while the Kafka listener runs (nothing when Kafka or metrics are off). */
export const layer: Layer.Layer<never, never, Metrics> = Layer.scopedDiscard(
  Effect.flatMap(Effect.serviceOption(KafkaServer), (server) => {
    if (Option.isNone(server)) return Effect.void
    const ctx = server.value.context
    const table = topicTable(ctx)
    return Effect.zipRight(
      registerScoped(() => kafkaMetrics(server.value)),
      registerRenderedScoped(() => kafkaRenderedFamilies(ctx, table), refreshOldestOffsets(ctx, table))
    )
  })
)
