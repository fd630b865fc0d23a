/**
 * What every Kafka request handler shares: configuration, the log, the topic registry, the group
 * coordinator, the MQTT engine (records produced over Kafka are routed to MQTT subscribers), the
 * node's advertised host, the idempotent-producer state, the DeleteRecords floors and the
 * topic policies (whose MQTT-session holds DeleteRecords respects when it frees storage).
 */
import type { Admission } from "../net/Admission.js"
import type { KafkaCluster } from "../cluster/kafka/KafkaCluster.js"
import type { StoreAdoption } from "../cluster/workers/StoreAdoption.js"
import { Effect } from "effect"
import type { BrokerConfigShape } from "../../config/BrokerConfigShape.js"
import type { TopicPartition } from "../../domain/ids.js"
import { LatencyHistogram } from "../../domain/metrics/LatencyHistogram.js"
import type { StorageError } from "../../services/errors.js"
import type { MessageLog } from "../../services/MessageLog.js"
import type { TopicPoliciesService } from "../../layers/TopicPolicies.js"
import type { TopicsService } from "../meta/Topics.js"
import type { Engine } from "../mqtt/engine/Engine.js"
import type { GroupCoordinatorService } from "./groups/GroupCoordinator.js"
import type { IdempotentProducers } from "./IdempotentProducers.js"
import type { KafkaConnection } from "./KafkaConnection.js"
import type { LogStartOffsetsService } from "./LogStartOffsets.js"

/** This broker's node id: a single node, leader of every partition. */
export const NODE_ID = 0
export const CLUSTER_ID = "robustmq-ts"
const START_OFFSET_TTL_MS = 1000

export class KafkaContext {
  /** Requests handled since start, by API key (metrics; a plain array: one increment per request). */
  readonly requests: Array<number> = new Array<number>(128).fill(0)
  /** Request handling time by API key, made on an API's first request (metrics). */
  readonly requestLatency: Array<LatencyHistogram | undefined> = new Array<LatencyHistogram | undefined>(128)
  /** Records and bytes produced and fetched, by topic (metrics; dropped with the topic). */
  readonly topicTraffic = new Map<string, TopicTraffic>()
  /** The last producer id handed out: ids only grow. */
  private lastProducerId = 0
  /** Log start offsets read from storage, reused for a second (Fetch asks on every poll). */
  private readonly startOffsets = new Map<TopicPartition, { readonly offset: number; readonly at: number }>()

  constructor(
    readonly config: BrokerConfigShape,
    readonly log: MessageLog["Type"],
    readonly topics: TopicsService,
    readonly groups: GroupCoordinatorService,
    readonly engine: Engine,
    /** Idempotent producers' sequence state per partition. */
    readonly producers: IdempotentProducers,
    /** Log start offsets raised by DeleteRecords. */
    readonly logStarts: LogStartOffsetsService,
    readonly policies: TopicPoliciesService,
    /** Connections, connect rate and failed logins per address, shared with the MQTT listeners. */
    readonly admission: Admission,
    /** Partition leaders, group slots and brokers of the cluster; null on a single node (it leads and coordinates everything). */
    readonly cluster: KafkaCluster | null = null,
    /**
     * Dead sibling workers' stores held here (`--workers` on SQLite); null otherwise. Records
     * produced to a partition served from one reach MQTT subscribers as copies, not as references
     * into this node's log.
     */
    readonly adoption: StoreAdoption | null = null
  ) {
    // A deleted topic's partitions start afresh if it is created again.
    topics.onChange((name) => {
      if (topics.get(name) !== undefined) return
      producers.forgetTopic(name)
      this.topicTraffic.delete(name)
    })
  }

  /**
   * Hot path. NONE when this node serves the partition (always, on a single node); otherwise
   * NOT_LEADER_OR_FOLLOWER (another live node leads it) or LEADER_NOT_AVAILABLE (nobody does now).
   */
  leaderError(topic: string, partition: number): number {
    return this.cluster === null ? 0 : this.cluster.leaders.unsafeCheck(topic, partition)
  }

  /** The partition's leader epoch (0 on a single node). */
  leaderEpoch(topic: string, partition: number): number {
    return this.cluster === null ? 0 : this.cluster.leaders.leaderOf(topic, partition)?.epoch ?? -1
  }

  /** The topic's produce and fetch counters, made on first use. */
  trafficOf(topic: string): TopicTraffic {
    let t = this.topicTraffic.get(topic)
    if (t === undefined) this.topicTraffic.set(topic, (t = new TopicTraffic()))
    return t
  }

  /** Records the time one request of `apiKey` took. */
  observeRequest(apiKey: number, ms: number): void {
    ;(this.requestLatency[apiKey & 127] ??= new LatencyHistogram()).observe(ms)
  }

  /**
   * A producer id unique across restarts without storing a counter: milliseconds since the
   * epoch times 1000, or one more than the last id when that is not larger (more than 1000 ids
   * in one millisecond, or the clock stepped back). So ids never repeat within a process, and
   * a restarted process starts above every id of the previous one unless that one handed out
   * more than 1000 ids per millisecond on average, or the clock went back further than the
   * restart took. Below 2^53 until the year 2255.
   */
  nextProducerId(): number {
    this.lastProducerId = Math.max(Date.now() * 1000, this.lastProducerId + 1)
    return this.lastProducerId
  }

  /** The host clients are told to connect to: configured, or the address this client used (the port is always the one it used). */
  advertisedHost(conn: KafkaConnection): string {
    return this.config.kafka.advertisedHost !== "" ? this.config.kafka.advertisedHost : conn.localHost
  }

  /**
   * The partition's log start offset (Kafka's logStartOffset): the first offset storage holds,
   * or the DeleteRecords floor when that is higher (storage frees whole batches). What storage
   * holds is cached for a second (Fetch asks on every poll); the floor is always current.
   */
  startOffset(tp: TopicPartition): Effect.Effect<number, StorageError> {
    const now = Date.now()
    const cached = this.startOffsets.get(tp)
    if (cached !== undefined && now - cached.at < START_OFFSET_TTL_MS) return Effect.succeed(Math.max(cached.offset, this.logStarts.floor(tp)))
    return this.storedStartOffset(tp, now)
  }

  /** `startOffset` read from storage now (ListOffsets earliest, DeleteRecords). */
  logStartOffset(tp: TopicPartition): Effect.Effect<number, StorageError> {
    return this.storedStartOffset(tp, Date.now())
  }

  private storedStartOffset(tp: TopicPartition, now: number): Effect.Effect<number, StorageError> {
    return Effect.map(this.log.startOffset(tp), (offset) => {
      if (this.startOffsets.size > 100_000) this.startOffsets.clear()
      this.startOffsets.set(tp, { offset, at: now })
      return Math.max(offset, this.logStarts.floor(tp))
    })
  }
}

/** One topic's Kafka traffic since start (plain counters, read at scrape time). */
export class TopicTraffic {
  producedRecords = 0
  producedBytes = 0
  fetchedRecords = 0
  fetchedBytes = 0
}
