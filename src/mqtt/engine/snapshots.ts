/**
 * The engine's snapshots: the session states folded from their events (so a boot replays only
 * what came after), and the live retained set as one RecordBatch (so a boot does not read the
 * whole `__retained` stream). Saving one runs retention after it, which relies on it.
 */
import { Effect, Schema } from "effect"
import { SessionEvent } from "../../../domain/session/events.js"
import { evolve } from "../../../domain/session/evolve.js"
import type { SessionState, SubscriptionOptions } from "../../../domain/session/Session.js"
import type { StorageError } from "../../../services/errors.js"
import { type Engine, RETAINED_TP } from "./Engine.js"
import { type Message, messagesToText } from "./Message.js"
import { applyRetention } from "./retention.js"

const SNAPSHOT = "mqtt-sessions"
export const RETAINED_SNAPSHOT = "mqtt-retained"

const decodeEvent = Schema.decodeUnknownSync(SessionEvent)

/**
 * Snapshots (retained set, sessions) and then retention, which relies on them. One at a time:
 * an older fold saving its snapshot after a newer one pruned the events it folded would lose
 * them (the sweep's timer and shutdown can both ask).
 */
export const saveSnapshot = (engine: Engine): Effect.Effect<void, StorageError> =>
  engine.snapshotLock.withPermits(1)(
    Effect.gen(function*() {
      yield* saveRetainedSnapshot(engine)
      yield* foldSessions(engine)
      yield* applyRetention(engine)
    })
  )

/**
 * Folds the session events after the snapshot into it and saves it, so the next boot replays
 * less; returns the session states. Never runs retention: at boot the sessions that hold the
 * log back are not restored yet.
 */
export const foldSessions = (engine: Engine): Effect.Effect<Map<string, SessionState>, StorageError> =>
  Effect.gen(function*() {
    const snap = yield* engine.store.loadSnapshot(SNAPSHOT)
    const states = snap === undefined ? new Map<string, SessionState>() : decodeStates(snap.data)
    let position = snap?.position ?? 0
    const events = yield* engine.store.readAll(position)
    if (events.length === 0 && snap !== undefined) return states
    for (const r of events) {
      position = r.position
      if (!r.stream.startsWith("session-")) continue
      const e = decodeEvent(r.data)
      const next = evolve(states.get(e.clientId), e)
      if (next === undefined) states.delete(e.clientId)
      else states.set(e.clientId, next)
    }
    yield* engine.store.saveSnapshot(SNAPSHOT, { position, data: encodeStates(states) })
    // Checkpoints are many (one a second per busy persistent session) and only the last one
    // counts; the snapshot now holds it, so the older ones go.
    yield* engine.store.prune(["SessionCheckpointed"], position)
    return states
  })

/** The live retained set as one RecordBatch, when `__retained` moved since the last one. */
const saveRetainedSnapshot = (engine: Engine): Effect.Effect<void, StorageError> =>
  Effect.suspend(() => {
    const end = engine.log.unsafeEndOffset(RETAINED_TP)
    if (end === engine.retainedSnapshotEnd) return Effect.void
    // Only what is durable: the snapshot must never hold a record the log could still lose.
    return Effect.flatMap(engine.log.flush, () => {
      const live: Array<Message> = []
      for (const m of engine.retained.values()) if (!m.topic.startsWith("$SYS/")) live.push(m)
      const batch = live.length === 0 ? null : messagesToText(live)
      engine.retainedSnapshotEnd = end
      return engine.store.saveSnapshot(RETAINED_SNAPSHOT, { position: end, data: { position: end, batch } })
    })
  })


// Snapshot codec: SessionState holds Maps, stored as arrays.
const encodeStates = (states: ReadonlyMap<string, SessionState>): unknown =>
  [...states.values()].map((s) => ({ ...s, subscriptions: [...s.subscriptions] }))
const decodeStates = (data: unknown): Map<string, SessionState> => {
  const out = new Map<string, SessionState>()
  for (const s of data as Array<SessionState & { subscriptions: Array<[string, SubscriptionOptions]> }>) {
    out.set(s.clientId, { ...s, subscriptions: new Map(s.subscriptions), merged: s.merged ?? [] }) // merged: absent before RemnantMerged
  }
  return out
}
