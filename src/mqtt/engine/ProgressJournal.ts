/**
 * The delivery-progress journal of persistent sessions: the QoS 1/2 state the protocol depends
 * on across a crash, written as records of the internal `__mqtt_progress` log partition, so it
 * rides the same group commit as the messages (no fsync of its own, no timer).
 *
 * Each op names a packet id and, where it matters, the log position of the message:
 * - SENT1 / SENT2 (pid, tp, offset): a QoS 1/2 PUBLISH went out to the session's client with
 *   this packet id. A QoS 2 PUBLISH leaves only once this is durable, so after a crash the same
 *   message goes out again under the same id, with DUP, and the client recognises it.
 * - RECEIVED (pid): PUBREC came back; PUBREL leaves only once this is durable, so the client can
 *   never have completed a message we would send again as a PUBLISH.
 * - DONE (pid): PUBACK / PUBCOMP came back (or the client refused the message): never resent.
 * - RELEASED (pid, tp, offset): PUBREL of an inbound QoS 2 message (offset -1: one held since
 *   the last checkpoint, position unknown); PUBCOMP leaves only once this is durable, so a
 *   packet id the client reuses after PUBCOMP is never taken for a retry of the old message.
 * Inbound receipt needs no op: the message record itself carries its packet id (Message
 * `inboundPacketId`), so the message and the id are durable together, atomically.
 *
 * A session's ops go into one open record (key: the client id) until the log seals it at flush
 * time (the record's `headers` are computed then, once), so a busy session writes one small
 * record per group commit, not one per op. A checkpoint seals it too: ops after a checkpoint
 * always land in records past the journal position the checkpoint names.
 */
import { topicPartition, type TopicPartition } from "../../../domain/ids.js"
import type { LogRecord, RecordHeader, StoredRecord } from "../../../domain/message/LogRecord.js"
import type { StorageError } from "../../../services/errors.js"
import type { MessageLog } from "../../../services/MessageLog.js"

export const PROGRESS_TP: TopicPartition = topicPartition("__mqtt_progress", 0)

export const SENT1 = 1
export const SENT2 = 2
export const RECEIVED = 3
export const DONE = 4
export const RELEASED = 5
export type ProgressOp = typeof SENT1 | typeof SENT2 | typeof RECEIVED | typeof DONE | typeof RELEASED

const OPS_HEADER = "ops"
const NO_VALUE = null

/** One session's open record: ops as flat [op, pid, tp, offset] quadruples until sealed. */
export class ProgressRecord implements LogRecord {
  readonly ops: Array<number | string> = []
  sealed = false
  readonly timestamp = Date.now()
  offset = -1
  constructor(readonly key: Uint8Array) {}

  get value(): Uint8Array | null {
    return NO_VALUE
  }

  /** Read once, when the log seals the batch: the ops are frozen from then on. */
  get headers(): ReadonlyArray<RecordHeader> {
    this.sealed = true
    return [{ key: OPS_HEADER, value: encodeOps(this.ops) }]
  }
}

/** What a session keeps of its journal: the open record and the last record written to. */
export interface ProgressCursor {
  progress: ProgressRecord | null
  /** Offset of the record holding the session's latest op; -1 before the first. */
  lastProgressOffset: number
  readonly progressKey: Uint8Array
}

export class ProgressJournal {
  constructor(readonly log: MessageLog["Type"]) {}

  /** Hot path: records one op for the session (see the module comment for the op set). */
  record(s: ProgressCursor, op: ProgressOp, packetId: number, tp: string, offset: number): void {
    let r = s.progress
    if (r === null || r.sealed) {
      r = new ProgressRecord(s.progressKey)
      r.offset = this.log.unsafeAppend(PROGRESS_TP, r)
      s.progress = r
    }
    r.ops.push(op, packetId, tp, offset)
    s.lastProgressOffset = r.offset
  }

  /** Runs `done` once every op recorded so far for the session is durable (at once if none). */
  whenDurable(s: ProgressCursor, done: (error?: StorageError) => void): void {
    if (s.lastProgressOffset < 0) done()
    else this.log.unsafeOnDurable(PROGRESS_TP, s.lastProgressOffset, done)
  }

  /** A checkpoint is being taken: later ops go to a new record, past the checkpoint's position. */
  seal(s: ProgressCursor): void {
    s.progress = null
  }

  /** The journal position a checkpoint taken now covers. */
  end(): number {
    return this.log.unsafeEndOffset(PROGRESS_TP)
  }
}

/** One decoded op. `offset` is -1 and `tp` "" for ops without a position. */
export interface DecodedOp {
  readonly op: ProgressOp
  readonly packetId: number
  readonly tp: string
  readonly offset: number
}

const hasPosition = (op: number): boolean => op === SENT1 || op === SENT2 || op === RELEASED

/** Layout per op: u8 op, u16 packet id, then for positioned ops u16 tp length, tp, f64 offset. */
export const encodeOps = (ops: ReadonlyArray<number | string>): Uint8Array => {
  let size = 0
  for (let i = 0; i < ops.length; i += 4) {
    size += 3
    if (hasPosition(ops[i] as number)) size += 2 + Buffer.byteLength(ops[i + 2] as string) + 8
  }
  const buf = Buffer.allocUnsafe(size)
  let at = 0
  for (let i = 0; i < ops.length; i += 4) {
    const op = ops[i] as number
    buf[at] = op
    buf.writeUInt16BE(ops[i + 1] as number, at + 1)
    at += 3
    if (hasPosition(op)) {
      const n = buf.write(ops[i + 2] as string, at + 2)
      buf.writeUInt16BE(n, at)
      at += 2 + n
      buf.writeDoubleBE(ops[i + 3] as number, at)
      at += 8
    }
  }
  return buf
}

/** The ops of one journal record; a string saying what is wrong when it does not decode. */
export const decodeOps = (record: StoredRecord): Array<DecodedOp> | string => {
  const header = record.headers.find((h) => h.key === OPS_HEADER)
  if (header === undefined || header.value === null) return "no ops header"
  const b = Buffer.from(header.value.buffer, header.value.byteOffset, header.value.byteLength)
  const out: Array<DecodedOp> = []
  let at = 0
  while (at < b.length) {
    if (at + 3 > b.length) return `truncated op at byte ${at}`
    const op = b[at]! as ProgressOp
    if (op < SENT1 || op > RELEASED) return `unknown op ${op} at byte ${at}`
    const packetId = b.readUInt16BE(at + 1)
    at += 3
    if (!hasPosition(op)) {
      out.push({ op, packetId, tp: "", offset: -1 })
      continue
    }
    if (at + 2 > b.length) return `truncated op at byte ${at}`
    const n = b.readUInt16BE(at)
    if (at + 2 + n + 8 > b.length) return `truncated op at byte ${at}`
    const tp = b.toString("utf8", at + 2, at + 2 + n)
    at += 2 + n
    out.push({ op, packetId, tp, offset: b.readDoubleBE(at) })
    at += 8
  }
  return out
}
