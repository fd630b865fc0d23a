/**
 * The DeleteRecords floors (domain/kafka/logStartOffsets.ts): read at start-up from the
 * `kafka-log-starts` snapshot plus the events after it, raised durably (one event per
 * DeleteRecords request, appended before the request is answered), and asked synchronously by
 * Fetch and ListOffsets (`floor`). A partition's Kafka log start offset is the larger of its
 * floor and the first offset storage still holds (retention may have gone further).
 *
 * At start-up a floor above its partition's end offset is dropped: that partition's data did
 * not survive the restart (a `memory` topic beside a durable event store) and starts again at 0.
 * Every COMPACT_EVERY raises the floors are saved as a snapshot and the events behind it are
 * pruned, so start-up stays short when DeleteRecords runs often.
 */
import { Effect, Schema } from "effect"
import { partitionOf, streamOf, type TopicPartition } from "../../domain/ids.js"
import {
  evolveLogStarts,
  LOG_START_EVENT_TYPES,
  LOG_STARTS_SNAPSHOT,
  LOG_STARTS_STREAM,
  LogStartEvent,
  LogStartOffsetsRaised,
  type LogStarts,
  LogStartsSnapshot,
  type RaisedLogStart
} from "../../domain/kafka/logStartOffsets.js"
import { StorageError, type VersionConflict } from "../../services/errors.js"
import type { EventStore } from "../../services/EventStore.js"
import type { MessageLog } from "../../services/MessageLog.js"
import type { TopicsService } from "../meta/Topics.js"

const COMPACT_EVERY = 1000

const encodeEvent = Schema.encodeSync(LogStartEvent)
const decodeEvent = Schema.decodeUnknownSync(LogStartEvent)
const encodeSnapshot = Schema.encodeSync(LogStartsSnapshot)
const decodeSnapshot = Schema.decodeUnknownSync(LogStartsSnapshot)

export interface LogStartOffsetsService {
  /** Hot path. The DeleteRecords floor of `tp` (0 when none applies to the live topic). */
  readonly floor: (tp: TopicPartition) => number
  /** Raises floors durably (a floor never moves down); completes once stored. */
  readonly raise: (raised: ReadonlyArray<RaisedLogStart>) => Effect.Effect<void, StorageError | VersionConflict>
}

const snapshotOf = (starts: LogStarts): LogStartsSnapshot => ({
  version: 1,
  partitions: [...starts].map(([tp, s]) => ({ topic: streamOf(tp), topicCreatedAt: s.topicCreatedAt, partition: partitionOf(tp), offset: s.offset }))
})

export const make = (
  store: EventStore["Type"],
  topics: Pick<TopicsService, "get">,
  log: Pick<MessageLog["Type"], "unsafeEndOffset">
): Effect.Effect<LogStartOffsetsService, StorageError> =>
  Effect.gen(function*() {
    const starts: LogStarts = new Map()
    const snapshot = yield* store.loadSnapshot(LOG_STARTS_SNAPSHOT)
    const events = yield* store.readStream(LOG_STARTS_STREAM)
    let position = snapshot?.position ?? 0
    /** The stream's version after the last event folded (its global position is read when compacting). */
    let version = 0
    let sinceSnapshot = 0
    yield* Effect.try({
      try: () => {
        if (snapshot !== undefined) evolveLogStarts(starts, decodeSnapshot(snapshot.data).partitions)
        for (const r of events) {
          version = r.version
          if (r.position <= position) continue
          evolveLogStarts(starts, decodeEvent(r.data).partitions)
          position = r.position
          sinceSnapshot++
        }
      },
      catch: (cause) => new StorageError({ op: "recover", path: LOG_STARTS_STREAM, cause })
    })
    for (const [tp, s] of starts) if (s.offset > log.unsafeEndOffset(tp)) starts.delete(tp)

    const permit = yield* Effect.makeSemaphore(1)
    /** Runs under the permit (or before any raise): `starts` is the fold up to `version`. */
    const compact = Effect.gen(function*() {
      sinceSnapshot = 0
      const newest = (yield* store.readStream(LOG_STARTS_STREAM, version)).at(-1)
      if (newest !== undefined) position = Math.max(position, newest.position)
      yield* store.saveSnapshot(LOG_STARTS_SNAPSHOT, { position, data: encodeSnapshot(snapshotOf(starts)) })
      yield* store.prune(LOG_START_EVENT_TYPES, position)
    })
    if (sinceSnapshot >= COMPACT_EVERY) yield* compact

    const floor = (tp: TopicPartition): number => {
      const s = starts.get(tp)
      if (s === undefined) return 0
      return topics.get(streamOf(tp))?.createdAt === s.topicCreatedAt ? s.offset : 0
    }

    const raise = (raised: ReadonlyArray<RaisedLogStart>) =>
      permit.withPermits(1)(Effect.gen(function*() {
        const event = new LogStartOffsetsRaised({ partitions: raised, at: Date.now() })
        version = yield* store.append(LOG_STARTS_STREAM, [{ type: event._tag, data: encodeEvent(event) }], -1)
        evolveLogStarts(starts, raised)
        if (++sinceSnapshot >= COMPACT_EVERY) yield* compact
      }))

    return { floor, raise }
  })
