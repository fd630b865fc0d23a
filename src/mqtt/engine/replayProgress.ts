/**
 * Restart: replays one persistent session's progress-journal ops (ProgressJournal) over the
 * backlog rebuilt from its checkpoint and the log scan, so that what its client already
 * completed is not sent again, what is in flight goes out again under its packet id (DUP, or
 * PUBREL once PUBREC came back), and inbound QoS 2 ids whose PUBREL completed are free again.
 *
 * Pure bookkeeping over plain objects: messages the ops name but the backlog lacks (delivered
 * through a share group, or sent from an older backlog) are returned as positions to read.
 */
import type { QoS } from "../../../domain/session/Session.js"
import type { InboundRef, LiveSession, Outgoing } from "./LiveSession.js"
import { type DecodedOp, DONE, RECEIVED, RELEASED, SENT1, SENT2 } from "./ProgressJournal.js"

/** One message the session owes, during the replay. */
class Slot {
  packetId: number
  stage: 0 | 1
  done = false
  constructor(
    readonly tp: string,
    readonly offset: number,
    readonly qos: QoS,
    /** The restored message, or null when it must be read from the log. */
    readonly outgoing: Outgoing | null,
    packetId: number,
    stage: 0 | 1
  ) {
    this.packetId = packetId
    this.stage = stage
  }
}

const positionKey = (tp: string, offset: number): string => `${tp}@${offset}`

export class ProgressReplay {
  private readonly byPosition = new Map<string, Slot>()
  private readonly byPacketId = new Map<number, Slot>()
  /** Slots in the order their PUBLISH went out (checkpointed in-flight ones first). */
  private readonly sent: Array<Slot> = []
  private readonly queued: Array<Slot> = []
  /**
   * Inbound QoS 2 messages per packet id not known to be released: null for an id the
   * checkpoint holds, else the positions of messages the log scan found carrying the id (in
   * scan order, which is not time order across partitions: all of them are kept).
   */
  private readonly inbound = new Map<number, Array<InboundRef | null>>()

  constructor(
    readonly session: LiveSession,
    /** The session checkpoint's log position per partition (0 where it has none). */
    private readonly checkpointPosition: (tp: string) => number,
    /** Inbound QoS 2 messages from this session found past its checkpoint. */
    scannedInbound: ReadonlyArray<InboundRef & { readonly packetId: number }> = []
  ) {
    for (const id of session.qos2Inbound?.keys() ?? []) this.inbound.set(id, [null])
    for (const m of scannedInbound) {
      const held = this.inbound.get(m.packetId)
      if (held === undefined) this.inbound.set(m.packetId, [m])
      else held.push(m)
    }
    for (const o of session.inflight?.values() ?? []) {
      const slot = this.add(o)
      this.byPacketId.set(o.packetId, slot)
      this.sent.push(slot)
    }
    for (const o of session.queue ?? []) this.queued.push(this.add(o))
  }

  private add(o: Outgoing): Slot {
    const slot = new Slot(o.msg.tp!, o.msg.offset, o.qos, o, o.packetId, o.stage)
    this.byPosition.set(positionKey(slot.tp, slot.offset), slot)
    return slot
  }

  apply(op: DecodedOp): void {
    switch (op.op) {
      case SENT1:
      case SENT2:
        return this.onSent(op, op.op === SENT2 ? 2 : 1)
      case RECEIVED: {
        const slot = this.byPacketId.get(op.packetId)
        if (slot !== undefined) slot.stage = 1
        return
      }
      case DONE: {
        const slot = this.byPacketId.get(op.packetId)
        if (slot === undefined) return
        slot.done = true
        this.byPacketId.delete(op.packetId)
        return
      }
      case RELEASED:
        return this.onReleased(op)
    }
  }

  /** A PUBLISH went out under `packetId` (or, with packet id 0, a share group queued it here). */
  private onSent(op: DecodedOp, qos: QoS): void {
    const key = positionKey(op.tp, op.offset)
    let slot = this.byPosition.get(key)
    if (slot === undefined || slot.done) {
      slot = new Slot(op.tp, op.offset, qos, null, 0, 0)
      this.byPosition.set(key, slot)
      if (op.packetId === 0) this.queued.push(slot)
    }
    if (op.packetId === 0) return
    if (slot.packetId !== 0 && this.byPacketId.get(slot.packetId) === slot) this.byPacketId.delete(slot.packetId)
    slot.packetId = op.packetId
    slot.stage = 0
    this.byPacketId.set(op.packetId, slot)
    this.sent.push(slot)
  }

  /**
   * PUBREL of an inbound message. An id held at the checkpoint (position unknown) is freed by a
   * release of a message below the checkpoint's position; one the log scan found, only by a
   * release of that very message: a release never frees a later PUBLISH reusing the id.
   */
  private onReleased(op: DecodedOp): void {
    const held = this.inbound.get(op.packetId)
    if (held === undefined) return
    const i = held.findIndex((h) =>
      h === null ? op.offset === -1 || op.offset < this.checkpointPosition(op.tp) : h.tp === op.tp && h.offset === op.offset
    )
    if (i >= 0) held.splice(i, 1)
  }

  /** Positions of messages the session still owes that the backlog did not hold. */
  toRead(): Array<{ readonly tp: string; readonly offset: number }> {
    const out: Array<{ tp: string; offset: number }> = []
    for (const slot of this.byPosition.values()) if (!slot.done && slot.outgoing === null) out.push(slot)
    return out
  }

  /**
   * Rebuilds the session's in-flight window and queue. `read` gives the messages of `toRead`
   * (null when gone: expired or removed by retention).
   */
  finish(read: (tp: string, offset: number, qos: QoS) => Outgoing | null): void {
    const inflight: Array<Outgoing> = []
    const seen = new Set<Slot>()
    const resolve = (slot: Slot): Outgoing | null => {
      const o = slot.outgoing ?? read(slot.tp, slot.offset, slot.qos)
      if (o === null) return null
      o.packetId = slot.packetId
      o.stage = slot.stage
      return o
    }
    for (const slot of this.sent) {
      if (slot.done || seen.has(slot) || this.byPacketId.get(slot.packetId) !== slot) continue
      seen.add(slot)
      const o = resolve(slot)
      if (o !== null) inflight.push(o)
    }
    const queue: Array<Outgoing> = []
    for (const slot of this.queued) {
      if (slot.done || seen.has(slot) || slot.packetId !== 0) continue
      const o = resolve(slot)
      if (o !== null) queue.push(o)
    }
    this.session.replaceBacklog(inflight, queue)
    // A client reuses an id only after PUBCOMP, so at most one message per id is still held.
    const inbound = new Map<number, InboundRef | null>()
    for (const [id, held] of this.inbound) {
      if (held.length > 0) inbound.set(id, held.find((h) => h !== null) ?? null)
    }
    this.session.qos2Inbound = inbound.size === 0 ? null : inbound
  }
}
