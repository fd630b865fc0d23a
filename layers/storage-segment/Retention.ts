/**
 * Kafka-style retention for the segment store: which of a partition's oldest segments to delete
 * by age (`retentionMs`) and by size (`retentionBytes`), whole segments only. Pure: the driver
 * asks `policyFor(tp)` for each partition (config defaults today; per-topic overrides plug in
 * there later) and deletes what `expiredSegmentCount` says.
 */
import { streamOf, type TopicPartition } from "../../domain/ids.js"

export interface RetentionPolicy {
  /** Largest size of the partition's log in bytes; -1 = unlimited. */
  readonly retentionBytes: number
  /** Largest age of a segment's newest batch (by its maxTimestamp) in ms; -1 = unlimited. */
  readonly retentionMs: number
  /**
   * Offsets at or above this are still needed by a reader the broker serves itself (persistent
   * MQTT sessions): age and size never delete them. Undefined = no such reader.
   */
  readonly keepFrom?: number
}

export const UNLIMITED: RetentionPolicy = { retentionBytes: -1, retentionMs: -1 }

/**
 * The config defaults for every partition, except the broker's internal streams (`__retained`
 * and any other `__` stream): their owners truncate them explicitly against their snapshots,
 * like Kafka's compacted `__consumer_offsets`, and deleting by age would lose retained messages.
 */
export const defaultPolicyFor = (defaults: RetentionPolicy) => (tp: TopicPartition): RetentionPolicy =>
  streamOf(tp).startsWith("__") ? UNLIMITED : defaults

export interface SegmentSummary {
  readonly size: number
  /** One past the segment's last offset. */
  readonly nextOffset: number
  /** Largest batch maxTimestamp in the segment (-Infinity when empty). */
  readonly maxTimestamp: number
}

/**
 * How many of the oldest `segments` to delete, considering only the first `deletable` (the
 * driver excludes the active segment and the one holding the partition's newest batch). As in
 * Kafka, each rule deletes a prefix: by age, while the segment's newest batch is older than
 * `retentionMs` (an empty segment always goes, one without timestamps never expires by age); by size, while the log
 * minus that segment is still at least `retentionBytes`.
 */
export const expiredSegmentCount = (
  segments: ReadonlyArray<SegmentSummary>,
  deletable: number,
  policy: RetentionPolicy,
  now: number
): number => {
  let limit = Math.min(deletable, segments.length)
  const keepFrom = policy.keepFrom
  if (keepFrom !== undefined) {
    let held = 0
    while (held < limit && segments[held]!.nextOffset <= keepFrom) held++
    limit = held
  }
  let count = 0
  if (policy.retentionMs >= 0) {
    while (count < limit) {
      const { maxTimestamp, size } = segments[count]!
      if (size > 0 && !(maxTimestamp >= 0 && now - maxTimestamp > policy.retentionMs)) break
      count++
    }
  }
  if (policy.retentionBytes >= 0) {
    let total = 0
    for (let i = 0; i < segments.length; i++) total += segments[i]!.size
    let excess = total - policy.retentionBytes
    for (let i = 0; i < count; i++) excess -= segments[i]!.size
    while (count < limit && excess - segments[count]!.size >= 0) {
      excess -= segments[count]!.size
      count++
    }
  }
  return count
}
