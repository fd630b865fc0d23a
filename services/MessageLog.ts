/**
 * The data-plane log: per topic-partition, append-only records with offsets. MQTT publishes
 * (QoS > 0 and retained) and, later, Kafka produce requests append here.
 *
 * Hot methods are synchronous: `unsafeAppend` assigns the offset now and the record becomes
 * durable with the next group-commit flush; `unsafeOnDurable` registers a callback for that.
 */
import { Context, type Effect } from "effect"
import type { TopicPartition } from "../domain/ids.js"
import type { LatencyHistogram } from "../domain/metrics/LatencyHistogram.js"
import type { LogRecord, StoredRecord } from "../domain/message/LogRecord.js"
import type { StorageError } from "./errors.js"
import type { EncodedBatch } from "./LogDriver.js"

/** What the log's group commit did since start (plain numbers, read by the metrics endpoint). */
export interface LogStats {
  /** Per flusher pass: the driver's write of every sealed batch, fsync included. */
  readonly commitLatency: LatencyHistogram
  /** Per flusher pass: from the first append the pass carries to its durability (what a PUBACK waits for). */
  readonly appendLatency: LatencyHistogram
  /** Bytes of record batches written to the driver. */
  bytesWritten: number
  /** Records written to the driver. */
  recordsWritten: number
}

export class MessageLog extends Context.Tag("broker/MessageLog")<MessageLog, {
  readonly stats: LogStats
  /** Hot path. Appends to the partition's open batch and returns the assigned offset. */
  readonly unsafeAppend: (tp: TopicPartition, record: LogRecord) => number
  /**
   * Hot path. `done` runs once the batch holding `offset` of `tp` is durable (no argument) or
   * failed to write (with the error). Runs at once if the offset is already durable.
   */
  readonly unsafeOnDurable: (tp: TopicPartition, offset: number, done: (error?: StorageError) => void) => void
  /**
   * Hot path (Kafka Produce). Appends an already encoded, validated RecordBatch v2 of `count`
   * records as one batch, patching its baseOffset in place; the log owns `encoded` afterwards.
   * Returns the base offset.
   */
  readonly unsafeAppendBatch: (tp: TopicPartition, encoded: Uint8Array, count: number) => number
  /** Every offset below is durable: Kafka's high watermark (0 for an unknown partition). */
  readonly unsafeHighWatermark: (tp: TopicPartition) => number
  /**
   * Runs `wake` once the high watermark of `tp` passes `offset` (at once if it already has), or
   * once when the partition is deleted (the waiter re-checks and finds it gone); the returned
   * function cancels the wait. For Fetch long polls.
   */
  readonly unsafeOnAdvance: (tp: TopicPartition, offset: number, wake: () => void) => () => void
  /**
   * Bytes appended and not yet written (estimated as for batch caps): publishers' reads pause
   * while this is above the high-water mark, so a slow disk cannot fill memory.
   */
  readonly unsafeUnwrittenBytes: () => number
  /** Runs `done` once, after the flusher's next pass has settled (whether or not it wrote). */
  readonly unsafeAfterNextPass: (done: () => void) => void
  /**
   * Sets the one pass listener: `taking` runs synchronously as each flusher pass takes what has
   * been appended; what it returns runs once that pass is written (ok false: it failed), before
   * the pass's durability callbacks, so it says "durable" before anything waiting on them acts.
   */
  readonly unsafeOnPass: (taking: () => ((ok: boolean) => void) | null) => void
  /** Next offset to be assigned in `tp` (0 for an unknown partition). */
  readonly unsafeEndOffset: (tp: TopicPartition) => number
  /** Every partition that holds records or has been appended to. */
  readonly unsafePartitions: () => ReadonlyArray<TopicPartition>
  /**
   * Records of `tp` with offset >= `fromOffset`, up to roughly `maxBytes`, including records
   * not yet flushed. Reads from storage when the offsets are no longer in memory.
   */
  readonly read: (
    tp: TopicPartition,
    fromOffset: number,
    maxBytes: number
  ) => Effect.Effect<ReadonlyArray<StoredRecord>, StorageError>
  /**
   * Durable batches of `tp` holding offsets >= `fromOffset`, as stored (Kafka Fetch serves the
   * bytes unchanged; the first batch may start before `fromOffset`). At least one batch if any.
   */
  readonly readBatches: (
    tp: TopicPartition,
    fromOffset: number,
    maxBytes: number
  ) => Effect.Effect<ReadonlyArray<EncodedBatch>, StorageError>
  /** The lowest offset still stored (Kafka's log start offset). */
  readonly startOffset: (tp: TopicPartition) => Effect.Effect<number, StorageError>
  /** Retention: drops stored records below `offset` (see LogDriver.truncateBefore). */
  readonly truncateBefore: (tp: TopicPartition, offset: number) => Effect.Effect<void, StorageError>
  /**
   * Kafka ListOffsets by time: the base offset of the first stored batch of `tp` whose
   * maxTimestamp >= `timestamp`, or null when none qualifies (see LogDriver.offsetForTimestamp).
   */
  readonly offsetForTimestamp: (tp: TopicPartition, timestamp: number) => Effect.Effect<number | null, StorageError>
  /**
   * Topic deletion: forgets `tp` at once (end offset and high watermark back to 0, gone from
   * `unsafePartitions`, durability callbacks of its unwritten records failed with a
   * StorageError, watchers woken once), then deletes its data in the driver after any write in
   * flight. Succeeds once the data is gone. Appends made meanwhile start a new partition at
   * offset 0, written after the deletion.
   */
  readonly deletePartition: (tp: TopicPartition) => Effect.Effect<void, StorageError>
  /** Writes every open batch now and waits for it (used at shutdown and by tests). */
  readonly flush: Effect.Effect<void, StorageError>
}>() {}
