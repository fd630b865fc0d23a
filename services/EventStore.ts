/**
 * The control-plane event store: named streams (`session-<clientId>`, `meta`, ...) of
 * Schema-encoded events with optimistic concurrency, plus projection snapshots so that boot
 * time does not grow with the log. Every implementation passes
 * test/storage/EventStore.contract.ts. Appends are group-committed by the implementation.
 */
import { Context, type Effect } from "effect"
import type { StorageError, VersionConflict } from "./errors.js"

/** An event as stored: `type` is the event's tag, `data` its Schema-encoded JSON form. */
export interface EventData {
  readonly type: string
  readonly data: unknown
}

export interface RecordedEvent extends EventData {
  readonly stream: string
  /** 1-based position of the event within its stream. */
  readonly version: number
  /** 1-based position of the event across all streams. */
  readonly position: number
  readonly recordedAt: number
}

/** `-1`: any version; `0`: the stream must not exist yet; `n`: the stream must be at version n. */
export type ExpectedVersion = number

export interface Snapshot {
  /** Global position of the last event folded into `data`. */
  readonly position: number
  readonly data: unknown
}

export class EventStore extends Context.Tag("broker/EventStore")<EventStore, {
  /** Appends atomically; resolves with the stream's new version once durable. */
  readonly append: (
    stream: string,
    events: ReadonlyArray<EventData>,
    expectedVersion: ExpectedVersion
  ) => Effect.Effect<number, StorageError | VersionConflict>
  readonly readStream: (stream: string, fromVersion?: number) => Effect.Effect<ReadonlyArray<RecordedEvent>, StorageError>
  /** Every stream's events after a global position, in order; at most `limit` of them (-1: all). */
  readonly readAll: (afterPosition?: number, limit?: number) => Effect.Effect<ReadonlyArray<RecordedEvent>, StorageError>
  /** The newest event's global position (0 when there is none): where a live tail starts. */
  readonly lastPosition: Effect.Effect<number, StorageError>
  readonly saveSnapshot: (name: string, snapshot: Snapshot) => Effect.Effect<void, StorageError>
  /**
   * Deletes the events of the given types at or below `upToPosition` (folded into a snapshot,
   * and too many to keep, like session checkpoints); returns how many went. A stream's newest
   * event is always kept. Versions and positions of the rest are unchanged, so a stream may
   * have gaps after it.
   */
  readonly prune: (types: ReadonlyArray<string>, upToPosition: number) => Effect.Effect<number, StorageError>
  readonly loadSnapshot: (name: string) => Effect.Effect<Snapshot | undefined, StorageError>
}>() {}
