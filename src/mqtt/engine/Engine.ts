/**
 * The MQTT engine: sessions, subscriptions, retained messages and routing, over the MessageLog
 * (data plane) and the EventStore (control plane). `publish` and `route` are the per-message hot
 * path: plain synchronous code. Control operations (connect, subscribe, disconnect, expiry)
 * change memory at once and return the Effect that persists their events for persistent
 * sessions; the caller decides whether to wait for it (CONNACK, SUBACK do).
 *
 * It starts empty: restore.ts rebuilds it from storage, snapshots.ts and retention.ts keep
 * storage small, and MqttEngine.ts runs all three as the engine's layer. The members marked
 * "restore, snapshots" are theirs, not for protocol code.
 */
import { type Deferred, Effect, Runtime, Schema } from "effect"
import type { BrokerConfigShape } from "../../../config/BrokerConfigShape.js"
import { type TopicPartition, topicPartition } from "../../../domain/ids.js"
import { decideConnect, decideDelete, decideDisconnect, decideExpire, decideSubscribe, decideUnsubscribe, type SubscribeRequest } from "../../../domain/session/decide.js"
import { SessionCheckpointed, SessionEvent, sessionStream, WillCleared } from "../../../domain/session/events.js"
import { evolve } from "../../../domain/session/evolve.js"
import { type Checkpoint, emptySession, type QoS, type SessionState, type SubscriptionOptions } from "../../../domain/session/Session.js"
import { matches } from "../../../domain/topic/matches.js"
import type { StreamMapping } from "../../../domain/topic/StreamMapping.js"
import { parseShared } from "../../../domain/topic/TopicFilter.js"
import { StorageError } from "../../../services/errors.js"
import type { EventData, EventStore } from "../../../services/EventStore.js"
import type { MessageLog } from "../../../services/MessageLog.js"
import { BacklogReader, sessionPartitions } from "./BacklogReader.js"
import { Cursor } from "./Cursor.js"
import { messageDrops } from "./deliveryStats.js"
import { LiveSession, type Outlet, Outgoing } from "./LiveSession.js"
import { Message, messagesToText } from "./Message.js"
import { PROGRESS_TP, ProgressJournal } from "./ProgressJournal.js"
import { isGroup, type ReadCheck, type SharedGroup, Subscription, Subscriptions } from "./Subscriptions.js"

export const RETAINED_TP = topicPartition("__retained", 0)

const encodeEvent = Schema.encodeSync(SessionEvent)
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

/**
 * What a cluster adds to routing (src/cluster/Forwarder.ts); null on a single node, where it
 * costs one null test per message.
 */
export interface RemoteRouting {
  /** This node's id in the cluster (its `$SYS/brokers/<id>/` tree). */
  readonly nodeId: string
  /** Hot path: sends a message published on this node once to each other node whose routes match it; returns how many. */
  forward(msg: Message): number
  /** Whether any other node has subscribers at all (else a Kafka-produced batch is not even decoded for MQTT). */
  hasRemoteRoutes(): boolean
  /** Hot path: whether this node delivers `msg` to share group `groupKey` (`<group>/<filter>`); else a member on another node gets it. */
  sharedHere(groupKey: string): boolean
  /** After a SUBSCRIBE: waits (bounded) until the route keys it added are visible to the other nodes; null when nothing is pending. */
  routesVisible(): Effect.Effect<void> | null
  /**
   * Before a CONNECT opens its session: makes this node the session's holder in the cluster,
   * bringing its state from the node that held it (with `cleanStart`, that node ends it instead).
   * False: refuse the CONNECT (0x88), etcd cannot say.
   */
  claimSession(clientId: string, cleanStart: boolean): Effect.Effect<boolean>
  /** A session's events were decided (subscriptions, start, end): the cluster's record of it follows. */
  sessionChanged(session: LiveSession, events: ReadonlyArray<SessionEvent>): void
  /** Retention: the lowest offset of `tp` another node may still ask for again (a catch-up); undefined: none. */
  keepFrom(tp: string): number | undefined
}

export class Engine {
  readonly sessions = new Map<string, LiveSession>()
  readonly subscriptions = new Subscriptions()
  readonly retained = new Map<string, Message>()
  readonly stats: EngineStats = { messagesReceived: 0, messagesSent: 0, droppedByEndedSessions: 0 }
  // Scratch state for route(): dedupe per session without allocating.
  private stamp = 0
  /** `__retained` end offset covered by the last retained snapshot (restore, snapshots). */
  retainedSnapshotEnd = 0
  private readonly touched: Array<LiveSession> = []

  private readonly logQos0: boolean
  /** One snapshot at a time (snapshots). */
  readonly snapshotLock = Effect.unsafeMakeSemaphore(1)
  /** Delivery progress of persistent sessions, in the log's group commit (ProgressJournal). */
  readonly journal: ProgressJournal
  /** Reads the backlogs of sessions behind a cursor (offline, or their queue full) from the log. */
  readonly backlog: BacklogReader
  /** Set while this node is a member of a cluster (src/cluster/announce.ts). */
  remote: RemoteRouting | null = null
  /**
   * A node of a cluster that has not joined yet (its listeners are up first): done once `remote`
   * is set, or once it is clear there is none. A CONNECT meanwhile waits for it: opened unclaimed,
   * a session would be unknown to the cluster (another node could hold the same client id).
   */
  joining: Deferred.Deferred<void> | null = null

  /** Empty: restoreEngine (restore.ts) fills it from storage before any client comes. */
  constructor(
    readonly config: BrokerConfigShape,
    readonly log: MessageLog["Type"],
    readonly store: EventStore["Type"],
    /** MQTT topic -> log partition, and log record -> MQTT topic. */
    readonly mapping: StreamMapping,
    /** Tells Kafka-style retention the lowest offset of a partition sessions still need. */
    readonly holds: ((tp: TopicPartition, keepFrom: number) => void) | null,
    /** Runs the background reads of session backlogs. */
    runtime: Runtime.Runtime<never>
  ) {
    this.logQos0 = config.mqtt.logQos0
    this.journal = new ProgressJournal(log)
    this.backlog = new BacklogReader(log, mapping, runtime)
  }

  /** A session object, not yet in `sessions` (restore). */
  newSession(clientId: string, state: SessionState): LiveSession {
    return new LiveSession(clientId, state, this.config.limits.maxQueuedMessages, this.journal, this.backlog)
  }

  // ---------------------------------------------------------------- data plane (hot)

  /** The log partition an MQTT topic's messages are appended to (see StreamMapping). */
  partitionFor(topic: string): TopicPartition {
    return this.mapping.placementOf(topic).tp
  }

  /**
   * Hot path: logs (QoS > 0, bound topics, and retained), retains, and routes one message, and
   * in a cluster forwards it to the other nodes whose routes match. Returns the number of
   * sessions on this node it was routed to.
   */
  publish(msg: Message): number {
    const routed = this.accept(msg)
    const forwarded = this.remote === null ? 0 : this.remote.forward(msg)
    if (routed === 0 && forwarded === 0) messageDrops.noSubscribers++
    return routed
  }

  /**
   * A message another node forwarded (its publisher is there): logged, retained and routed here
   * like a local publish, to the share groups the sender picked this node for, never forwarded again.
   */
  publishForwarded(msg: Message, groups: ReadonlyArray<string>): number {
    msg.forwardedGroups = groups
    // Another node's `$SYS/brokers/<id>/...` figures: in memory only, never logged, like this node's own.
    if (msg.qos === 0 && msg.topic.charCodeAt(0) === 36 && msg.topic.startsWith("$SYS/")) {
      if (msg.retain) this.setRetained(msg, false)
      return this.route(msg)
    }
    return this.accept(msg)
  }

  /**
   * Hot path: a record a Kafka client produced, in this node's log (tp null: in a store it serves
   * for a dead sibling): routed to the subscribers here and, in a cluster, forwarded to the nodes
   * whose routes match, unless it sits in another partition than an MQTT publish of its topic
   * would (any other Kafka topic, or a partition the producer chose): a receiver logs what it is
   * forwarded into its own mapping's partition, which may be `mqtt` or one it leads, and Kafka
   * readers would see the record twice. Such a record stays on this node.
   */
  publishProduced(msg: Message): number {
    this.stats.messagesReceived++
    const remote = this.remote
    if (remote === null || this.mapping.placementOf(msg.topic).tp === msg.tp) {
      const routed = this.route(msg)
      if (remote !== null) remote.forward(msg)
      return routed
    }
    return this.routeHereOnly(msg)
  }

  /** Routed as on a single node: no share-group pick may send `msg` to a node it never reaches. */
  private routeHereOnly(msg: Message): number {
    const remote = this.remote
    this.remote = null
    try {
      return this.route(msg)
    } finally {
      this.remote = remote
    }
  }

  /**
   * A `$SYS` message this node makes (sys.ts): retained in memory only, never logged. `cluster`:
   * it goes to the other nodes too (`$SYS/brokers/<id>/...`); otherwise it stays on this node,
   * and a share group gets it through a member here.
   */
  publishSys(msg: Message, cluster: boolean): void {
    if (msg.retain) this.setRetained(msg, false)
    const remote = this.remote
    if (remote === null) {
      this.route(msg)
    } else if (cluster) {
      this.route(msg)
      remote.forward(msg)
    } else {
      this.routeHereOnly(msg)
    }
  }

  /**
   * A message this node missed and got again from the sender's log (a catch-up): like a
   * forwarded one (to the share groups the sender had picked this node for), except that it
   * replaces the retained message of its topic only when it is the newer, since what came live
   * meanwhile is.
   */
  publishReplayed(msg: Message, groups: ReadonlyArray<string>): number {
    msg.forwardedGroups = groups
    const retained = msg.retain ? this.retained.get(msg.topic) : undefined
    return this.accept(msg, retained === undefined || retained.timestamp <= msg.timestamp)
  }

  private accept(msg: Message, retain = true): number {
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
    if (msg.retain && retain) this.setRetained(msg, true)
    return this.route(msg)
  }

  /** Hot path: one delivery per matching session, highest QoS, every subscription id. */
  route(msg: Message): number {
    const entries = this.subscriptions.match(msg.topic)
    const n = entries.length
    if (n === 0) return 0
    const stamp = ++this.stamp
    const touched = this.touched
    for (let i = 0; i < n; i++) {
      const e = entries[i]!
      const sub = isGroup(e) ? this.pickShared(e, msg) : e
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

  /** Hot path: the member of a share group that gets `msg` here, or null when it goes to another node's member (or none). */
  private pickShared(group: SharedGroup, msg: Message): Subscription | null {
    const only = msg.forwardedGroups
    if (only !== null) return only.includes(group.key) ? group.pick() : null
    if (this.remote !== null && !this.remote.sharedHere(group.key)) return null
    return group.pick()
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
  commit(session: LiveSession, events: ReadonlyArray<SessionEvent>, checkpoint: boolean): Effect.Effect<void, StorageError> | null {
    let state: SessionState | undefined = session.state
    for (const e of events) state = evolve(state, e)
    if (state !== undefined) session.state = state
    if (this.remote !== null && events.length > 0) this.remote.sessionChanged(session, events)
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
    const routed = this.remote?.routesVisible() ?? null
    return { ...decision, persist: routed === null ? persist : persist === null ? routed : Effect.zipRight(persist, routed), retained }
  }

  /** Adds (or replaces) one subscription in the live index. True if it existed. */
  addSubscription(session: LiveSession, raw: string, options: SubscriptionOptions): boolean {
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
          const p = this.endSession(session, expired)
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

  /**
   * The admin API's delete: ends an offline session now, as expiry would (its delayed will goes
   * out). The caller closes a connected client first. Undefined when there is no such session.
   */
  deleteSession(clientId: string): Effect.Effect<void, StorageError> | null | undefined {
    const session = this.sessions.get(clientId)
    if (session === undefined) return undefined
    return this.endSession(session, decideDelete(session.state))
  }

  /** Ends an offline session: its pending will is published, it leaves the index and storage. */
  endSession(session: LiveSession, ended: SessionEvent): Effect.Effect<void, StorageError> | null {
    if (session.pendingWill !== null) this.publishWill(session.pendingWill.message) // ends with the session
    session.pendingWill = null
    this.dropSession(session)
    return this.commit(session, [ended], false)
  }

  /**
   * Takes a session's subscriptions out of the live index, and so out of this node's routes,
   * without ending it or touching its storage: another node holds it now, and this copy only
   * waits to hand on what it still owes (src/cluster/Remnants.ts).
   */
  detach(session: LiveSession): void {
    for (const sub of session.subscriptions.values()) this.subscriptions.remove(sub)
    session.subscriptions.clear()
  }

  /** Graceful shutdown: every persistent session records its disconnect and checkpoint. */
  checkpointAll(): Effect.Effect<void, StorageError> {
    const work: Array<Effect.Effect<void, StorageError>> = []
    const now = Date.now()
    for (const session of this.sessions.values()) {
      if (!session.stored) continue
      const events: Array<SessionEvent> = session.conn !== null ? [decideDisconnect(session.state, now, session.state.expiryInterval)] : []
      session.conn = null
      const p = this.commit(session, events, true)
      if (p !== null) work.push(p)
    }
    return Effect.all(work, { concurrency: "unbounded", discard: true })
  }
}

/** Where the session's checkpoint put partition `tp` (0 where it names none). */
export const checkpointPosition = (session: LiveSession, tp: string): number =>
  session.state.checkpoint?.positions.find(([t]) => t === tp)?.[1] ?? 0

/** The journal position the session's checkpoint covers (0 before any). */
export const journalPosition = (session: LiveSession): number => checkpointPosition(session, PROGRESS_TP)

const noReadCheck = (): ReadCheck | null => null

/** Whether one of `subs` (shared ones by their filter) matches the topic name `topic`. */
const matchesAny = (subs: Iterable<Subscription>, topic: string): boolean => {
  for (const sub of subs) if (matches(sub.filter, topic)) return true
  return false
}
