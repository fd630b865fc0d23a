/**
 * Start-up: rebuilds the engine from storage. Retained messages from their snapshot plus the
 * `__retained` records after it; sessions from their snapshot plus the events after it; and
 * each persistent session's backlog from its checkpoint plus a scan of the log past the
 * checkpoint's positions and a replay of the progress journal.
 */
import { Effect } from "effect"
import { streamOf, type TopicPartition } from "../../../domain/ids.js"
import type { StoredRecord } from "../../../domain/message/LogRecord.js"
import { decideExpire } from "../../../domain/session/decide.js"
import { expiresAt, type QoS, type SessionState } from "../../../domain/session/Session.js"
import { StorageError } from "../../../services/errors.js"
import { outgoingFor, owedOutgoing, sessionPartitions, shareGroupOf } from "./BacklogReader.js"
import { Cursor } from "./Cursor.js"
import { checkpointPosition, type Engine, journalPosition, RETAINED_TP } from "./Engine.js"
import { InboundRef, type LiveSession, Outgoing } from "./LiveSession.js"
import { type Message, messageFromRecord, messagesFromText } from "./Message.js"
import { decodeOps, PROGRESS_TP } from "./ProgressJournal.js"
import { ProgressReplay } from "./replayProgress.js"
import { foldSessions, RETAINED_SNAPSHOT } from "./snapshots.js"

const READ_CHUNK = 1 << 20

/** Everything the engine holds in memory, rebuilt from storage; run once, before any client. */
export const restoreEngine = (engine: Engine): Effect.Effect<void, StorageError> =>
  Effect.gen(function*() {
    yield* loadRetained(engine)
    yield* restoreSessions(engine, yield* foldSessions(engine))
  })

/**
 * Retained messages: the last snapshot (one RecordBatch of the live retained set, so boot
 * time does not grow with the `__retained` stream) plus the stream's records after it.
 */
const loadRetained = (engine: Engine): Effect.Effect<void, StorageError> =>
  Effect.gen(function*() {
    let from = 0
    const snap = yield* engine.store.loadSnapshot(RETAINED_SNAPSHOT)
    if (snap !== undefined) {
      const { position, batch } = snap.data as { position: number; batch: string | null }
      const messages = batch === null ? [] : messagesFromText(batch)
      if (typeof messages === "string") {
        return yield* new StorageError({ op: "recover", path: RETAINED_SNAPSHOT, cause: new Error(messages) })
      }
      for (const m of messages) engine.retained.set(m.topic, m)
      from = position
      engine.retainedSnapshotEnd = position
    }
    yield* scan(engine, RETAINED_TP, from, (r) => {
      const m = messageFromRecord(RETAINED_TP, r)
      if (m === null) return
      if (m.payload.length === 0) engine.retained.delete(m.topic)
      else engine.retained.set(m.topic, m)
    })
    const now = Date.now()
    for (const m of engine.retained.values()) if (m.isExpired(now)) engine.retained.delete(m.topic)
  })

/**
 * Rebuilds persistent sessions: subscriptions, then their backlogs. A session that was offline
 * with a checkpoint that still serves keeps it as its cursor, read when its client returns;
 * one connected at the crash, or with journal ops past its checkpoint, gets its backlog
 * rebuilt now (checkpoint, log scan, journal replay) and is then parked the same way.
 */
const restoreSessions = (engine: Engine, states: ReadonlyMap<string, SessionState>): Effect.Effect<void, StorageError> =>
  Effect.gen(function*() {
    const now = Date.now()
    const restored: Array<LiveSession> = []
    const wereConnected = new Set<string>()
    for (let state of states.values()) {
      // Connected when the broker stopped without a clean shutdown: the clock starts now.
      if (state.disconnectedAt === null) {
        state = { ...state, disconnectedAt: now }
        wereConnected.add(state.clientId)
      }
      const session = engine.newSession(state.clientId, state)
      session.stored = true
      session.durableCheckpoint = state.checkpoint
      if (expiresAt(state) <= now) {
        yield* engine.commit(session, [decideExpire(state, now)!], false) ?? Effect.void
        continue
      }
      engine.sessions.set(state.clientId, session)
      for (const [raw, options] of state.subscriptions) engine.addSubscription(session, raw, options)
      if (state.will !== null) {
        // The delay runs from the disconnect, even across the restart [MQTT-3.1.3-9].
        const delay = Math.min(state.will.delay, state.expiryInterval)
        session.pendingWill = { message: decodeWill(state.will.message), due: state.disconnectedAt! + delay * 1000 }
      }
      const cp = state.checkpoint
      if (cp !== null) session.qos2Inbound = cp.qos2Inbound.length === 0 ? null : new Map(cp.qos2Inbound.map((id) => [id, null]))
      restored.push(session)
    }
    const withOps = yield* sessionsWithJournalOps(engine, restored)
    const eager: Array<LiveSession> = []
    for (const session of restored) {
      const cp = session.state.checkpoint
      // A checkpoint past the end of the log (a power loss took the tail it named, under an
      // fsync policy that allows that) would skip what is appended from now on.
      if (cp === null || withOps.has(session) || wereConnected.has(session.clientId) || cp.positions.some(([tp, at]) => at > engine.log.unsafeEndOffset(tp as TopicPartition))) {
        eager.push(session)
      } else session.cursor = Cursor.fromCheckpoint(cp.positions, cp.pending)
    }
    // Pending entries recorded in checkpoints, read back by offset.
    for (const session of eager) {
      for (const entry of session.state.checkpoint?.pending ?? []) {
        const m = yield* engine.backlog.readMessage(entry.tp as TopicPartition, entry.offset)
        if (m !== null && !m.isExpired(now)) session.restore(owedOutgoing(session, m, { ...entry, maybeSent: false, retain: false }))
      }
    }
    // Records past each eager session's checkpoint positions: one pass per partition. (An
    // offline session sent nothing since its checkpoint: no inbound QoS 2 id to find for it.)
    const byClientId = new Map(eager.map((s) => [s.clientId, s]))
    const inbound = new Map<LiveSession, Array<InboundRef & { packetId: number }>>()
    for (const tp of sessionPartitions(engine.log)) {
      const starts = new Map<LiveSession, number>()
      let from = Infinity
      for (const session of eager) {
        const cp = session.state.checkpoint
        const pos = cp?.positions.find(([t]) => t === tp)?.[1] ?? (cp === null ? Infinity : 0)
        if (pos === Infinity) continue
        starts.set(session, pos)
        if (pos < from) from = pos
      }
      const stream = streamOf(tp)
      yield* scan(engine, tp, from, (r) => {
        const topic = engine.mapping.mqttTopicOf(stream, r.key)
        const m = topic === null ? null : messageFromRecord(tp, r, topic)
        if (m === null) return
        if (m.inboundPacketId !== 0) {
          // A QoS 2 PUBLISH PUBREC'd (or about to be) since the publisher's checkpoint.
          const origin = byClientId.get(m.origin)
          if (origin !== undefined && r.offset >= (starts.get(origin) ?? Infinity)) {
            const seen = inbound.get(origin) ?? []
            seen.push(Object.assign(new InboundRef(tp, r.offset), { packetId: m.inboundPacketId }))
            inbound.set(origin, seen)
          }
        }
        if (m.qos === 0 || m.isExpired(now)) return
        if (m.shareTargets !== null) {
          for (const target of m.shareTargets) {
            const member = byClientId.get(target.slice(1))
            if (member === undefined || r.offset < (starts.get(member) ?? Infinity)) continue
            member.restore(new Outgoing(m, Number(target[0]) as QoS, false, null, shareGroupOf(member, m.topic)))
          }
        }
        for (const [session, start] of starts) {
          if (r.offset < start) continue
          const o = outgoingFor(session, m)
          if (o !== null) session.restore(o)
        }
      })
    }
    const replayed = yield* replayJournal(engine, eager, inbound, now)
    for (const session of eager) {
      if (wereConnected.has(session.clientId)) session.markMaybeSent()
    }
    // A fresh checkpoint where the old one no longer serves: past the end of the log, or with
    // journal ops after it (so retention may drop them: an offline session must not pin the
    // journal). Then the backlog leaves memory like any offline session's.
    for (const session of eager) {
      const cp = session.state.checkpoint
      if (replayed.has(session) || (cp !== null && cp.positions.some(([tp, at]) => at > engine.log.unsafeEndOffset(tp as TopicPartition)))) {
        yield* engine.commit(session, [], true) ?? Effect.void
      }
      session.park()
    }
  })

/**
 * Start-up: every record of `tp` from `from` to the end seen now, in offset order, a chunk at
 * a time. `visit` returns a message when the record cannot be used: recovery stops with it.
 */
const scan = (engine: Engine, tp: TopicPartition, from: number, visit: (r: StoredRecord) => string | void): Effect.Effect<void, StorageError> =>
  Effect.gen(function*() {
    const end = engine.log.unsafeEndOffset(tp)
    while (from < end) {
      const records = yield* engine.log.read(tp, from, READ_CHUNK)
      if (records.length === 0) break
      for (const r of records) {
        if (r.offset < from) continue
        const problem = visit(r)
        if (problem !== undefined) return yield* new StorageError({ op: "recover", path: tp, cause: new Error(problem) })
      }
      from = records[records.length - 1]!.offset + 1
    }
  })

/** The restored sessions with progress-journal ops past their checkpoint. */
const sessionsWithJournalOps = (engine: Engine, restored: ReadonlyArray<LiveSession>): Effect.Effect<Set<LiveSession>, StorageError> =>
  Effect.gen(function*() {
    const found = new Set<LiveSession>()
    const byKey = new Map(restored.map((s) => [s.clientId, s]))
    let from = Infinity
    for (const session of restored) from = Math.min(from, journalPosition(session))
    yield* scan(engine, PROGRESS_TP, from, (r) => {
      const session = r.key === null ? undefined : byKey.get(Buffer.from(r.key).toString("utf8"))
      if (session !== undefined && r.offset >= journalPosition(session)) found.add(session)
    })
    return found
  })

/**
 * Replays the progress journal past each restored session's checkpoint (replayProgress).
 * Returns the sessions that had ops there.
 */
const replayJournal = (
  engine: Engine,
  restored: ReadonlyArray<LiveSession>,
  inbound: ReadonlyMap<LiveSession, ReadonlyArray<InboundRef & { readonly packetId: number }>>,
  now: number
): Effect.Effect<Set<LiveSession>, StorageError> =>
  Effect.gen(function*() {
    const replayed = new Set<LiveSession>()
    const replays = new Map<string, { replay: ProgressReplay; start: number }>()
    let from = Infinity
    for (const session of restored) {
      const start = journalPosition(session)
      const replay = new ProgressReplay(session, (tp) => checkpointPosition(session, tp), inbound.get(session))
      replays.set(session.clientId, { replay, start })
      if (start < from) from = start
    }
    yield* scan(engine, PROGRESS_TP, from, (r) => {
      const entry = r.key === null ? undefined : replays.get(Buffer.from(r.key).toString("utf8"))
      if (entry === undefined || r.offset < entry.start) return
      const ops = decodeOps(r)
      if (typeof ops === "string") return `record ${r.offset}: ${ops}`
      for (const op of ops) entry.replay.apply(op)
      replayed.add(entry.replay.session)
    })
    for (const { replay } of replays.values()) {
      const read = new Map<string, Message>()
      for (const { tp, offset } of replay.toRead()) {
        const m = yield* engine.backlog.readMessage(tp as TopicPartition, offset)
        if (m !== null && !m.isExpired(now)) read.set(`${tp}@${offset}`, m)
      }
      replay.finish((tp, offset, qos) => {
        const m = read.get(`${tp}@${offset}`)
        return m === undefined ? null : new Outgoing(m, qos, false, null)
      })
    }
    return replayed
  })

/** A will as stored in a WillSet event (see messagesToText). */
const decodeWill = (text: string): Message => {
  const messages = messagesFromText(text)
  if (typeof messages === "string" || messages.length !== 1) throw new Error(`stored will does not decode: ${messages}`)
  return messages[0]!
}
