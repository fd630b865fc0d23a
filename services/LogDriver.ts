/**
 * The encoded storage driver under MessageLog: bytes in, bytes out. Every driver (memory,
 * SQLite, segment files) passes test/storage/LogDriver.contract.ts. It never assigns
 * offsets (MessageLog does) and never sees individual records on the write path.
 */
import { Context, type Effect } from "effect"
import type { TopicPartition } from "../domain/ids.js"
import type { StorageError } from "./errors.js"

/** A sealed Kafka RecordBatch v2 (bytes include the batch header with baseOffset set). */
export interface EncodedBatch {
  readonly tp: TopicPartition
  readonly baseOffset: number
  /** Offset of the last record in the batch (baseOffset + count - 1). */
  readonly lastOffset: number
  readonly bytes: Uint8Array
}

export class LogDriver extends Context.Tag("broker/LogDriver")<LogDriver, {
  /** Durably writes all batches in one unit (one transaction / one write per partition). */
  readonly writeBatches: (batches: ReadonlyArray<EncodedBatch>) => Effect.Effect<void, StorageError>
  /**
   * Batches of `tp` holding offsets >= `fromOffset`, in offset order, stopping once `maxBytes`
   * is exceeded (at least one batch is returned if any exists). The first batch may start
   * before `fromOffset`.
   */
  readonly readRange: (
    tp: TopicPartition,
    fromOffset: number,
    maxBytes: number
  ) => Effect.Effect<ReadonlyArray<EncodedBatch>, StorageError>
  /**
   * Retention: deletes the batches of `tp` that lie wholly below `offset`, but never the
   * partition's newest batch (it carries the end offset that `recover` resumes from).
   */
  readonly truncateBefore: (tp: TopicPartition, offset: number) => Effect.Effect<void, StorageError>
  /**
   * Kafka ListOffsets by time: the base offset of the first readable batch of `tp` whose
   * maxTimestamp >= `timestamp`, or null when there is none. Batch granularity, as Kafka's own
   * log lookup; the caller filters records inside the batch if it needs to.
   */
  readonly offsetForTimestamp: (tp: TopicPartition, timestamp: number) => Effect.Effect<number | null, StorageError>
  /**
   * Retention by size (Kafka's retention.bytes): the offset to truncate before so that `tp`
   * still holds at least `bytes` bytes afterwards while dropping as much as the driver's
   * granularity allows (whole batches; whole segments for the segment store), or null when
   * nothing may go. Pass the result to `truncateBefore`.
   */
  readonly offsetForSizeLimit: (tp: TopicPartition, bytes: number) => Effect.Effect<number | null, StorageError>
  /**
   * Removes every batch of `tp` (topic deletion). Afterwards `recover` does not list it and
   * reads return nothing; a later write starts the partition afresh. A no-op for an unknown
   * partition.
   */
  readonly deletePartition: (tp: TopicPartition) => Effect.Effect<void, StorageError>
  /** At start-up: the next offset to assign for every partition that has data. */
  readonly recover: Effect.Effect<ReadonlyMap<TopicPartition, number>, StorageError>
}>() {}
