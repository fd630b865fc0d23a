/**
 * A persistent session's backlog kept in the log rather than in memory: per partition, the
 * offset its next read starts from, plus the messages it owes from outside that range (what was
 * in flight or queued when it went offline, share-group picks that no record header names,
 * re-shares). A session gets one when its client disconnects or when its in-memory queue is
 * full, and drops it when a read catches up with the log's end (BacklogReader). So 100k offline
 * sessions hold a few numbers each, not their messages.
 */
import { Effect } from "effect"
import type { PendingEntry, QoS } from "../../../domain/session/Session.js"
import type { Outgoing } from "./LiveSession.js"

/** One message owed from outside the cursor's range, by log position. */
export interface OwedEntry {
  readonly tp: string
  readonly offset: number
  readonly qos: QoS
  /** 0 until sent; else the packet id it went out under (resent with DUP). */
  readonly packetId: number
  /** 1: PUBREL sent (QoS 2). */
  readonly stage: 0 | 1
  /** It may have gone out before a crash without its packet id being recorded: resent with DUP. */
  readonly maybeSent: boolean
  /** The RETAIN flag it was to be sent with (a retained message sent at SUBSCRIBE). */
  readonly retain: boolean
}

/** Internal partitions (`__retained`, the progress journal) hold no session's messages. */
export const isInternalPartition = (tp: string): boolean => tp.startsWith("__")

export class Cursor {
  /** Messages owed from outside the range, oldest first. */
  readonly owed: Array<OwedEntry> = []
  /** Owed messages that have no log position (retained ones restored from a snapshot). */
  readonly held: Array<Outgoing> = []
  /** A read is queued or running (reads of one cursor never overlap: see `lock`). */
  filling = false
  private semaphore: Effect.Semaphore | null = null

  /**
   * Serialises reads: an owed message must be restored before the ones after it. Made on first
   * use (800 bytes): a session that never comes back never needs it.
   */
  get lock(): Effect.Semaphore {
    return (this.semaphore ??= Effect.unsafeMakeSemaphore(1))
  }

  constructor(
    /** Next offset to read per partition; a partition missing here is read from its start. */
    readonly positions: Map<string, number>
  ) {}

  positionOf(tp: string): number {
    return this.positions.get(tp) ?? 0
  }

  /** The cursor a checkpoint recorded: its positions and its pending entries. */
  static fromCheckpoint(positions: ReadonlyArray<readonly [string, number]>, pending: ReadonlyArray<PendingEntry>): Cursor {
    const cursor = new Cursor(new Map(positions.filter(([tp]) => !isInternalPartition(tp))))
    for (const e of pending) cursor.owed.push({ ...e, maybeSent: false, retain: false })
    return cursor
  }

  /** The entries a checkpoint records for what this cursor owes. */
  pendingEntries(): Array<PendingEntry> {
    return this.owed.map((e) => ({ tp: e.tp, offset: e.offset, qos: e.qos, packetId: e.packetId, stage: e.stage }))
  }
}

/** What a message owed in memory becomes when its session parks: its log position. */
export const owedEntryOf = (o: Outgoing): OwedEntry => ({
  tp: o.msg.tp!,
  offset: o.msg.offset,
  qos: o.qos,
  packetId: o.packetId,
  stage: o.stage,
  maybeSent: o.maybeSent,
  retain: o.retainFlag
})
