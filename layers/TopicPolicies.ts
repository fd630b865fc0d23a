/**
 * Per log topic: how long and how much of it the storage keeps (`retentionMs`,
 * `retentionBytes`, -1 = unlimited) and which storage kind holds its partitions. A plain,
 * mutable registry created once per broker; the storage reads it, it reads nothing.
 *
 * Contract with its writer, the topic registry (src/meta/Topics.ts): it calls `set(topic, ...)`
 * with the topic's overrides (`overridesFromConfig(topic.config)`) for every topic it folds at
 * boot and on every creation or config change, and `remove(topic)` on deletion, always before
 * any record of that topic is appended. A topic without an entry gets the defaults, from the
 * config's [storage] section (`kind`, `retentionMs`, `retentionBytes`).
 *
 * Readers: the segment driver's retention (`policyFor`, per partition and pass), the retention
 * fiber for memory and SQLite (LogRetention.ts), and the routing driver, which places a
 * partition on `storageFor(stream)` when it receives its first batch (RoutingLogDriver.ts; a
 * partition that already holds data stays where its data is).
 *
 * The broker's own streams (names starting with `__`, e.g. `__retained`) are never aged out:
 * their owners truncate them against their snapshots, so `policyFor` is unlimited for them
 * whatever was set.
 */
import { Context, Layer } from "effect"
import type { StorageKind } from "../config/BrokerConfigShape.js"
import { streamOf, type TopicPartition } from "../domain/ids.js"
import { type RetentionPolicy, UNLIMITED } from "./storage-segment/Retention.js"

export type { RetentionPolicy }

export interface TopicPolicy extends RetentionPolicy {
  readonly storage: StorageKind
}

export interface PolicyOverrides {
  readonly retentionMs?: number
  readonly retentionBytes?: number
  readonly storage?: StorageKind
}

export interface TopicPoliciesService {
  /** Replaces the overrides of `topic` (keys left out take the defaults). */
  readonly set: (topic: string, overrides: PolicyOverrides) => void
  /** Back to the defaults (topic deleted). */
  readonly remove: (topic: string) => void
  /**
   * The lowest offset of `tp` a reader inside the broker still needs (persistent MQTT sessions,
   * set by the MQTT engine every few seconds); retention never deletes from there on.
   * Undefined lifts the hold.
   */
  readonly hold: (tp: TopicPartition, keepFrom: number | undefined) => void
  /** Retention of one partition; unlimited for the broker's `__` streams. */
  readonly policyFor: (tp: TopicPartition) => RetentionPolicy
  /** The storage kind new partitions of `stream` go to. */
  readonly storageFor: (stream: string) => StorageKind
  /** The whole policy of `topic` (defaults filled in). */
  readonly get: (topic: string) => TopicPolicy
  readonly defaults: TopicPolicy
}

export class TopicPolicies extends Context.Tag("broker/TopicPolicies")<TopicPolicies, TopicPoliciesService>() {}

const STORAGE_KINDS: ReadonlyArray<string> = ["memory", "sqlite", "segment"]

const integerAtLeastMinusOne = (value: string | undefined): number | undefined => {
  if (value === undefined || !/^-?\d+$/.test(value)) return undefined
  const n = Number(value)
  return Number.isSafeInteger(n) && n >= -1 ? n : undefined
}

/**
 * The overrides a Kafka topic config carries: `retention.ms`, `retention.bytes` and our own
 * `robustmq.storage`. Values that do not parse are left out (the registry validates configs
 * before storing them; this never throws on what it is given).
 */
export const overridesFromConfig = (config: Readonly<Record<string, string>>): PolicyOverrides => {
  const retentionMs = integerAtLeastMinusOne(config["retention.ms"])
  const retentionBytes = integerAtLeastMinusOne(config["retention.bytes"])
  const storage = config["robustmq.storage"]
  return {
    ...(retentionMs === undefined ? {} : { retentionMs }),
    ...(retentionBytes === undefined ? {} : { retentionBytes }),
    ...(storage !== undefined && STORAGE_KINDS.includes(storage) ? { storage: storage as StorageKind } : {})
  }
}

export const make = (defaults: TopicPolicy): TopicPoliciesService => {
  const base: TopicPolicy = {
    storage: defaults.storage,
    retentionMs: defaults.retentionMs,
    retentionBytes: defaults.retentionBytes
  }
  const topics = new Map<string, TopicPolicy>()

  const get = (topic: string): TopicPolicy => topics.get(topic) ?? base
  const holds = new Map<TopicPartition, number>()

  return {
    set: (topic, overrides) => {
      topics.set(topic, {
        storage: overrides.storage ?? base.storage,
        retentionMs: overrides.retentionMs ?? base.retentionMs,
        retentionBytes: overrides.retentionBytes ?? base.retentionBytes
      })
    },
    remove: (topic) => {
      topics.delete(topic)
    },
    hold: (tp, keepFrom) => {
      if (keepFrom === undefined) holds.delete(tp)
      else holds.set(tp, keepFrom)
    },
    policyFor: (tp) => {
      const stream = streamOf(tp)
      if (stream.startsWith("__")) return UNLIMITED
      const policy = get(stream)
      const keepFrom = holds.get(tp)
      return keepFrom === undefined ? policy : { ...policy, keepFrom }
    },
    storageFor: (stream) => get(stream).storage,
    get,
    defaults: base
  }
}

/** The defaults a broker's [storage] config gives (`BrokerConfigShape.storage` fits as is). */
export const defaultsFrom = (storage: {
  readonly kind: StorageKind
  readonly retentionMs: number
  readonly retentionBytes: number
}): TopicPolicy => ({ storage: storage.kind, retentionMs: storage.retentionMs, retentionBytes: storage.retentionBytes })

export const layer = (defaults: TopicPolicy): Layer.Layer<TopicPolicies> =>
  Layer.sync(TopicPolicies, () => make(defaults))
