/**
 * One MQTT session at run time: its subscriptions, the messages it owes its client (in flight
 * and queued) and the inbound QoS 2 packet ids awaiting PUBREL. It outlives connections for
 * persistent sessions. Delivery is plain synchronous code: no Effect, no allocation beyond the
 * Outgoing entry for QoS > 0 and the frame copy that carries the packet id.
 */
import type { TopicPartition } from "../../../domain/ids.js"
import type { Checkpoint, PendingEntry, QoS, SessionState } from "../../../domain/session/Session.js"
import { encodeAck } from "../codec/encode.js"
import { Cursor, isInternalPartition, owedEntryOf } from "./Cursor.js"
import { Deque } from "./Deque.js"
import { messageDrops, sampleDelivery } from "./deliveryStats.js"
import type { Message } from "./Message.js"
import { DONE, type ProgressCursor, type ProgressJournal, type ProgressRecord, RECEIVED, SENT1, SENT2 } from "./ProgressJournal.js"
import type { SharedGroup, Subscription } from "./Subscriptions.js"

/** What a session needs from its live connection. */
export interface Outlet {
  readonly version: number
  /** Outbound QoS > 0 window: min(broker max inflight, client's Receive Maximum). */
  readonly sendQuota: number
  /** Client's Maximum Packet Size (v5), 0 = no limit. */
  readonly clientMaxPacketSize: number
  /** Client's Topic Alias Maximum (v5), 0 = no aliases toward it. */
  readonly topicAliasMaximum: number
  /**
   * The alias to use toward this client for `topic`: > 0 already known to the client (send
   * an empty topic), < 0 newly assigned (send the topic and -alias), 0 none (table full).
   */
  topicAlias(topic: string): number
  /** Undoes `topicAlias` when the frame that introduced the alias was not sent after all. */
  forgetNewestTopicAlias(topic: string): void
  writeFrame(frame: Buffer): void
  /** False when the socket's outbound buffer is over its cap (QoS 0 is then dropped). */
  canWriteQos0(): boolean
}

/** Reads a cursor's backlog back into memory (BacklogReader). */
export interface BacklogSource {
  /** The end offset of every partition a session's messages can be in, now. */
  ends(): Map<string, number>
  /** Starts a read that refills the session's queue from its cursor (unless one is running). */
  fill(session: LiveSession): void
}

export class Outgoing {
  packetId = 0
  /** 0: PUBLISH sent or queued; 1: PUBREL sent (QoS 2). */
  stage: 0 | 1 = 0
  /** Restored after a crash and possibly sent before it (its SENT op may not have been written): DUP. */
  maybeSent = false
  constructor(
    readonly msg: Message,
    readonly qos: QoS,
    readonly retainFlag: boolean,
    readonly subscriptionIds: ReadonlyArray<number> | null,
    /** The share group it came through (and no plain subscription), else null. */
    readonly group: SharedGroup | null = null
  ) {}
}

/** Where an inbound QoS 2 message awaiting PUBREL sits in the log. */
export class InboundRef {
  constructor(readonly tp: TopicPartition, readonly offset: number) {}
}

export interface SessionStats {
  dropped: number
}

export class LiveSession implements ProgressCursor {
  conn: Outlet | null = null
  readonly subscriptions = new Map<string, Subscription>()
  /** Sent, not yet acknowledged, by packet id; in send order (Map keeps insertion order). */
  inflight: Map<number, Outgoing> | null = null
  /** Waiting for window space, in memory (at most about max_queued_messages). */
  queue: Deque<Outgoing> | null = null
  /**
   * Persistent sessions: the backlog past the queue, in the log (Cursor). Set while offline and
   * while the queue is full; null once a read catches up with the log.
   */
  cursor: Cursor | null = null
  /**
   * Inbound QoS 2 packet ids PUBREC'd and awaiting PUBREL, with the message's log position
   * (null: restored from a checkpoint, position not kept).
   */
  qos2Inbound: Map<number, InboundRef | null> | null = null
  // ProgressCursor: this session's place in the progress journal (persistent sessions only).
  progress: ProgressRecord | null = null
  lastProgressOffset = -1
  readonly progressKey: Uint8Array
  private nextPacketId = 1
  /** Changed since the last checkpoint (persistent sessions only care). */
  dirty = false
  dropped = 0
  /** The event store knows this session (it is, or was, persistent). */
  stored = false
  /** The last checkpoint known to be in the event store (retention may free what lies below it). */
  durableCheckpoint: Checkpoint | null = null
  // Scratch fields for Engine.route: dedupe of overlapping subscriptions without allocation.
  mark = 0
  markQos: QoS = 0
  markRetain = false
  markSubIds: Array<number> | null = null
  markGroup: SharedGroup | null = null
  /** A will waiting for its delay (v5) after the connection closed, or null. */
  pendingWill: { readonly message: Message; readonly due: number } | null = null

  constructor(
    readonly clientId: string,
    public state: SessionState,
    /** Messages the queue holds in memory (a persistent session's further ones wait in the log). */
    readonly maxQueued: number,
    /** Where delivery progress is made durable; null where nothing survives a restart (tests). */
    readonly journal: ProgressJournal | null = null,
    /** Reads a cursor's backlog; null: the queue is all there is (tests). */
    readonly backlogSource: BacklogSource | null = null
  ) {
    this.progressKey = Buffer.from(clientId, "utf8")
  }

  /** The journal, when this session's progress must survive a crash (it is persistent). */
  get journaled(): ProgressJournal | null {
    return this.stored ? this.journal : null
  }

  get persistent(): boolean {
    return this.state.expiryInterval > 0
  }

  /**
   * Hot path: hands `msg` to this session at `qos` (already min(published, granted)).
   * QoS 0 goes out now or is dropped; QoS > 0 goes out if the window has room, else queues.
   */
  deliver(msg: Message, qos: QoS, retainFlag: boolean, subscriptionIds: ReadonlyArray<number> | null, group: SharedGroup | null = null): void {
    const conn = this.conn
    if (qos === 0) {
      if (conn === null) return
      if (!conn.canWriteQos0()) {
        this.dropped++
        messageDrops.slowSocket++
        return
      }
      const frame = msg.frameFor(conn, 0, retainFlag, subscriptionIds)
      if (conn.clientMaxPacketSize !== 0 && frame.length > conn.clientMaxPacketSize) {
        if (conn.topicAliasMaximum !== 0) conn.forgetNewestTopicAlias(msg.topic)
        messageDrops.tooLarge++
        return // [MQTT-3.1.2-25]
      }
      conn.writeFrame(frame)
      sampleDelivery(msg.timestamp)
      return
    }
    const cursor = this.cursor
    if (cursor !== null) return this.deliverBehind(cursor, msg, qos, retainFlag, subscriptionIds, group)
    this.dirty = true
    const inflight = this.inflight ?? (this.inflight = new Map())
    if (conn !== null && inflight.size < conn.sendQuota && (this.queue === null || this.queue.length === 0)) {
      this.send(conn, inflight, new Outgoing(msg, qos, retainFlag, subscriptionIds, group))
      return
    }
    const queue = this.queue ?? (this.queue = new Deque())
    if (queue.length >= this.maxQueued) {
      // A persistent session's log is kept for it: the rest waits there, behind a cursor.
      if (this.backlogSource !== null && this.stored && msg.tp !== null) {
        const behind = (this.cursor = new Cursor(this.backlogSource.ends()))
        return this.deliverBehind(behind, msg, qos, retainFlag, subscriptionIds, group)
      }
      this.dropped++
      messageDrops.queueFull++
      return
    }
    msg.ownPayload()
    queue.push(new Outgoing(msg, qos, retainFlag, subscriptionIds, group))
    // A restart rebuilds the backlog from subscriptions, which cannot say which member of a
    // share group a message went to: the journal does (packet id 0: queued, not sent).
    if (group !== null && msg.tp !== null) this.journaled?.record(this, qos === 2 ? SENT2 : SENT1, 0, msg.tp, msg.offset)
  }

  /**
   * Hot path, behind a cursor: a message the read past the cursor will find (in range, through
   * a plain subscription or the share-target header written with it) is left in the log; one
   * from before the range is owed by position; one with no position is kept as it is.
   */
  private deliverBehind(cursor: Cursor, msg: Message, qos: QoS, retainFlag: boolean, subscriptionIds: ReadonlyArray<number> | null, group: SharedGroup | null): void {
    const tp = msg.tp
    if (tp === null) return this.keep(cursor, new Outgoing(msg, qos, retainFlag, subscriptionIds, group))
    if (msg.offset >= cursor.positionOf(tp)) {
      if (group === null) return
      if (msg.appended && msg.shareTargets !== null && msg.shareTargets.includes(`${qos}${this.clientId}`)) return
    }
    cursor.owed.push({ tp, offset: msg.offset, qos, packetId: 0, stage: 0, maybeSent: false, retain: retainFlag })
    this.dirty = true
    if (group !== null) this.journaled?.record(this, qos === 2 ? SENT2 : SENT1, 0, tp, msg.offset)
  }

  /** An owed message with no log position: queued while connected, held by the cursor offline. */
  private keep(cursor: Cursor, o: Outgoing): void {
    o.msg.ownPayload()
    if (this.conn === null) return void cursor.held.push(o)
    ;(this.queue ??= new Deque()).push(o)
    this.pump()
  }

  /**
   * A retained message matching a new subscription [MQTT-3.3.1-9]: never left to the read past
   * a cursor, which only finds messages published after the subscription.
   */
  deliverRetained(msg: Message, qos: QoS, subscriptionIds: ReadonlyArray<number> | null): void {
    const cursor = this.cursor
    if (cursor === null || qos === 0) this.deliver(msg, qos, true, subscriptionIds)
    else this.keep(cursor, new Outgoing(msg, qos, true, subscriptionIds))
  }

  private send(conn: Outlet, inflight: Map<number, Outgoing>, o: Outgoing): void {
    o.packetId = this.allocatePacketId(inflight)
    inflight.set(o.packetId, o)
    const dup = o.maybeSent
    const journal = this.journaled
    if (journal !== null && o.msg.tp !== null) {
      journal.record(this, o.qos === 2 ? SENT2 : SENT1, o.packetId, o.msg.tp, o.msg.offset)
      // QoS 2 goes out once its packet id is durable: resent after a crash, it must carry the
      // same id, or the client would take it for a new message. QoS 1 may repeat, so it waits
      // only behind a held QoS 2 PUBLISH, to keep the order.
      if (o.qos === 2 || this.held > 0) return this.sendWhenDurable(journal, conn, o)
    }
    this.writePublish(conn, o, dup)
  }

  /** PUBLISHes waiting for their journal op (sendWhenDurable): later ones queue behind them. */
  private held = 0

  private sendWhenDurable(journal: ProgressJournal, conn: Outlet, o: Outgoing): void {
    this.held++
    // Callbacks of one journal partition run in offset order: the frames keep their order.
    journal.whenDurable(this, (error) => {
      this.held--
      if (error !== undefined || this.conn !== conn || this.inflight?.get(o.packetId) !== o || o.stage !== 0) return
      this.writePublish(conn, o, o.maybeSent)
    })
  }

  private writePublish(conn: Outlet, o: Outgoing, dup: boolean): void {
    const frame = o.msg.frameWithPacketId(conn, o.qos, o.retainFlag, o.subscriptionIds, o.packetId, dup)
    if (conn.clientMaxPacketSize !== 0 && frame.length > conn.clientMaxPacketSize) {
      // [MQTT-3.1.2-25] too large for this client: discard as if delivered.
      if (conn.topicAliasMaximum !== 0) conn.forgetNewestTopicAlias(o.msg.topic)
      this.inflight!.delete(o.packetId)
      this.journaled?.record(this, DONE, o.packetId, "", -1)
      messageDrops.tooLarge++
      return
    }
    conn.writeFrame(frame)
    sampleDelivery(o.msg.timestamp)
  }

  private allocatePacketId(inflight: Map<number, Outgoing>): number {
    let id = this.nextPacketId
    while (inflight.has(id)) id = id === 0xffff ? 1 : id + 1
    this.nextPacketId = id === 0xffff ? 1 : id + 1
    return id
  }

  /**
   * Fills the window from the queue, dropping messages that expired while waiting, and asks for
   * the next part of the backlog once the queue runs low.
   */
  pump(): void {
    const conn = this.conn
    if (conn === null) return
    const queue = this.queue
    if (queue !== null && queue.length > 0) {
      const inflight = this.inflight ?? (this.inflight = new Map())
      const now = Date.now()
      while (queue.length > 0 && inflight.size < conn.sendQuota) {
        const o = queue.shift()!
        this.dirty = true
        if (o.msg.isExpired(now)) {
          messageDrops.expired++
          continue // [MQTT-3.3.2-5]
        }
        this.send(conn, inflight, o)
      }
    }
    const cursor = this.cursor
    if (cursor !== null && !cursor.filling && (queue === null || queue.length < this.maxQueued >> 1)) this.backlogSource!.fill(this)
  }

  /**
   * The client went away: what it is owed leaves memory, as log positions behind a cursor
   * (in flight first, in send order, then queued), to be read back when it returns.
   */
  park(): void {
    const source = this.backlogSource
    if (source === null || !this.stored || this.conn !== null) return
    const cursor = this.cursor ?? new Cursor(source.ends())
    const owed: Array<Outgoing> = []
    const held: Array<Outgoing> = []
    for (const o of this.inflight?.values() ?? []) (o.msg.tp === null ? held : owed).push(o)
    for (const o of this.queue ?? []) (o.msg.tp === null ? held : owed).push(o)
    cursor.owed.unshift(...owed.map(owedEntryOf))
    cursor.held.unshift(...held)
    this.inflight = null
    this.queue = null
    this.cursor = cursor
  }

  /** A read reached the log's end with nothing owed besides: deliveries go to memory again. */
  caughtUp(): void {
    this.cursor = null
    for (const sub of this.subscriptions.values()) sub.since = null
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the message is done. False if the id was unknown. */
  complete(packetId: number): boolean {
    const inflight = this.inflight
    if (inflight === null || !inflight.delete(packetId)) return false
    this.journaled?.record(this, DONE, packetId, "", -1)
    this.dirty = true
    this.pump()
    return true
  }

  /**
   * PUBREC: returns the PUBREL to send (0x92 when the id is unknown, v5). For a journaled
   * session it must wait for `whenProgressDurable` (the RECEIVED op).
   */
  received(packetId: number, reasonCode: number): Buffer | null {
    const conn = this.conn!
    const o = this.inflight?.get(packetId)
    if (o === undefined || o.qos !== 2) return encodeAck(6, packetId, conn.version as 3 | 4 | 5, 0x92)
    if (reasonCode >= 0x80) {
      // v5: the receiver refused it; the flow ends here [MQTT-4.3.3-?].
      this.complete(packetId)
      return null
    }
    o.stage = 1
    this.dirty = true
    this.journaled?.record(this, RECEIVED, packetId, "", -1)
    return encodeAck(6, packetId, conn.version as 3 | 4 | 5, 0)
  }

  /** Runs `done` once this session's recorded progress is durable (at once when not journaled). */
  whenProgressDurable(done: (error?: unknown) => void): void {
    const journal = this.journaled
    if (journal === null) done()
    else journal.whenDurable(this, done)
  }

  /**
   * On reconnect: resend unacknowledged PUBLISH with DUP and PUBREL, in order [MQTT-4.4.0-1],
   * once the progress they reflect is durable (a resend is a promise like the first send).
   */
  resume(conn: Outlet): void {
    this.conn = conn
    const inflight = this.inflight
    if (inflight === null || inflight.size === 0) return this.pump()
    const owed = [...inflight.values()]
    const resend = () => {
      if (this.conn !== conn) return
      for (const o of owed) {
        if (this.inflight?.get(o.packetId) !== o) continue
        if (o.stage === 1) conn.writeFrame(encodeAck(6, o.packetId, conn.version as 3 | 4 | 5, 0))
        else this.writePublish(conn, o, true)
      }
      this.pump()
    }
    if (this.journaled === null || this.lastProgressOffset < 0) resend()
    else this.whenProgressDurable((error) => error === undefined && resend())
  }

  /** Everything owed to the client, as log positions (messages outside the log are skipped). */
  pendingEntries(): Array<PendingEntry> {
    const out: Array<PendingEntry> = []
    const add = (o: Outgoing) => {
      if (o.msg.tp !== null) out.push({ tp: o.msg.tp, offset: o.msg.offset, qos: o.qos, packetId: o.packetId, stage: o.stage })
    }
    if (this.inflight !== null) for (const o of this.inflight.values()) add(o)
    if (this.queue !== null) for (const o of this.queue) add(o)
    if (this.cursor !== null) out.push(...this.cursor.pendingEntries())
    return out
  }

  /**
   * `positions` are the log's ends; behind a cursor the backlog is rebuilt from the cursor's
   * positions instead (a partition it does not name is newer than it: from its start).
   */
  checkpoint(positions: ReadonlyArray<readonly [string, number]>, now: number): Checkpoint {
    const cursor = this.cursor
    return {
      at: now,
      positions: cursor === null ? positions : positions.map(([tp, end]) => [tp, isInternalPartition(tp) ? end : cursor.positionOf(tp)] as const),
      pending: this.pendingEntries(),
      qos2Inbound: this.qos2Inbound === null ? [] : [...this.qos2Inbound.keys()]
    }
  }

  /**
   * A message another node owed this client (a remnant: src/cluster/Remnants.ts), already in
   * this node's log. A QoS 2 exchange the client began there (PUBLISH sent, or PUBREL sent after
   * its PUBREC) keeps its packet id when this session does not use it: the client knows the
   * message by that id, and a new one would deliver it twice. Everything else is a new delivery
   * under this session's own ids. False: dropped, a PUBREL whose id is taken here (after its
   * PUBREC the client owns the message, MQTT 5 §4.3.3: only the id stays unreleased).
   */
  merge(o: Outgoing): boolean {
    if (o.qos === 2 && o.packetId !== 0 && this.usesPacketId(o.packetId)) {
      if (o.stage === 1) return false
      o.packetId = 0
    } else if (o.qos !== 2) {
      o.packetId = 0
      o.stage = 0
    }
    o.maybeSent = o.packetId !== 0
    this.dirty = true
    const cursor = this.cursor
    if (cursor !== null) {
      cursor.owed.push(owedEntryOf(o)) // read back from the log when the client reads its backlog
    } else {
      o.msg.ownPayload()
      this.restore(o)
      const conn = this.conn
      if (conn !== null && o.packetId !== 0) {
        if (o.stage === 1) conn.writeFrame(encodeAck(6, o.packetId, conn.version as 3 | 4 | 5, 0))
        else this.writePublish(conn, o, true)
      }
    }
    return true
  }

  private usesPacketId(id: number): boolean {
    if (this.inflight?.has(id) === true) return true
    const owed = this.cursor?.owed
    if (owed !== undefined) for (const e of owed) if (e.packetId === id) return true
    return false
  }

  /** Restores an entry from a checkpoint (broker restart): keeps its packet id and stage. */
  restore(o: Outgoing): void {
    if (o.packetId !== 0) {
      const inflight = this.inflight ?? (this.inflight = new Map())
      inflight.set(o.packetId, o)
      if (o.packetId >= this.nextPacketId) this.nextPacketId = o.packetId === 0xffff ? 1 : o.packetId + 1
    } else {
      const queue = this.queue ?? (this.queue = new Deque())
      queue.push(o)
    }
  }

  /**
   * Restart of a session that was connected at the crash: QoS 1 sends do not wait for their
   * journal op, and while a group commit is in flight any number of them can go out (and be
   * acknowledged) unrecorded. Every QoS 1 message it is owed then goes out with DUP: the flag
   * says "may have been sent before", which is true of each (over-marking one never sent is
   * harmless; a repeat without it would not be).
   */
  markMaybeSent(): void {
    if (this.queue === null) return
    for (const o of this.queue) if (o.qos === 1) o.maybeSent = true
  }

  /** Restart: the backlog as the progress replay rebuilt it (see replayProgress). */
  replaceBacklog(inflight: ReadonlyArray<Outgoing>, queue: ReadonlyArray<Outgoing>): void {
    this.inflight = null
    this.queue = null
    for (const o of inflight) this.restore(o)
    for (const o of queue) this.restore(o)
  }

  /**
   * The session is ending: removes and returns what it owes through a share group and may go to
   * another member (MQTT 5 §4.8.2): QoS 1 sent or queued, QoS 2 never sent. A QoS 2 message
   * already sent stays with this client [MQTT-4.8.2-5].
   */
  takeShared(): Array<Outgoing> | null {
    let out: Array<Outgoing> | null = null
    const inflight = this.inflight
    if (inflight !== null) {
      for (const [id, o] of inflight) {
        if (o.group === null || o.qos !== 1) continue
        inflight.delete(id)
        ;(out ??= []).push(o)
      }
    }
    const queue = this.queue
    if (queue !== null) queue.filter((o) => o.group === null, (o) => (out ??= []).push(o))
    return out
  }

  /**
   * Forgets the messages owed to the client that `drop` selects (the ACL changed): every queued
   * one, and, when `resending` (a resume, before anything is sent), PUBLISHes sent to an earlier
   * connection and not acknowledged, which would go out again. A PUBREL stays: it carries no
   * message. Returns how many were dropped.
   */
  dropOwed(drop: (o: Outgoing) => boolean, resending: boolean): number {
    let dropped = 0
    const inflight = this.inflight
    if (resending && inflight !== null) {
      for (const [id, o] of inflight) {
        if (o.stage !== 0 || !drop(o)) continue
        inflight.delete(id)
        dropped++
      }
    }
    const queue = this.queue
    if (queue !== null && queue.length > 0) queue.filter((o) => !drop(o), () => dropped++)
    if (dropped > 0) this.dirty = true
    return dropped
  }

  /** Number of messages owed to the client in memory or by position (not those still in a cursor's range). */
  get backlog(): number {
    const cursor = this.cursor
    return (this.inflight?.size ?? 0) + (this.queue?.length ?? 0) + (cursor === null ? 0 : cursor.owed.length + cursor.held.length)
  }
}
