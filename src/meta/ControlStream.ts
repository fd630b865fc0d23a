/**
 * One control-plane read model's event stream (topics, users and ACL, Kafka ACLs, bans): replayed
 * at boot, changed one command at a time under one permit (decide on the state now, append with
 * the expected version, fold), and, in a cluster, kept in step with what other nodes append
 * (StreamFeed). When another node appended first, the append fails with VersionConflict: the
 * stream is read on from where this node was, and the command decided again on the new state,
 * so optimistic concurrency holds across nodes. Never on a per-message path.
 */
import { Effect, Either, Option } from "effect"
import type { StorageError, VersionConflict } from "../../services/errors.js"
import { EventStore, type RecordedEvent } from "../../services/EventStore.js"
import { StreamFeed } from "../../services/StreamFeed.js"

/** Whose event is being folded: replayed at boot, this node's own change, or another node's. */
export type Origin = "replay" | "local" | "remote"

/** Every stored event is a Schema.TaggedClass: its tag is its stored type. */
export interface Tagged {
  readonly _tag: string
}

export interface Fold<E extends Tagged> {
  readonly stream: string
  readonly encode: (event: E) => unknown
  readonly decode: (data: unknown) => E
  /** Folds one event (and does what it means now: close connections, tell listeners). */
  readonly apply: (event: E, origin: Origin) => void
  /** After the events of one append are folded (one boot replay, one change, one remote batch). */
  readonly afterBatch?: (origin: Origin) => void
}

export interface Decided<E, A> {
  readonly events: ReadonlyArray<E>
  readonly result: A
}

export interface ControlStream<E> {
  readonly version: () => number
  /**
   * Runs `decide` on the state now and appends the events it returns; decides again after a
   * conflict with another node's append (a few times, then fails with the VersionConflict).
   */
  readonly change: <A, X, R>(decide: Effect.Effect<Decided<E, A>, X, R>) => Effect.Effect<A, X | StorageError | VersionConflict, R>
  /** Runs `effect` alone: no change and no remote batch is folded meanwhile. */
  readonly exclusive: <A, X, R>(effect: Effect.Effect<A, X, R>) => Effect.Effect<A, X, R>
}

/** Attempts at a change that keeps meeting other nodes' appends (each one means progress elsewhere). */
const MAX_ATTEMPTS = 8

export const make = <E extends Tagged>(fold: Fold<E>) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const permit = yield* Effect.makeSemaphore(1)
    let version = 0

    const foldRecords = (records: ReadonlyArray<RecordedEvent>, origin: Origin) => {
      let folded = 0
      for (const r of records) {
        if (r.version <= version) continue // ours, folded when appended
        fold.apply(fold.decode(r.data), origin)
        version = r.version
        folded++
      }
      if (folded > 0) fold.afterBatch?.(origin)
    }
    foldRecords(yield* store.readStream(fold.stream), "replay")

    const catchUp = Effect.map(store.readStream(fold.stream, version + 1), (records) => foldRecords(records, "remote"))

    const change = <A, X, R>(decide: Effect.Effect<Decided<E, A>, X, R>) =>
      permit.withPermits(1)(Effect.gen(function*() {
        for (let attempt = 1;; attempt++) {
          const { events, result } = yield* decide
          if (events.length === 0) return result
          const data = events.map((e) => ({ type: e._tag, data: fold.encode(e) }))
          const appended = yield* Effect.either(store.append(fold.stream, data, version))
          if (Either.isRight(appended)) {
            for (const e of events) fold.apply(e, "local")
            version = appended.right
            fold.afterBatch?.("local")
            return result
          }
          const conflict = appended.left
          if (conflict._tag !== "VersionConflict" || attempt >= MAX_ATTEMPTS) return yield* Effect.fail(conflict)
          yield* Effect.log(`${fold.stream}: another node appended first (now at version ${conflict.actual}, expected ${conflict.expected}); deciding again`)
          yield* catchUp
        }
      }))

    const feed = yield* Effect.serviceOption(StreamFeed)
    if (Option.isSome(feed)) {
      yield* feed.value.follow(fold.stream, version, (records) =>
        permit.withPermits(1)(Effect.sync(() => foldRecords(records, "remote"))).pipe(
          Effect.catchAllDefect((defect) => Effect.logError(`cluster: an event of the ${fold.stream} stream cannot be folded (a newer broker wrote it?); it is skipped: ${String(defect)}`))
        ))
    }

    const service: ControlStream<E> = {
      version: () => version,
      change,
      exclusive: (effect) => permit.withPermits(1)(effect)
    }
    return service
  })
