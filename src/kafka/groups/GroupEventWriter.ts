/**
 * Writes group events to the EventStore in order, group-committed: callers queue events
 * synchronously (the coordinator never waits to change its read model), one background fiber
 * woken by a latch appends each stream's queued events as one append per wake-up, and a
 * stream's events are never reordered (one round at a time, each stream once per round).
 * Callers that need durability (OffsetCommit) pass a callback; callbacks run in queue order
 * once their batch is written (or has failed), so effects that follow durability (committed
 * offsets becoming visible) happen in the order the events were decided.
 *
 * The coordinator is the only writer of `group-*` streams, so appends use expected version
 * "any"; a lost race is impossible rather than retried.
 */
import { Cause, Deferred, Effect, FiberId } from "effect"
import { StorageError } from "../../../services/errors.js"
import { type EventData, EventStore } from "../../../services/EventStore.js"

export interface GroupEventWriter {
  /** Queues `events` after every earlier event of `stream`; `done` runs once they are durable, or failed. */
  readonly unsafeAppend: (stream: string, events: ReadonlyArray<EventData>, done?: (error: StorageError | undefined) => void) => void
  /** Waits until everything queued so far has been written (or has failed). */
  readonly flush: Effect.Effect<void>
}

interface Batch {
  readonly events: Array<EventData>
  readonly callbacks: Array<(error: StorageError | undefined) => void>
  /** Completed when the batch is written or failed (for `flush`). */
  readonly finished: Deferred.Deferred<void>
}

export const make = Effect.gen(function*() {
  const store = yield* EventStore
  let queued = new Map<string, Batch>()
  let writing: ReadonlyArray<Batch> = []
  const wake = yield* Effect.makeLatch(false)

  const unsafeAppend = (stream: string, events: ReadonlyArray<EventData>, done?: (error: StorageError | undefined) => void) => {
    let batch = queued.get(stream)
    if (batch === undefined) {
      batch = { events: [], callbacks: [], finished: Deferred.unsafeMake<void>(FiberId.none) }
      queued.set(stream, batch)
    }
    for (const e of events) batch.events.push(e)
    if (done !== undefined) batch.callbacks.push(done)
    wake.unsafeOpen()
  }

  const write = (stream: string, batch: Batch) =>
    store.append(stream, batch.events, -1).pipe(
      Effect.catchTag("VersionConflict", (cause) => Effect.fail(new StorageError({ op: "write", path: stream, cause }))),
      Effect.matchCauseEffect({
        onSuccess: () => Effect.sync(() => finish(batch, undefined)),
        onFailure: (cause) => {
          const error = Cause.failureOption(cause)
          finish(batch, error._tag === "Some" ? error.value : new StorageError({ op: "write", path: stream, cause: Cause.squash(cause) }))
          return Effect.logError(`group events for ${stream} were not stored`, cause)
        }
      })
    )

  const finish = (batch: Batch, error: StorageError | undefined) => {
    for (const callback of batch.callbacks) callback(error)
    Deferred.unsafeDone(batch.finished, Effect.void)
  }

  yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
    yield* wake.await
    wake.unsafeClose()
    const round = queued
    queued = new Map()
    writing = [...round.values()]
    yield* Effect.forEach(round, ([stream, batch]) => write(stream, batch), { concurrency: "unbounded", discard: true })
    writing = []
  })))

  const flush = Effect.suspend(() => {
    const waits = [...writing, ...queued.values()].map((b) => Deferred.await(b.finished))
    return Effect.all(waits, { discard: true })
  })

  // Runs before the writer fiber is interrupted (finalizers run in reverse): nothing queued is lost.
  yield* Effect.addFinalizer(() => flush)
  return { unsafeAppend, flush } satisfies GroupEventWriter
})
