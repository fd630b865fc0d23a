/**
 * Writes group events to the EventStore in order, group-committed: callers queue events
 * synchronously (the coordinator never waits to change its read model), one background fiber
 * woken by a latch appends each stream's queued events as one append per wake-up, and a
 * stream's events are never reordered (one round at a time, each stream once per round).
 * Callers that need durability (OffsetCommit) wait on the Deferred they get back.
 *
 * The coordinator is the only writer of `group-*` streams, so appends use expected version
 * "any"; a lost race is impossible rather than retried.
 */
import { Deferred, Effect, FiberId } from "effect"
import { StorageError } from "../../../services/errors.js"
import { type EventData, EventStore } from "../../../services/EventStore.js"

export interface GroupEventWriter {
  /** Queues `events` after every earlier event of `stream`; the Deferred completes once they are durable. */
  readonly unsafeAppend: (stream: string, events: ReadonlyArray<EventData>) => Deferred.Deferred<void, StorageError>
  /** Waits until everything queued so far has been written (or has failed). */
  readonly flush: Effect.Effect<void>
}

interface Batch {
  readonly events: Array<EventData>
  readonly done: Deferred.Deferred<void, StorageError>
}

export const make = Effect.gen(function*() {
  const store = yield* EventStore
  let queued = new Map<string, Batch>()
  let writing: ReadonlyArray<Batch> = []
  const wake = yield* Effect.makeLatch(false)

  const unsafeAppend = (stream: string, events: ReadonlyArray<EventData>) => {
    let batch = queued.get(stream)
    if (batch === undefined) {
      batch = { events: [], done: Deferred.unsafeMake<void, StorageError>(FiberId.none) }
      queued.set(stream, batch)
    }
    for (const e of events) batch.events.push(e)
    wake.unsafeOpen()
    return batch.done
  }

  const write = (stream: string, batch: Batch) =>
    store.append(stream, batch.events, -1).pipe(
      Effect.catchTag("VersionConflict", (cause) => Effect.fail(new StorageError({ op: "write", path: stream, cause }))),
      Effect.exit,
      Effect.flatMap((exit) => {
        Deferred.unsafeDone(batch.done, exit.pipe(Effect.asVoid))
        return exit._tag === "Failure" ? Effect.logError(`group events for ${stream} were not stored`, exit.cause) : Effect.void
      })
    )

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
    const waits = [...writing, ...queued.values()].map((b) => Effect.exit(Deferred.await(b.done)))
    return Effect.all(waits, { discard: true })
  })

  // Runs before the writer fiber is interrupted (finalizers run in reverse): nothing queued is lost.
  yield* Effect.addFinalizer(() => flush)
  return { unsafeAppend, flush } satisfies GroupEventWriter
})
