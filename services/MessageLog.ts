/**
 * The data-plane log: per topic-partition, append-only records with offsets. MQTT publishes
 * (QoS > 0 and retained) and, later, Kafka produce requests append here.
 *
 * Hot methods are synchronous: `unsafeAppend` assigns the offset now and the record becomes
 * durable with the next group-commit flush; `unsafeOnDurable` registers a callback for that.
 */
import { Context, type Effect } from "effect"
import type { TopicPartition } from "../domain/ids.js"
import type { LogRecord, StoredRecord } from "../domain/message/LogRecord.js"
import type { StorageError } from "./errors.js"

export class MessageLog extends Context.Tag("broker/MessageLog")<MessageLog, {
  /** Hot path. Appends to the partition's open batch and returns the assigned offset. */
  readonly unsafeAppend: (tp: TopicPartition, record: LogRecord) => number
  /**
   * Hot path. `done` runs once the batch holding `offset` of `tp` is durable (no argument) or
   * failed to write (with the error). Runs at once if the offset is already durable.
   */
  readonly unsafeOnDurable: (tp: TopicPartition, offset: number, done: (error?: StorageError) => void) => void
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
  /** Retention: drops stored records below `offset` (see LogDriver.truncateBefore). */
  readonly truncateBefore: (tp: TopicPartition, offset: number) => Effect.Effect<void, StorageError>
  /** Writes every open batch now and waits for it (used at shutdown and by tests). */
  readonly flush: Effect.Effect<void, StorageError>
}>() {}
