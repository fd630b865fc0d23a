/**
 * EventStore on SQLite with group commit. `events(global_position, stream, version, type, data
 * JSON, recorded_at, UNIQUE(stream, version))` and `snapshots(name, position, data JSON)`.
 *
 * This process is the only writer: the current version of every stream lives in a Map (loaded
 * at start), so `append` checks `expectedVersion` and reserves its versions synchronously, queues
 * its rows and waits. One flusher fiber, woken by a latch, writes every queued append in ONE
 * transaction and then completes each waiter; appends made during a write form the next one.
 * If a write fails, every append in it fails with the StorageError and its reserved versions are
 * released; queued appends to the same streams (reserved on top of them) fail too, so no stream
 * ever gets a gap. It must never write outside the flusher (except snapshots) and never
 * complete a waiter before its transaction committed.
 */
import { SqlClient } from "@effect/sql"
import { Cause, Deferred, Effect, Exit, FiberId, Layer, type Scope } from "effect"
import { EventStore, type EventData, type RecordedEvent, type Snapshot } from "../../services/EventStore.js"
import { StorageError, VersionConflict } from "../../services/errors.js"
import { SqliteWriter } from "./SqliteWriter.js"

interface Pending {
  readonly stream: string
  /** Version of the stream before this append. */
  readonly previous: number
  readonly events: ReadonlyArray<EventData>
  /** JSON text of each event's data, encoded before the versions were reserved. */
  readonly data: ReadonlyArray<string>
  readonly recordedAt: number
  readonly done: Deferred.Deferred<number, StorageError>
}

interface EventRow {
  readonly global_position: number
  readonly stream: string
  readonly version: number
  readonly type: string
  readonly data: string
  readonly recorded_at: number
}

const toRecorded = (r: EventRow): RecordedEvent => ({
  stream: r.stream,
  version: r.version,
  position: r.global_position,
  type: r.type,
  data: JSON.parse(r.data),
  recordedAt: r.recorded_at
})

const toJson = (data: unknown): string => JSON.stringify(data) ?? "null"

export const make: Effect.Effect<EventStore["Type"], StorageError, SqlClient.SqlClient | SqliteWriter | Scope.Scope> =
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const writer = yield* SqliteWriter
    const clock = yield* Effect.clock
    const insertEvent = writer.db.prepare(
      "INSERT INTO events (stream, version, type, data, recorded_at) VALUES (?, ?, ?, ?, ?)"
    )
    const upsertSnapshot = writer.db.prepare(
      "INSERT INTO snapshots (name, position, data) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position, data = excluded.data"
    )

    const versions = new Map<string, number>()
    const loaded = yield* sql<{ readonly stream: string; readonly version: number }>`
      SELECT stream, max(version) AS version FROM events GROUP BY stream`.pipe(
      Effect.mapError((cause) => new StorageError({ op: "recover", cause }))
    )
    for (const row of loaded) versions.set(row.stream, row.version)

    let queue: Array<Pending> = []
    const wake = yield* Effect.makeLatch(false)

    const append = (stream: string, events: ReadonlyArray<EventData>, expectedVersion: number) =>
      Effect.suspend((): Effect.Effect<number, StorageError | VersionConflict> => {
        const current = versions.get(stream) ?? 0
        if (expectedVersion !== -1 && expectedVersion !== current) {
          return Effect.fail(new VersionConflict({ stream, expected: expectedVersion, actual: current }))
        }
        if (events.length === 0) return Effect.succeed(current)
        const data = events.map((e) => toJson(e.data)) // throws (a defect) on data that is not JSON
        versions.set(stream, current + events.length)
        const done = Deferred.unsafeMake<number, StorageError>(FiberId.none)
        queue.push({ stream, previous: current, events, data, recordedAt: clock.unsafeCurrentTimeMillis(), done })
        wake.unsafeOpen()
        return Deferred.await(done)
      })

    /** Every queued append in one synchronous transaction (see SqliteWriter for why). */
    const insertAll = (batch: ReadonlyArray<Pending>) =>
      writer.transaction("write", () => {
        for (const p of batch) {
          for (let i = 0; i < p.events.length; i++) {
            insertEvent.run(p.stream, p.previous + i + 1, p.events[i]!.type, p.data[i]!, p.recordedAt)
          }
        }
      })

    /** Completes the waiters of a written batch, or fails them and releases their versions. */
    const complete = (batch: ReadonlyArray<Pending>, exit: Exit.Exit<void, unknown>) => {
      if (Exit.isSuccess(exit)) {
        for (const p of batch) Deferred.unsafeDone(p.done, Exit.succeed(p.previous + p.events.length))
        return
      }
      const error = new StorageError({ op: "write", cause: Cause.squash(exit.cause) })
      const failed = Exit.fail(error)
      const rollback = new Map<string, number>()
      for (const p of batch) {
        if (!rollback.has(p.stream)) rollback.set(p.stream, p.previous)
        Deferred.unsafeDone(p.done, failed)
      }
      // Appends queued meanwhile on the same streams built their versions on the lost ones.
      const kept: Array<Pending> = []
      for (const p of queue) {
        if (rollback.has(p.stream)) Deferred.unsafeDone(p.done, failed)
        else kept.push(p)
      }
      queue = kept
      for (const [stream, version] of rollback) {
        if (version === 0) versions.delete(stream)
        else versions.set(stream, version)
      }
    }

    const flushOnce = Effect.suspend(() => {
      const batch = queue
      queue = []
      if (batch.length === 0) return Effect.void
      return insertAll(batch).pipe(Effect.exit, Effect.map((exit) => complete(batch, exit)))
    })

    /** Completed by the flusher once the queue is empty and no write is in flight. */
    let drained: Array<Deferred.Deferred<void>> = []

    yield* Effect.forkScoped(
      Effect.forever(
        Effect.zipRight(
          wake.await,
          Effect.uninterruptible(Effect.suspend(() => {
            wake.unsafeClose()
            return Effect.map(flushOnce, () => {
              if (queue.length > 0 || drained.length === 0) return
              const waiters = drained
              drained = []
              for (const d of waiters) Deferred.unsafeDone(d, Exit.void)
            })
          }))
        )
      )
    )
    // Runs before the flusher is interrupted (finalizers run in reverse order): let it write
    // what is queued and finish what is in flight, so that no accepted append is left waiting.
    // The flusher's body is uninterruptible; it is interrupted only while idle.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const d = Deferred.unsafeMake<void>(FiberId.none)
        drained.push(d)
        wake.unsafeOpen()
        return Deferred.await(d)
      })
    )

    const readStream = (stream: string, fromVersion = 1) =>
      sql<EventRow>`SELECT global_position, stream, version, type, data, recorded_at FROM events
        WHERE stream = ${stream} AND version >= ${fromVersion} ORDER BY version`.pipe(
        Effect.map((rows): ReadonlyArray<RecordedEvent> => rows.map(toRecorded)),
        Effect.mapError((cause) => new StorageError({ op: "read", path: stream, cause }))
      )

    // LIMIT -1: no limit, in SQLite.
    const readAll = (afterPosition = 0, limit = -1) =>
      sql<EventRow>`SELECT global_position, stream, version, type, data, recorded_at FROM events
        WHERE global_position > ${afterPosition} ORDER BY global_position LIMIT ${limit}`.pipe(
        Effect.map((rows): ReadonlyArray<RecordedEvent> => rows.map(toRecorded)),
        Effect.mapError((cause) => new StorageError({ op: "read", cause }))
      )

    const saveSnapshot = (name: string, snapshot: Snapshot) =>
      Effect.suspend(() => {
        const data = toJson(snapshot.data)
        return writer.transaction("snapshot", () => upsertSnapshot.run(name, snapshot.position, data))
      }).pipe(Effect.mapError((e) => new StorageError({ op: "snapshot", path: name, cause: e.cause })))

    const lastPosition = sql<{ readonly last: number | null }>`SELECT MAX(global_position) AS last FROM events`.pipe(
      Effect.map((rows) => rows[0]?.last ?? 0),
      Effect.mapError((cause) => new StorageError({ op: "read", cause }))
    )

    const loadSnapshot = (name: string) =>
      sql<{ readonly position: number; readonly data: string }>`
        SELECT position, data FROM snapshots WHERE name = ${name}`.pipe(
        Effect.map((rows): Snapshot | undefined =>
          rows.length === 0 ? undefined : { position: rows[0]!.position, data: JSON.parse(rows[0]!.data) }
        ),
        Effect.mapError((cause) => new StorageError({ op: "snapshot", path: name, cause }))
      )

    const prune = (types: ReadonlyArray<string>, upToPosition: number) =>
      Effect.suspend(() => {
        if (types.length === 0) return Effect.succeed(0)
        let deleted = 0
        // A stream's newest event stays: its version is what `append` continues from after a restart.
        const statement = writer.db.prepare(
          `DELETE FROM events WHERE global_position <= ? AND type IN (${types.map(() => "?").join(", ")})
             AND version < (SELECT max(version) FROM events AS newest WHERE newest.stream = events.stream)`
        )
        return writer.transaction("write", () => {
          deleted = statement.run(upToPosition, ...types).changes
        }).pipe(Effect.map(() => deleted))
      })

    return EventStore.of({ append, readStream, readAll, lastPosition, saveSnapshot, loadSnapshot, prune })
  })

export const layer: Layer.Layer<EventStore, StorageError, SqlClient.SqlClient | SqliteWriter> = Layer.scoped(EventStore, make)
