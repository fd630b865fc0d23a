/**
 * The MQTT engine: sessions, subscriptions, retained messages and routing, over the MessageLog
 * (data plane) and the EventStore (control plane). `publish` and `route` are the per-message hot
 * path: plain synchronous code. Control operations (connect, subscribe, disconnect, expiry)
 * change memory at once and return the Effect that persists their events for persistent
 * sessions; the caller decides whether to wait for it (CONNACK, SUBACK do).
 *
 * On start it rebuilds everything from storage: sessions from a snapshot plus the events after
 * it, retained messages from the compacted `__retained` stream, and each persistent session's
 * backlog from its checkpoint plus a scan of the log past the checkpoint's positions.
 */
import { Effect, Runtime, Schema } from "effect"
import type { BrokerConfigShape } from "../../../config/BrokerConfigShape.js"
import { streamOf, type TopicPartition, topicPartition } from "../../../domain/ids.js"
import type { StoredRecord } from "../../../domain/message/LogRecord.js"
import { decideConnect, decideDisconnect, decideExpire, decideSubscribe, decideUnsubscribe, type SubscribeRequest } from "../../../domain/session/decide.js"
import { SessionCheckpointed, SessionEvent, sessionStream, WillCleared } from "../../../domain/session/events.js"
import { evolve } from "../../../domain/session/evolve.js"
import { type Checkpoint, emptySession, expiresAt, type QoS, type SessionState, type SubscriptionOptions } from "../../../domain/session/Session.js"
import { matches } from "../../../domain/topic/matches.js"
import type { StreamMapping } from "../../../domain/topic/StreamMapping.js"
import { parseShared } from "../../../domain/topic/TopicFilter.js"
import { StorageError } from "../../../services/errors.js"
import type { EventData, EventStore } from "../../../services/EventStore.js"
import type { MessageLog } from "../../../services/MessageLog.js"
import { BacklogReader, outgoingFor, owedOutgoing, sessionPartitions, shareGroupOf } from "./BacklogReader.js"
import { Cursor } from "./Cursor.js"
import { messageDrops } from "./deliveryStats.js"
import { InboundRef, LiveSession, type Outlet, Outgoing } from "./LiveSession.js"
import { Message, messageFromRecord, messagesFromText, messagesToText } from "./Message.js"
import { decodeOps, PROGRESS_TP, ProgressJournal } from "./ProgressJournal.js"
import { ProgressReplay } from "./replayProgress.js"
import { isGroup, type ReadCheck, Subscription, Subscriptions } from "./Subscriptions.js"

export const RETAINED_TP = topicPartition("__retained", 0)
const SNAPSHOT = "mqtt-sessions"
const RETAINED_SNAPSHOT = "mqtt-retained"
const READ_CHUNK = 1 << 20

const encodeEvent = Schema.encodeSync(SessionEvent)
const decodeEvent = Schema.decodeUnknownSync(SessionEvent)
const toEventData = (e: SessionEvent): EventData => ({ type: e._tag, data: encodeEvent(e) })

export interface EngineStats {
  messagesReceived: number
  messagesSent: number
  /** Drops counted by sessions that have ended (live sessions keep their own count). */
  droppedByEndedSessions: number
}

/** A will message and when to publish it. */
export interface Will {
  readonly message: Message
  /** Seconds (v5 Will Delay Interval). */
  readonly delay: number
}

export class Engine {
  readonly sessions = new Map<string, LiveSession>()
  readonly subscriptions = new Subscriptions()
  readonly retained = new Map<string, Message>()
  readonly stats: EngineStats = { messagesReceived: 0, messagesSent: 0, droppedByEndedSessions: 0 }
  // Scratch state for route(): dedupe per session without allocating.
  private stamp = 0
  /** `__retained` end offset covered by the last retained snapshot. */
  private retainedSnapshotEnd = 0
  private readonly touched: Array<LiveSession> = []

  private readonly logQos0: boolean
  private readonly snapshotLock = Effect.unsafeMakeSemaphore(1)
  /** Delivery progress of persistent sessions, in the log's group commit (ProgressJournal). */
  readonly journal: ProgressJournal
  /** Reads the backlogs of sessions behind a cursor (offline, or their queue full) from the log. */
  readonly backlog: BacklogReader

  private constructor(
    readonly config: BrokerConfigShape,
    readonly log: MessageLog["Type"],
    readonly store: EventStore["Type"],
    /** MQTT topic -> log partition, and log record -> MQTT topic. */
    readonly mapping: StreamMapping,
    /** Tells Kafka-style retention the lowest offset of a partition sessions still need. */
    private readonly holds: ((tp: TopicPartition, keepFrom: number) => void) | null,
    /** Runs the background reads of session backlogs. */
    runtime: Runtime.Runtime<never>
  ) {
    this.logQos0 = config.mqtt.logQos0
    this.journal = new ProgressJournal(log)
    this.backlog = new BacklogReader(log, mapping, runtime)
  }

  private newSession(clientId: string, state: SessionState): LiveSession {
    return new LiveSession(clientId, state, this.config.limits.maxQueuedMessages, this.journal, this.backlog)
  }

  // ---------------------------------------------------------------- data plane (hot)

  /** The log partition an MQTT topic's messages are appended to (see StreamMapping). */
  partitionFor(topic: string): TopicPartition {
    return this.mapping.placementOf(topic).tp
  }

  /**
   * Hot path: logs (QoS > 0, bound topics, and retained), retains, and routes one message.
   * Returns the number of sessions it was routed to.
   */
  publish(msg: Message): number {
    this.stats.messagesReceived++
    if (msg.qos > 0 || this.logQos0) {
      const tp = this.mapping.placementOf(msg.topic).tp
      msg.tp = tp
      msg.offset = this.log.unsafeAppend(tp, msg)
      msg.appended = true
    } else if (this.mapping.bindings.length > 0) {
      const placement = this.mapping.placementOf(msg.topic)
      if (placement.bound) {
        msg.tp = placement.tp
        msg.offset = this.log.unsafeAppend(placement.tp, msg)
        msg.appended = true
      }
    }
    if (msg.retain) this.setRetained(msg, true)
    return this.route(msg)
  }

  /** Hot path: one delivery per matching session, highest QoS, every subscription id. */
  route(msg: Message): number {
    const entries = this.subscriptions.match(msg.topic)
    const n = entries.length
    if (n === 0) {
      if (msg.topic.charCodeAt(0) !== 0x24) messageDrops.noSubscribers++ // not $SYS
      return 0
    }
    const stamp = ++this.stamp
    const touched = this.touched
    for (let i = 0; i < n; i++) {
      const e = entries[i]!
      const sub = isGroup(e) ? e.pick() : e
      if (sub === null) continue
      const s = sub.session
      const o = sub.options
      if (o.noLocal && s.clientId === msg.origin) continue // [MQTT-3.8.3-3]
      if (sub.check !== null && !sub.check(msg.topic)) continue // granted in part by the ACL
      const qos = (o.qos < msg.qos ? o.qos : msg.qos) as QoS
      const retainFlag = o.retainAsPublished && msg.retain // [MQTT-3.3.1-12], [MQTT-3.3.1-13]
      if (s.mark !== stamp) {
        s.mark = stamp
        s.markQos = qos
        s.markRetain = retainFlag
        s.markSubIds = o.subscriptionId !== 0 ? [o.subscriptionId] : null
        s.markGroup = sub.group
        touched.push(s)
      } else {
        if (sub.group === null) s.markGroup = null // also reached by a plain subscription
        if (qos > s.markQos) s.markQos = qos
        if (retainFlag) s.markRetain = true
        if (o.subscriptionId !== 0) (s.markSubIds ??= []).push(o.subscriptionId)
      }
    }
    const count = touched.length
    if (count === 0 && msg.topic.charCodeAt(0) !== 0x24) messageDrops.noSubscribers++
    msg.fanout = count
    for (let i = 0; i < count; i++) {
      const s = touched[i]!
      // A restart rebuilds plain subscribers' backlogs from the log; a share group's pick is
      // recorded with the message itself (its headers are encoded when its batch is sealed, after
      // this), atomically: a journal op could be torn off it by a crash between two file writes.
      if (s.markGroup !== null && s.stored && msg.tp !== null) (msg.shareTargets ??= []).push(`${s.markQos}${s.clientId}`)
      s.deliver(msg, s.markQos, s.markRetain, s.markSubIds, s.markGroup)
    }
    this.stats.messagesSent += count
    touched.length = 0
    return count
  }

  /** [MQTT-3.3.1-5..7] store, replace, or (empty payload) clear the retained message. */
  setRetained(msg: Message, persist: boolean): void {
    if (msg.payload.length === 0) this.retained.delete(msg.topic)
    else {
      msg.ownPayload()
      this.retained.set(msg.topic, msg)
    }
    if (persist && !msg.topic.startsWith("$SYS/")) this.log.unsafeAppend(RETAINED_TP, msg)
  }

  /** Retained messages matching a (non-shared) filter, dropping expired ones. */
  retainedFor(filter: string, now: number): Array<Message> {
    const out: Array<Message> = []
    const wild = filter.includes("+") || filter.includes("#")
    if (!wild) {
      const m = this.retained.get(filter)
      if (m !== undefined) out.push(m)
    } else {
      for (const m of this.retained.values()) if (matches(filter, m.topic)) out.push(m)
    }
    let j = 0
    for (const m of out) {
      if (m.isExpired(now)) this.retained.delete(m.topic)
      else out[j++] = m
    }
    out.length = j
    return out
  }

  // ---------------------------------------------------------------- control plane

  /**
   * A checkpoint's positions: every non-internal partition's end offset (the session's backlog
   * past them is rebuilt from the log) and the progress journal's (its ops past it are replayed).
   */
  private positions(): Array<readonly [string, number]> {
    const out: Array<readonly [string, number]> = []
    for (const tp of sessionPartitions(this.log)) out.push([tp, this.log.unsafeEndOffset(tp)])
    out.push([PROGRESS_TP, this.journal.end()])
    return out
  }

  /**
   * Folds `events` into the session and, if the session is (or was) persistent, returns the
   * Effect that appends them with a fresh checkpoint. `stored` tracks whether the event store
   * knows the session, so clean sessions never touch storage.
   */
  private commit(session: LiveSession, events: ReadonlyArray<SessionEvent>, checkpoint: boolean): Effect.Effect<void, StorageError> | null {
    let state: SessionState | undefined = session.state
    for (const e of events) state = evolve(state, e)
    if (state !== undefined) session.state = state
    const wasStored = session.stored
    session.stored = state !== undefined && state.expiryInterval > 0
    if (!wasStored && !session.stored) return null
    const data = events.map(toEventData)
    let flushFirst = false
    let written: Checkpoint | null = null
    if (checkpoint && session.stored) {
      const now = Date.now()
      this.journal.seal(session)
      const cp = new SessionCheckpointed({ clientId: session.clientId, ...session.checkpoint(this.positions(), now) })
      data.push(toEventData(cp))
      session.state = evolve(session.state, cp) ?? session.state
      session.dirty = false
      written = session.state.checkpoint
      // A checkpoint names log and journal positions: what lies below them must be durable
      // first, or a crash could leave it pointing past records that were never written.
      flushFirst = true
    }
    const append = this.store.append(sessionStream(session.clientId), data, -1)
    return (flushFirst ? Effect.zipRight(this.log.flush, append) : append).pipe(
      Effect.tap(() => {
        if (written !== null) session.durableCheckpoint = written // what retention may rely on
      }),
      Effect.asVoid,
      Effect.catchTag("VersionConflict", (e) => Effect.die(e))
    )
  }

  /**
   * CONNECT: takes over or creates the session [MQTT-3.1.2-4..6], [MQTT-3.1.4-3].
   * `takeOver` closes an older connection of the same client id.
   */
  openSession(
    clientId: string,
    cleanStart: boolean,
    expiryInterval: number,
    will: Will | null,
    takeOver: (old: Outlet) => void
  ): { session: LiveSession; sessionPresent: boolean; persist: Effect.Effect<void, StorageError> | null } {
    let existing = this.sessions.get(clientId)
    // The session ends now if this connection asks for a clean start, or if it takes over a live
    // connection whose session was to end with it (expiry 0) [MQTT-3.1.2-6] [MQTT-3.1.2-23].
    let ends = cleanStart
    if (existing !== undefined) {
      if (existing.conn !== null) {
        if (existing.state.expiryInterval === 0) ends = true
        const old = existing.conn
        existing.conn = null
        takeOver(old) // may leave the old connection's delayed will in pendingWill
      }
      // [MQTT-3.1.3-9] reconnected before the will delay passed: no will, unless the session
      // ends now, which publishes a delayed will at once (§3.1.3.2.2).
      if (ends && existing.pendingWill !== null) this.publishWill(existing.pendingWill.message)
      existing.pendingWill = null
    }
    // Only a session that is or becomes persistent keeps its will in storage.
    const storedWill = will !== null && (expiryInterval > 0 || existing?.stored === true)
      ? { message: messagesToText([will.message]), delay: will.delay }
      : null
    const decision = decideConnect(existing?.state, { clientId, cleanStart: ends, expiryInterval, will: storedWill })
    let session: LiveSession
    if (existing !== undefined && ends) {
      this.dropSession(existing)
      session = this.newSession(clientId, existing.state)
      session.stored = existing.stored
      this.sessions.set(clientId, session)
    } else if (existing !== undefined) {
      session = existing
    } else {
      session = this.newSession(clientId, emptySession(clientId, expiryInterval))
      this.sessions.set(clientId, session)
    }
    const commit = this.commit(session, decision.events, true)
    // Behind a cursor: what it owes by position comes back before CONNACK (the resend needs it).
    const persist = session.cursor === null ? commit : Effect.zipRight(commit ?? Effect.void, this.backlog.loadOwed(session))
    return { session, sessionPresent: decision.sessionPresent, persist }
  }

  /** Removes a session's subscriptions and forgets it; what it owed a share group goes to another member. */
  private dropSession(session: LiveSession): void {
    const groups = [...session.subscriptions.values()].filter((sub) => sub.group !== null)
    for (const sub of session.subscriptions.values()) this.subscriptions.remove(sub)
    session.subscriptions.clear()
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId)
    this.stats.droppedByEndedSessions += session.dropped
    session.dropped = 0
    const owed = session.takeShared()
    if (owed !== null) this.reshare(owed)
    const cursor = session.cursor
    session.cursor = null
    if (cursor !== null && cursor.owed.length > 0) this.reshareOwed(session, cursor, groups)
  }

  /**
   * What an ended session owed by position (behind its cursor) and got through a share group
   * goes to another member, once read back. Messages still in the cursor's range are not
   * looked for: passing a message on is something the spec allows, not requires (§4.8.2).
   */
  private reshareOwed(session: LiveSession, cursor: Cursor, groups: ReadonlyArray<Subscription>): void {
    if (groups.length === 0) return
    const read = Effect.forEach(cursor.owed.splice(0), (entry) =>
      Effect.map(this.backlog.readMessage(entry.tp as TopicPartition, entry.offset), (m) => {
        const sub = m === null ? undefined : groups.find((g) => matches(g.filter, m.topic))
        if (m !== null && sub !== undefined && sub.group !== null && !(entry.qos === 2 && entry.packetId !== 0)) {
          this.reshare([new Outgoing(m, entry.qos, false, null, sub.group)])
        }
      }), { discard: true })
    this.backlog.run(read, `re-sharing what session ${session.clientId} owed`)
  }

  /** MQTT 5 §4.8.2: messages an ended session owed through a share group go to another member. */
  private reshare(owed: ReadonlyArray<Outgoing>): void {
    const now = Date.now()
    for (const o of owed) {
      if (o.msg.isExpired(now)) continue
      const sub = o.group!.pick()
      if (sub === null || (sub.check !== null && !sub.check(o.msg.topic))) continue
      const opt = sub.options
      const msg = o.msg
      const qos = (opt.qos < msg.qos ? opt.qos : msg.qos) as QoS
      sub.session.deliver(msg, qos, opt.retainAsPublished && msg.retain, opt.subscriptionId !== 0 ? [opt.subscriptionId] : null, sub.group)
    }
  }

  /**
   * `readCheckFor` gives each new subscription its per-delivery ACL check (null: none), before
   * any message or retained message can reach it.
   */
  subscribe(session: LiveSession, subscriptionId: number, requests: ReadonlyArray<SubscribeRequest>, readCheckFor: (raw: string) => ReadCheck | null = noReadCheck) {
    const limits = this.config.limits
    const decision = decideSubscribe(session.state, {
      clientId: session.clientId,
      subscriptionId,
      requests,
      maxTopicLevels: limits.maxTopicLevels,
      maxTopicLength: limits.maxTopicLength
    })
    if (decision.protocolError !== 0) return { ...decision, persist: null, retained: [] as Array<[Message, QoS]> }
    const now = Date.now()
    const retained: Array<[Message, QoS]> = []
    for (const e of decision.events) {
      const options: SubscriptionOptions = {
        qos: e.qos,
        noLocal: e.noLocal,
        retainAsPublished: e.retainAsPublished,
        retainHandling: e.retainHandling,
        subscriptionId: e.subscriptionId
      }
      const existed = this.addSubscription(session, e.filter, options)
      const check = readCheckFor(e.filter)
      session.subscriptions.get(e.filter)!.check = check
      const shared = parseShared(e.filter) !== null
      // [MQTT-3.3.1-9..11] retain handling 0: always, 1: only if new, 2: never; never for $share.
      if (!shared && (e.retainHandling === 0 || (e.retainHandling === 1 && !existed))) {
        for (const m of this.retainedFor(e.filter, now)) {
          if (check === null || check(m.topic)) retained.push([m, (m.qos < e.qos ? m.qos : e.qos) as QoS])
        }
      }
    }
    const persist = this.commit(session, decision.events, true)
    return { ...decision, persist, retained }
  }

  /** Adds (or replaces) one subscription in the live index. True if it existed. */
  private addSubscription(session: LiveSession, raw: string, options: SubscriptionOptions): boolean {
    const shared = parseShared(raw)
    const group = shared !== null && typeof shared === "object" ? shared : null
    const filter = group !== null ? group.filter : raw
    const previous = session.subscriptions.get(raw)
    if (previous !== undefined) this.subscriptions.remove(previous)
    const sub = new Subscription(session, raw, filter, options, null)
    // Behind a cursor, the read past it must not hand this subscription older messages.
    if (session.cursor !== null) sub.since = this.backlog.ends()
    this.subscriptions.add(sub, group?.group ?? null)
    session.subscriptions.set(raw, sub)
    return previous !== undefined
  }

  unsubscribe(session: LiveSession, filters: ReadonlyArray<string>) {
    const decision = decideUnsubscribe(session.state, session.clientId, filters)
    this.removeSubscriptions(session, decision.events)
    const persist = this.commit(session, decision.events, true)
    return { codes: decision.codes, persist }
  }

  /** Takes the subscriptions named by `events` out of the live index; returns them. */
  private removeSubscriptions(session: LiveSession, events: ReadonlyArray<{ readonly filter: string }>): Array<Subscription> {
    const removed: Array<Subscription> = []
    for (const e of events) {
      const sub = session.subscriptions.get(e.filter)
      if (sub !== undefined) {
        this.subscriptions.remove(sub)
        session.subscriptions.delete(e.filter)
        removed.push(sub)
      }
    }
    return removed
  }

  /**
   * The ACL changed under `session` (a reload, or a resume under the connecting client's ACL):
   * removes `filters`, the subscriptions no longer granted, exactly as UNSUBSCRIBE does
   * (SubscriptionRemoved for a persistent session, so they stay removed after a restart), and
   * drops what the session owes its client that it may no longer have: messages `mayRead`
   * refuses, and messages only removed subscriptions matched. The backlog is not re-derived
   * from subscriptions (route and restart put messages in it), so it is filtered here, before
   * the checkpoint that records it; `resending` (a resume) covers unacknowledged PUBLISHes too.
   * Returns null when there was nothing to do.
   */
  revokeGrants(
    session: LiveSession,
    filters: ReadonlyArray<string>,
    mayRead: (topic: string) => boolean,
    resending: boolean
  ): { removed: ReadonlyArray<string>; dropped: number; persist: Effect.Effect<void, StorageError> | null } | null {
    if (filters.length === 0 && session.backlog === 0) return null
    const decision = decideUnsubscribe(session.state, session.clientId, filters)
    const removed = this.removeSubscriptions(session, decision.events)
    const verdicts = new Map<string, boolean>() // per topic: the backlog repeats topics
    const drop = (o: Outgoing): boolean => {
      const topic = o.msg.topic
      let verdict = verdicts.get(topic)
      if (verdict === undefined) {
        verdict = !mayRead(topic) || (matchesAny(removed, topic) && !matchesAny(session.subscriptions.values(), topic))
        verdicts.set(topic, verdict)
      }
      return verdict
    }
    const dropped = session.dropOwed(drop, resending)
    if (decision.events.length === 0 && dropped === 0) return null
    const persist = this.commit(session, decision.events, true)
    return { removed: removed.map((s) => s.raw), dropped, persist }
  }

  /**
   * The connection of `session` closed (or was taken over). Ends a non-persistent session
   * [MQTT-3.1.2-23] or records the disconnect and checkpoint of a persistent one. The will is
   * published now, or after its delay, or when the session ends, whichever is first.
   */
  closeSession(
    session: LiveSession,
    conn: Outlet,
    will: Will | null,
    expiryInterval: number,
    /**
     * Broker shutdown: a will due now (no delay, or a session that ends with the connection) is
     * published, so a retained status topic does not say "online" for a device that is gone;
     * a delayed will of a persistent session stays stored (WillSet) and runs its delay from the
     * next start.
     */
    shuttingDown = false
  ): Effect.Effect<void, StorageError> | null {
    const now = Date.now()
    if (session.conn !== conn) {
      // Taken over: an undelayed will goes out now; a delayed one is settled by openSession.
      if (will !== null) this.startWill(session, will.message, will.delay, now)
      return null
    }
    session.conn = null
    const event = decideDisconnect(session.state, now, expiryInterval)
    const events: Array<SessionEvent> = [event]
    // A normal DISCONNECT drops the will [MQTT-3.1.2-10].
    const delay = will === null ? 0 : Math.min(will.delay, expiryInterval)
    const gone = will === null || !(shuttingDown && delay > 0) && this.startWill(session, will.message, delay, now)
    if (gone && session.state.will !== null) events.push(new WillCleared({ clientId: session.clientId }))
    if (event._tag === "SessionEnded") this.dropSession(session)
    const persist = this.commit(session, events, event._tag !== "SessionEnded")
    session.park() // after the checkpoint, which records what it owes
    return persist
  }

  /** Publishes the will now (delay 0, returns true) or holds it for the sweep until it is due. */
  private startWill(session: LiveSession, message: Message, delay: number, now: number): boolean {
    if (delay === 0) {
      this.publishWill(message)
      return true
    }
    session.pendingWill = { message, due: now + delay * 1000 }
    return false
  }

  publishWill(msg: Message): void {
    if (msg.expiresAt !== 0) {
      // §3.1.3.2.4: the will's Message Expiry Interval counts from its publication, not CONNECT.
      const now = Date.now()
      msg = new Message(msg.topic, msg.payload, msg.qos, msg.retain, msg.properties, now + (msg.expiresAt - msg.timestamp), msg.origin, now)
    }
    this.publish(msg)
  }

  /**
   * Timers, from the sweep fiber: due wills, expired sessions, and checkpoints of sessions that
   * changed. Returns the Effects that persist those changes.
   */
  sweep(now: number, checkpoints: boolean): Array<Effect.Effect<void, StorageError>> {
    const work: Array<Effect.Effect<void, StorageError>> = []
    for (const session of this.sessions.values()) {
      if (session.pendingWill !== null && session.pendingWill.due <= now) {
        const will = session.pendingWill.message
        session.pendingWill = null
        this.publishWill(will)
        if (session.state.will !== null) {
          const p = this.commit(session, [new WillCleared({ clientId: session.clientId })], false)
          if (p !== null) work.push(p)
        }
      }
      if (session.conn === null) {
        const expired = decideExpire(session.state, now)
        if (expired !== undefined) {
          if (session.pendingWill !== null) this.publishWill(session.pendingWill.message) // ends with the session
          session.pendingWill = null
          this.dropSession(session)
          const p = this.commit(session, [expired], false)
          if (p !== null) work.push(p)
          continue
        }
      }
      // Offline sessions change only by queueing, which a restart rebuilds from the log; one with
      // journal ops (a share group's) is checkpointed so that it does not hold the journal back.
      if (checkpoints && session.dirty && session.stored && (session.conn !== null || session.lastProgressOffset >= journalPosition(session))) {
        const p = this.commit(session, [], true)
        if (p !== null) work.push(p)
      }
    }
    return work
  }

  /** Graceful shutdown: every persistent session records its disconnect and checkpoint. */
  shutdown(): Effect.Effect<void, StorageError> {
    const work: Array<Effect.Effect<void, StorageError>> = []
    const now = Date.now()
    for (const session of this.sessions.values()) {
      if (!session.stored) continue
      const events: Array<SessionEvent> = session.conn !== null ? [decideDisconnect(session.state, now, session.state.expiryInterval)] : []
      session.conn = null
      const p = this.commit(session, events, true)
      if (p !== null) work.push(p)
    }
    return Effect.all(work, { concurrency: "unbounded", discard: true }).pipe(Effect.zipRight(this.saveSnapshot()))
  }

  // ---------------------------------------------------------------- start-up

  /**
   * Snapshots (retained set, sessions) and then retention, which relies on them. One at a time:
   * an older fold saving its snapshot after a newer one pruned the events it folded would lose
   * them (the sweep's timer and shutdown can both ask).
   */
  saveSnapshot(): Effect.Effect<void, StorageError> {
    return this.snapshotLock.withPermits(1)(
      Effect.gen(this, function*() {
        yield* this.saveRetainedSnapshot()
        yield* this.foldSessions()
        yield* this.applyRetention()
      })
    )
  }

  /**
   * Folds the session events after the snapshot into it and saves it, so the next boot replays
   * less; returns the session states. Never runs retention: at boot the sessions that hold the
   * log back are not restored yet.
   */
  private foldSessions(): Effect.Effect<Map<string, SessionState>, StorageError> {
    return Effect.gen(this, function*() {
      const snap = yield* this.store.loadSnapshot(SNAPSHOT)
      const states = snap === undefined ? new Map<string, SessionState>() : decodeStates(snap.data)
      let position = snap?.position ?? 0
      const events = yield* this.store.readAll(position)
      if (events.length === 0 && snap !== undefined) return states
      for (const r of events) {
        position = r.position
        if (!r.stream.startsWith("session-")) continue
        const e = decodeEvent(r.data)
        const next = evolve(states.get(e.clientId), e)
        if (next === undefined) states.delete(e.clientId)
        else states.set(e.clientId, next)
      }
      yield* this.store.saveSnapshot(SNAPSHOT, { position, data: encodeStates(states) })
      // Checkpoints are many (one a second per busy persistent session) and only the last one
      // counts; the snapshot now holds it, so the older ones go.
      yield* this.store.prune(["SessionCheckpointed"], position)
      return states
    })
  }

  /**
   * MQTT log retention. A stored session needs, per partition of the topics MQTT writes to,
   * everything from its last checkpoint's position plus its pending entries; `__retained` is
   * needed only past the last retained snapshot. With Kafka off nothing else reads the MQTT
   * topics, so what no session needs is deleted here; with Kafka on, Kafka retention deletes by
   * age and size and this only tells it (`holds`) what sessions still need, so it never deletes
   * a queued message of a persistent session.
   */
  applyRetention(): Effect.Effect<void, StorageError> {
    return Effect.suspend(() => {
      const trim = !this.config.kafka.enabled
      const floors = new Map<TopicPartition, number>()
      for (const tp of this.log.unsafePartitions()) {
        if (tp === RETAINED_TP) floors.set(tp, this.retainedSnapshotEnd)
        else if (this.mapping.carriesMqttTopics(streamOf(tp))) floors.set(tp, this.log.unsafeEndOffset(tp))
      }
      const lower = (tp: string, offset: number) => {
        const floor = floors.get(tp as TopicPartition)
        if (floor !== undefined && offset < floor) floors.set(tp as TopicPartition, offset)
      }
      let keepAll = false
      for (const session of this.sessions.values()) {
        if (!session.stored) continue
        // The last checkpoint written, not the last taken: a crash before its append restarts
        // from the one before, which needs what lies between the two.
        const cp = session.durableCheckpoint
        if (cp === null) {
          keepAll = true // may need anything: keep everything this time
          break
        }
        for (const tp of floors.keys()) {
          if (tp === RETAINED_TP) continue
          lower(tp, cp.positions.find(([t]) => t === tp)?.[1] ?? 0)
        }
        for (const e of cp.pending) lower(e.tp, e.offset)
        // Owed since the checkpoint (a share group's picks, re-shares) may lie below it.
        if (session.cursor !== null) for (const e of session.cursor.owed) lower(e.tp, e.offset)
      }
      // The journal is needed from the checkpoint on of each stored session that recorded ops
      // since (an offline session records none: it does not hold the journal back).
      let journalFloor = this.journal.end()
      for (const session of this.sessions.values()) {
        if (!session.stored) continue
        const at = session.durableCheckpoint?.positions.find(([tp]) => tp === PROGRESS_TP)?.[1] ?? 0
        if (session.lastProgressOffset >= at && at < journalFloor) journalFloor = at
      }
      const truncations: Array<Effect.Effect<void, StorageError>> = []
      if (!keepAll && journalFloor > 0) truncations.push(this.log.truncateBefore(PROGRESS_TP, journalFloor))
      for (const [tp, floor] of floors) {
        if (tp === RETAINED_TP || trim) {
          if (!keepAll && floor > 0) truncations.push(this.log.truncateBefore(tp, floor))
        } else this.holds?.(tp, keepAll ? 0 : floor)
      }
      return Effect.all(truncations, { discard: true })
    })
  }

  /** The live retained set as one RecordBatch, when `__retained` moved since the last one. */
  private saveRetainedSnapshot(): Effect.Effect<void, StorageError> {
    return Effect.suspend(() => {
      const end = this.log.unsafeEndOffset(RETAINED_TP)
      if (end === this.retainedSnapshotEnd) return Effect.void
      // Only what is durable: the snapshot must never hold a record the log could still lose.
      return Effect.flatMap(this.log.flush, () => {
        const live: Array<Message> = []
        for (const m of this.retained.values()) if (!m.topic.startsWith("$SYS/")) live.push(m)
        const batch = live.length === 0 ? null : messagesToText(live)
        this.retainedSnapshotEnd = end
        return this.store.saveSnapshot(RETAINED_SNAPSHOT, { position: end, data: { position: end, batch } })
      })
    })
  }

  static make(
    config: BrokerConfigShape,
    log: MessageLog["Type"],
    store: EventStore["Type"],
    mapping: StreamMapping,
    holds: ((tp: TopicPartition, keepFrom: number) => void) | null = null
  ): Effect.Effect<Engine, StorageError> {
    return Effect.gen(function*() {
      const engine = new Engine(config, log, store, mapping, holds, yield* Effect.runtime<never>())
      yield* engine.loadRetained()
      yield* engine.restoreSessions(yield* engine.foldSessions())
      return engine
    })
  }

  /**
   * Retained messages: the last snapshot (one RecordBatch of the live retained set, so boot
   * time does not grow with the `__retained` stream) plus the stream's records after it.
   */
  private loadRetained(): Effect.Effect<void, StorageError> {
    return Effect.gen(this, function*() {
      let from = 0
      const snap = yield* this.store.loadSnapshot(RETAINED_SNAPSHOT)
      if (snap !== undefined) {
        const { position, batch } = snap.data as { position: number; batch: string | null }
        const messages = batch === null ? [] : messagesFromText(batch)
        if (typeof messages === "string") {
          return yield* new StorageError({ op: "recover", path: RETAINED_SNAPSHOT, cause: new Error(messages) })
        }
        for (const m of messages) this.retained.set(m.topic, m)
        from = position
        this.retainedSnapshotEnd = position
      }
      yield* this.scan(RETAINED_TP, from, (r) => {
        const m = messageFromRecord(RETAINED_TP, r)
        if (m === null) return
        if (m.payload.length === 0) this.retained.delete(m.topic)
        else this.retained.set(m.topic, m)
      })
      const now = Date.now()
      for (const m of this.retained.values()) if (m.isExpired(now)) this.retained.delete(m.topic)
    })
  }

  /**
   * Rebuilds persistent sessions: subscriptions, then their backlogs. A session that was offline
   * with a checkpoint that still serves keeps it as its cursor, read when its client returns;
   * one connected at the crash, or with journal ops past its checkpoint, gets its backlog
   * rebuilt now (checkpoint, log scan, journal replay) and is then parked the same way.
   */
  private restoreSessions(states: ReadonlyMap<string, SessionState>): Effect.Effect<void, StorageError> {
    return Effect.gen(this, function*() {
      const now = Date.now()
      const restored: Array<LiveSession> = []
      const wereConnected = new Set<string>()
      for (let state of states.values()) {
        // Connected when the broker stopped without a clean shutdown: the clock starts now.
        if (state.disconnectedAt === null) {
          state = { ...state, disconnectedAt: now }
          wereConnected.add(state.clientId)
        }
        const session = this.newSession(state.clientId, state)
        session.stored = true
        session.durableCheckpoint = state.checkpoint
        if (expiresAt(state) <= now) {
          yield* this.commit(session, [decideExpire(state, now)!], false) ?? Effect.void
          continue
        }
        this.sessions.set(state.clientId, session)
        for (const [raw, options] of state.subscriptions) this.addSubscription(session, raw, options)
        if (state.will !== null) {
          // The delay runs from the disconnect, even across the restart [MQTT-3.1.3-9].
          const delay = Math.min(state.will.delay, state.expiryInterval)
          session.pendingWill = { message: decodeWill(state.will.message), due: state.disconnectedAt! + delay * 1000 }
        }
        const cp = state.checkpoint
        if (cp !== null) session.qos2Inbound = cp.qos2Inbound.length === 0 ? null : new Map(cp.qos2Inbound.map((id) => [id, null]))
        restored.push(session)
      }
      const withOps = yield* this.sessionsWithJournalOps(restored)
      const eager: Array<LiveSession> = []
      for (const session of restored) {
        const cp = session.state.checkpoint
        // A checkpoint past the end of the log (a power loss took the tail it named, under an
        // fsync policy that allows that) would skip what is appended from now on.
        if (cp === null || withOps.has(session) || wereConnected.has(session.clientId) || cp.positions.some(([tp, at]) => at > this.log.unsafeEndOffset(tp as TopicPartition))) {
          eager.push(session)
        } else session.cursor = Cursor.fromCheckpoint(cp.positions, cp.pending)
      }
      // Pending entries recorded in checkpoints, read back by offset.
      for (const session of eager) {
        for (const entry of session.state.checkpoint?.pending ?? []) {
          const m = yield* this.backlog.readMessage(entry.tp as TopicPartition, entry.offset)
          if (m !== null && !m.isExpired(now)) session.restore(owedOutgoing(session, m, { ...entry, maybeSent: false, retain: false }))
        }
      }
      // Records past each eager session's checkpoint positions: one pass per partition. (An
      // offline session sent nothing since its checkpoint: no inbound QoS 2 id to find for it.)
      const byClientId = new Map(eager.map((s) => [s.clientId, s]))
      const inbound = new Map<LiveSession, Array<InboundRef & { packetId: number }>>()
      for (const tp of sessionPartitions(this.log)) {
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
        yield* this.scan(tp, from, (r) => {
          const topic = this.mapping.mqttTopicOf(stream, r.key)
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
      const replayed = yield* this.replayJournal(eager, inbound, now)
      for (const session of eager) {
        if (wereConnected.has(session.clientId)) session.markMaybeSent()
      }
      // A fresh checkpoint where the old one no longer serves: past the end of the log, or with
      // journal ops after it (so retention may drop them: an offline session must not pin the
      // journal). Then the backlog leaves memory like any offline session's.
      for (const session of eager) {
        const cp = session.state.checkpoint
        if (replayed.has(session) || (cp !== null && cp.positions.some(([tp, at]) => at > this.log.unsafeEndOffset(tp as TopicPartition)))) {
          yield* this.commit(session, [], true) ?? Effect.void
        }
        session.park()
      }
    })
  }

  /**
   * Start-up: every record of `tp` from `from` to the end seen now, in offset order, a chunk at
   * a time. `visit` returns a message when the record cannot be used: recovery stops with it.
   */
  private scan(tp: TopicPartition, from: number, visit: (r: StoredRecord) => string | void): Effect.Effect<void, StorageError> {
    return Effect.gen(this, function*() {
      const end = this.log.unsafeEndOffset(tp)
      while (from < end) {
        const records = yield* this.log.read(tp, from, READ_CHUNK)
        if (records.length === 0) break
        for (const r of records) {
          if (r.offset < from) continue
          const problem = visit(r)
          if (problem !== undefined) return yield* new StorageError({ op: "recover", path: tp, cause: new Error(problem) })
        }
        from = records[records.length - 1]!.offset + 1
      }
    })
  }

  /** The restored sessions with progress-journal ops past their checkpoint. */
  private sessionsWithJournalOps(restored: ReadonlyArray<LiveSession>): Effect.Effect<Set<LiveSession>, StorageError> {
    return Effect.gen(this, function*() {
      const found = new Set<LiveSession>()
      const byKey = new Map(restored.map((s) => [s.clientId, s]))
      let from = Infinity
      for (const session of restored) from = Math.min(from, journalPosition(session))
      yield* this.scan(PROGRESS_TP, from, (r) => {
        const session = r.key === null ? undefined : byKey.get(Buffer.from(r.key).toString("utf8"))
        if (session !== undefined && r.offset >= journalPosition(session)) found.add(session)
      })
      return found
    })
  }

  /**
   * Replays the progress journal past each restored session's checkpoint (replayProgress).
   * Returns the sessions that had ops there.
   */
  private replayJournal(
    restored: ReadonlyArray<LiveSession>,
    inbound: ReadonlyMap<LiveSession, ReadonlyArray<InboundRef & { readonly packetId: number }>>,
    now: number
  ): Effect.Effect<Set<LiveSession>, StorageError> {
    return Effect.gen(this, function*() {
      const replayed = new Set<LiveSession>()
      const replays = new Map<string, { replay: ProgressReplay; start: number }>()
      let from = Infinity
      for (const session of restored) {
        const start = journalPosition(session)
        const replay = new ProgressReplay(session, (tp) => checkpointPosition(session, tp), inbound.get(session))
        replays.set(session.clientId, { replay, start })
        if (start < from) from = start
      }
      yield* this.scan(PROGRESS_TP, from, (r) => {
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
          const m = yield* this.backlog.readMessage(tp as TopicPartition, offset)
          if (m !== null && !m.isExpired(now)) read.set(`${tp}@${offset}`, m)
        }
        replay.finish((tp, offset, qos) => {
          const m = read.get(`${tp}@${offset}`)
          return m === undefined ? null : new Outgoing(m, qos, false, null)
        })
      }
      return replayed
    })
  }
}

/** Where the session's checkpoint put partition `tp` (0 where it names none). */
const checkpointPosition = (session: LiveSession, tp: string): number =>
  session.state.checkpoint?.positions.find(([t]) => t === tp)?.[1] ?? 0

/** The journal position the session's checkpoint covers (0 before any). */
const journalPosition = (session: LiveSession): number => checkpointPosition(session, PROGRESS_TP)

/** A will as stored in a WillSet event (see messagesToText). */
const decodeWill = (text: string): Message => {
  const messages = messagesFromText(text)
  if (typeof messages === "string" || messages.length !== 1) throw new Error(`stored will does not decode: ${messages}`)
  return messages[0]!
}

/** Whether one of `subs` (shared ones by their filter) matches the topic name `topic`. */
const noReadCheck = (): ReadCheck | null => null

const matchesAny = (subs: Iterable<Subscription>, topic: string): boolean => {
  for (const sub of subs) if (matches(sub.filter, topic)) return true
  return false
}

// Snapshot codec: SessionState holds Maps, stored as arrays.
const encodeStates = (states: ReadonlyMap<string, SessionState>): unknown =>
  [...states.values()].map((s) => ({ ...s, subscriptions: [...s.subscriptions] }))
const decodeStates = (data: unknown): Map<string, SessionState> => {
  const out = new Map<string, SessionState>()
  for (const s of data as Array<SessionState & { subscriptions: Array<[string, SubscriptionOptions]> }>) {
    out.set(s.clientId, { ...s, subscriptions: new Map(s.subscriptions) })
  }
  return out
}
