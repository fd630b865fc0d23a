/**
 * The event store of a cluster node (issue 11): the control-plane streams every node must agree
 * on (topics, users and ACL, Kafka ACLs, bans) live in the coordination service, and every other
 * stream (sessions, group checkpoints, snapshots) stays in the node's own store. An append to a
 * cluster stream is `Coordination.appendIfVersion`, one transaction comparing the stream's head,
 * so the expected-version check holds across nodes; its feed follows a stream with a watch from
 * the revision of the read it started with, re-reading the stream after a gap or a reconnect.
 *
 * Cluster streams are not in `readAll` (their versions stand in for positions, in another space
 * than the local store's): the read models fold them by stream. Never on a per-message path.
 */
import { randomUUID } from "node:crypto"
import { Effect, Schedule, Stream } from "effect"
import {
  type CoordinationError,
  type CoordinationService,
  type Entry,
  parseStreamEntryKey,
  streamHeadKey,
  streamPrefix,
  type StreamVersionConflict
} from "../../services/Coordination.js"
import { type EventData, EventStore, type RecordedEvent } from "../../services/EventStore.js"
import { StorageError, VersionConflict } from "../../services/errors.js"
import { StreamFeed } from "../../services/StreamFeed.js"

/** An entry as stored: `id` makes every append unique, so a retried one is recognised. */
interface StoredEntry {
  readonly id: string
  readonly type: string
  readonly data: unknown
  readonly at: number
}

/** A call whose outcome was unknown is safe to repeat (every write is guarded and idempotent): a few times, quickly. */
const retryUnknown = Schedule.intersect(Schedule.exponential("50 millis"), Schedule.recurs(4))

const recordOf = (stream: string, version: number, value: string): RecordedEvent => {
  const e = JSON.parse(value) as StoredEntry
  return { stream, version, position: version, recordedAt: e.at, type: e.type, data: e.data }
}

const recordsOf = (stream: string, entries: ReadonlyArray<Entry>, fromVersion: number): Array<RecordedEvent> => {
  const out: Array<RecordedEvent> = []
  for (const entry of entries) {
    const at = parseStreamEntryKey(entry.key)
    if (at !== null && at.stream === stream && at.version >= fromVersion) out.push(recordOf(stream, at.version, entry.value))
  }
  return out
}

export interface ClusterEventStore {
  readonly store: EventStore["Type"]
  readonly feed: StreamFeed["Type"]
}

export const make = (coordination: CoordinationService, local: EventStore["Type"], clusterStreams: ReadonlySet<string>): ClusterEventStore => {
  const unavailable = (op: "write" | "read") => (e: CoordinationError) => new StorageError({ op, path: "etcd", cause: new Error(e.message) })

  const readStream = (stream: string, fromVersion = 1) =>
    coordination.list(streamPrefix(stream)).pipe(
      Effect.retry(retryUnknown),
      Effect.mapError(unavailable("read")),
      Effect.map(({ entries, revision }) => ({ records: recordsOf(stream, entries, fromVersion), revision }))
    )

  const headOf = (stream: string) =>
    coordination.get(streamHeadKey(stream)).pipe(Effect.retry(retryUnknown), Effect.mapError(unavailable("read")), Effect.map((v) => Number(v ?? 0)))

  const appendAt = (stream: string, expected: number, values: ReadonlyArray<string>): Effect.Effect<number, StorageError | StreamVersionConflict> =>
    coordination.appendIfVersion(stream, expected, values).pipe(
      Effect.retry({ schedule: retryUnknown, while: (e) => e._tag === "CoordinationError" }),
      Effect.catchTag("CoordinationError", (e) => Effect.fail(unavailable("write")(e)))
    )

  const append = (stream: string, events: ReadonlyArray<EventData>, expectedVersion: number) =>
    Effect.gen(function*() {
      const at = Date.now()
      const values = events.map((e) => JSON.stringify({ id: randomUUID(), type: e.type, data: e.data, at } satisfies StoredEntry))
      if (expectedVersion >= 0) {
        return yield* appendAt(stream, expectedVersion, values).pipe(
          Effect.catchTag("StreamVersionConflict", (c) => Effect.fail(new VersionConflict({ stream, expected: c.expected, actual: c.actual })))
        )
      }
      // Any version: at the head as read, again if another node got there in between.
      for (let attempt = 1;; attempt++) {
        const head = yield* headOf(stream)
        const done = yield* Effect.either(appendAt(stream, head, values))
        if (done._tag === "Right") return done.right
        if (done.left._tag === "StorageError") return yield* Effect.fail(done.left)
        if (attempt >= 10) return yield* Effect.fail(new VersionConflict({ stream, expected: head, actual: done.left.actual }))
      }
    })

  const store = EventStore.of({
    ...local,
    append: (stream, events, expectedVersion) =>
      clusterStreams.has(stream) ? append(stream, events, expectedVersion) : local.append(stream, events, expectedVersion),
    readStream: (stream, fromVersion) =>
      clusterStreams.has(stream) ? Effect.map(readStream(stream, fromVersion), (r) => r.records) : local.readStream(stream, fromVersion)
  })

  const feed = StreamFeed.of({
    follow: (stream, afterVersion, apply) => {
      let version = afterVersion
      const deliver = (records: ReadonlyArray<RecordedEvent>) => {
        const fresh = records.filter((r) => r.version > version)
        if (fresh.length === 0) return Effect.void
        version = fresh[fresh.length - 1]!.version
        return apply(fresh)
      }
      // Reads what is there after `version`, then watches from the read's revision: nothing falls between.
      const session = Effect.gen(function*() {
        const { entries, revision } = yield* coordination.list(streamPrefix(stream))
        yield* deliver(recordsOf(stream, entries, version + 1))
        yield* Stream.runForEach(coordination.watch(streamPrefix(stream), revision), (change) => {
          if (change._tag !== "Put") return Effect.void
          const at = parseStreamEntryKey(change.key)
          if (at === null || at.stream !== stream || at.version <= version) return Effect.void
          if (at.version === version + 1) return deliver([recordOf(stream, at.version, change.value)])
          // Entries of one transaction may arrive in any order: read the stream from where we are.
          return Effect.flatMap(readStream(stream, version + 1), (r) => deliver(r.records))
        })
      })
      return Effect.asVoid(Effect.forkScoped(
        session.pipe(
          Effect.tapError((e) => Effect.logWarning(`cluster: following the ${stream} stream: ${e.message}; following it again`)),
          Effect.retry(Schedule.spaced("500 millis")),
          Effect.catchAllCause((cause) => Effect.logError(`cluster: stopped following the ${stream} stream`, cause))
        )
      ))
    }
  })
  return { store, feed }
}
