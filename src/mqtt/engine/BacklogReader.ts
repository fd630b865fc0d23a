/**
 * Reads persistent sessions' backlogs back from the log (see Cursor): first what a cursor owes
 * by position, then the records past its positions that the session's subscriptions match or
 * whose share-target header names it, a chunk at a time while the in-memory queue has room.
 * The step that finds nothing left to read and drops the cursor runs in the same synchronous
 * turn as its last check of the log's ends, so no message routed meanwhile slips between the
 * read and live delivery.
 */
import { Effect, Runtime } from "effect"
import { streamOf, type TopicPartition } from "../../../domain/ids.js"
import type { StoredRecord } from "../../../domain/message/LogRecord.js"
import type { QoS } from "../../../domain/session/Session.js"
import { matches } from "../../../domain/topic/matches.js"
import type { StreamMapping } from "../../../domain/topic/StreamMapping.js"
import type { StorageError } from "../../../services/errors.js"
import type { MessageLog } from "../../../services/MessageLog.js"
import { type Cursor, isInternalPartition, type OwedEntry } from "./Cursor.js"
import { type BacklogSource, type LiveSession, Outgoing } from "./LiveSession.js"
import { type Message, messageFromRecord } from "./Message.js"
import type { SharedGroup } from "./Subscriptions.js"

/** Bytes per read: the queue may run over its limit by at most one chunk's matches. */
const CHUNK = 256 * 1024
/** Bytes per read of owed entries: usually a contiguous run (what was queued at a disconnect). */
const OWED_CHUNK = 64 * 1024
/** After a failed read, the next try (a session without traffic would not pump again). */
const RETRY_MS = 1000

/** Partitions that carry messages for MQTT sessions (internal ones, `__...`, do not). */
export const sessionPartitions = (log: MessageLog["Type"]): Array<TopicPartition> =>
  log.unsafePartitions().filter((tp) => !isInternalPartition(tp))

export class BacklogReader implements BacklogSource {
  constructor(
    private readonly log: MessageLog["Type"],
    private readonly mapping: StreamMapping,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  ends(): Map<string, number> {
    const out = new Map<string, number>()
    for (const tp of sessionPartitions(this.log)) out.set(tp, this.log.unsafeEndOffset(tp))
    return out
  }

  /** Hot-ish (from pump): starts a background read unless one is queued or running. */
  fill(session: LiveSession): void {
    const cursor = session.cursor
    if (cursor === null || cursor.filling) return
    cursor.filling = true
    const read = cursor.lock.withPermits(1)(this.readOn(session, cursor)).pipe(
      Effect.ensuring(Effect.sync(() => {
        cursor.filling = false
      })),
      Effect.tapError(() => Effect.sync(() => setTimeout(() => session.pump(), RETRY_MS).unref()))
    )
    this.run(read, `reading the backlog of session ${session.clientId} from the log (retrying in ${RETRY_MS} ms)`)
  }

  /** Runs background work of the engine; a failure is logged, saying what failed. */
  run(work: Effect.Effect<void, StorageError>, what: string): void {
    Runtime.runFork(this.runtime)(work.pipe(Effect.catchAll((error) => Effect.logError(`mqtt: ${what} failed`, error))))
  }

  /**
   * Before CONNACK of a session behind a cursor: what it owes by position comes back to memory
   * (in flight ones under their packet ids), so the resend and an ACL check see it.
   */
  loadOwed(session: LiveSession): Effect.Effect<void, StorageError> {
    return Effect.suspend(() => {
      const cursor = session.cursor
      return cursor === null ? Effect.void : cursor.lock.withPermits(1)(this.restoreOwed(session, cursor, () => true))
    })
  }

  /**
   * Restores the owed entries, oldest first, while `wanted` holds (the session may park
   * meanwhile). One read serves the run of entries that follow in the same partition.
   */
  private restoreOwed(session: LiveSession, cursor: Cursor, wanted: () => boolean): Effect.Effect<void, StorageError> {
    return Effect.gen(this, function*() {
      const owed = cursor.owed
      while (owed.length > 0 && session.cursor === cursor && wanted()) {
        const first = owed[0]!
        const tp = first.tp as TopicPartition
        const records = yield* this.log.read(tp, first.offset, OWED_CHUNK)
        // Parked meanwhile (older entries went in front) or ended: read again from the front.
        if (owed[0] !== first || session.cursor !== cursor || !wanted()) continue
        const now = Date.now()
        const last = records.length === 0 ? -1 : records[records.length - 1]!.offset
        let i = 0
        if (last < first.offset) owed.shift() // gone (retention, a deleted topic)
        while (owed.length > 0 && owed[0]!.tp === tp && owed[0]!.offset >= first.offset && owed[0]!.offset <= last) {
          const entry = owed.shift()!
          while (i < records.length && records[i]!.offset < entry.offset) i++
          const r = records[i]
          const m = r === undefined || r.offset !== entry.offset ? null : this.messageOf(tp, r)
          if (m !== null && !m.isExpired(now)) session.restore(owedOutgoing(session, m, entry))
        }
      }
      if (session.cursor === cursor && wanted()) for (const o of cursor.held.splice(0)) session.restore(o)
    })
  }

  /** Refills the queue from the cursor while it has room and the client is there. */
  private readOn(session: LiveSession, cursor: Cursor): Effect.Effect<void, StorageError> {
    return Effect.gen(this, function*() {
      const limit = session.maxQueued
      const connected = () => session.conn !== null
      while (session.cursor === cursor && connected()) {
        if (cursor.owed.length > 0 || cursor.held.length > 0) {
          yield* this.restoreOwed(session, cursor, connected)
          continue
        }
        if ((session.queue?.length ?? 0) >= limit) return
        const tp = this.nextPartition(cursor)
        if (tp === null) {
          session.caughtUp() // same turn as the check of the ends: nothing can slip between
          session.pump()
          return
        }
        yield* this.readChunk(session, cursor, tp, connected)
        session.pump()
      }
    })
  }

  /**
   * A hand-over to another node: the session's whole backlog comes into memory (at most `max`
   * messages; the rest stays behind and is dropped with the session, logged by the caller).
   */
  drain(session: LiveSession, max: number): Effect.Effect<void, StorageError> {
    return Effect.suspend(() => {
      const cursor = session.cursor
      if (cursor === null) return Effect.void
      const always = () => true
      return cursor.lock.withPermits(1)(Effect.gen(this, function*() {
        yield* this.restoreOwed(session, cursor, always)
        while (session.cursor === cursor && session.backlog < max) {
          const tp = this.nextPartition(cursor)
          if (tp === null) return session.caughtUp()
          yield* this.readChunk(session, cursor, tp, always)
        }
      }))
    })
  }

  /** Reads one chunk past the cursor in `tp` into the session, unless it parked or `wanted` says no meanwhile. */
  private readChunk(session: LiveSession, cursor: Cursor, tp: TopicPartition, wanted: () => boolean): Effect.Effect<void, StorageError> {
    return Effect.gen(this, function*() {
      const from = cursor.positionOf(tp)
      const records = yield* this.log.read(tp, from, CHUNK)
      // Parked meanwhile: nothing is applied; the next read starts from the same place.
      if (session.cursor !== cursor || !wanted()) return
      const now = Date.now()
      let next = from
      for (const r of records) {
        if (r.offset < from) continue
        next = r.offset + 1
        const o = this.outgoingOf(session, tp, r, now)
        if (o !== null) session.restore(o)
      }
      // Nothing readable from `from` (deleted under it): skip to the end seen now.
      cursor.positions.set(tp, next === from ? this.log.unsafeEndOffset(tp) : next)
    })
  }

  /** A partition with records past the cursor, or null when it has read everything. */
  private nextPartition(cursor: Cursor): TopicPartition | null {
    for (const tp of sessionPartitions(this.log)) {
      const end = this.log.unsafeEndOffset(tp)
      const at = cursor.positionOf(tp)
      if (at > end) cursor.positions.set(tp, end) // the partition was cut back (deleted): nothing to read
      else if (at < end) return tp
    }
    return null
  }

  /** What the session gets of one record past its cursor, or null. */
  private outgoingOf(session: LiveSession, tp: TopicPartition, r: StoredRecord, now: number): Outgoing | null {
    const m = this.messageOf(tp, r)
    if (m === null || m.qos === 0 || m.isExpired(now)) return null
    return outgoingFor(session, m) ?? sharedOutgoing(session, m)
  }

  /** A record as an MQTT message, or null when it stands for no MQTT topic. */
  private messageOf(tp: TopicPartition, r: StoredRecord): Message | null {
    // An internal partition (`__moved`: messages handed over from another node) keeps any MQTT
    // topic, in the record key, as the default topic does; it is not a Kafka topic's name.
    if (isInternalPartition(tp)) return messageFromRecord(tp, r)
    const topic = this.mapping.mqttTopicOf(streamOf(tp), r.key)
    return topic === null ? null : messageFromRecord(tp, r, topic)
  }

  /** The message at one log position, or null when it is gone or not an MQTT message. */
  readMessage(tp: TopicPartition, offset: number): Effect.Effect<Message | null, StorageError> {
    return Effect.map(this.log.read(tp, offset, 1), (records) => {
      const r = records.find((x) => x.offset === offset)
      return r === undefined ? null : this.messageOf(tp, r)
    })
  }
}

/**
 * A message as the session's plain subscriptions deliver it, as route() would: highest granted
 * QoS, RETAIN as published where asked, every subscription identifier; null if none matches.
 */
export const outgoingFor = (session: LiveSession, m: Message): Outgoing | null => {
  let qos = 0
  let retain = false
  let ids: Array<number> | null = null
  const tp = m.tp
  for (const sub of session.subscriptions.values()) {
    if (sub.group !== null) continue // a share group's pick is recorded, not derived
    const o = sub.options
    if (o.noLocal && m.origin === session.clientId) continue // [MQTT-3.8.3-3]
    if (sub.since !== null && tp !== null && m.offset < (sub.since.get(tp) ?? 0)) continue
    if (!matches(sub.filter, m.topic)) continue
    if (sub.check !== null && !sub.check(m.topic)) continue // granted in part by the ACL
    const q = Math.min(o.qos, m.qos)
    if (q > qos) qos = q
    if (o.retainAsPublished && m.retain) retain = true
    if (o.subscriptionId !== 0) (ids ??= []).push(o.subscriptionId)
  }
  return qos === 0 ? null : new Outgoing(m, qos as QoS, retain, ids)
}

/** A message whose share-target header names the session: the group picked it. */
const sharedOutgoing = (session: LiveSession, m: Message): Outgoing | null => {
  if (m.shareTargets === null) return null
  for (const target of m.shareTargets) {
    if (target.slice(1) === session.clientId) return new Outgoing(m, Number(target[0]) as QoS, false, null, shareGroupOf(session, m.topic))
  }
  return null
}

/** An owed message as it goes back to memory: its packet id and stage, DUP when it may have gone out. */
export const owedOutgoing = (session: LiveSession, m: Message, entry: OwedEntry): Outgoing => {
  const plain = outgoingFor(session, m)
  const o = new Outgoing(m, entry.qos, entry.retain || (plain?.retainFlag ?? false), plain?.subscriptionIds ?? null, plain === null ? shareGroupOf(session, m.topic) : null)
  o.packetId = entry.packetId
  o.stage = entry.stage
  o.maybeSent = entry.maybeSent
  return o
}

/**
 * The share group a message reached the session through, if no plain subscription of it
 * matches (so that, should the session end, it goes to another member).
 */
export const shareGroupOf = (session: LiveSession, topic: string): SharedGroup | null => {
  let group: SharedGroup | null = null
  for (const sub of session.subscriptions.values()) {
    if (!matches(sub.filter, topic)) continue
    if (sub.group === null) return null
    group ??= sub.group
  }
  return group
}
