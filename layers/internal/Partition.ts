/**
 * Plain mutable state of one topic-partition inside MessageLogLive: the next offset, the
 * durable end, and the batches appended but not yet written (the last one possibly still open
 * for appends). Hot path: every method is synchronous, allocation-light, and never touches
 * Effect; the flusher in MessageLogLive is the only code that takes batches out for writing.
 * Appending never reads a record's key or headers (they may be computed lazily at seal time).
 */
import type { TopicPartition } from "../../domain/ids.js"
import type { LogRecord, StoredRecord } from "../../domain/message/LogRecord.js"
import { decodeBatch, setBaseOffset } from "../../domain/message/RecordBatch.js"
import type { StorageError } from "../../services/errors.js"

export type DurableCallback = (error?: StorageError) => void

/** Seal a batch early past either cap; the flusher still writes everything in one call. */
export const MAX_BATCH_RECORDS = 10_000
export const MAX_BATCH_BYTES = 1024 * 1024

export const BATCH_OPEN = 0
export const BATCH_SEALED = 1
export const BATCH_WRITING = 2

/** Flat allowance per record for key, headers and framing in size estimates. */
export const RECORD_OVERHEAD = 64

/**
 * Hot path: rough encoded size of a record, for the batch cap and read budgets. Reads only
 * `value`: a LogRecord may compute key and headers lazily (the MQTT Message does, once, when
 * its batch is sealed), so the append path must not touch them.
 */
export const estimateSize = (r: LogRecord): number => {
  const v = r.value
  return RECORD_OVERHEAD + (v === null ? 0 : v.length)
}

/**
 * Records not yet written, with the callbacks waiting for them: either records appended one by
 * one (MQTT), or one batch that arrived already encoded (Kafka Produce), kept as its bytes.
 */
export class PendingBatch {
  readonly records: Array<LogRecord> = []
  /** Number of offsets the batch covers (records.length, or the encoded batch's count). */
  count = 0
  bytes = 0
  state = BATCH_OPEN
  callbacks: Array<DurableCallback> | null = null
  /** The encoded batch (baseOffset already patched), for batches appended whole. */
  encoded: Uint8Array | null = null
  /** `encoded` decoded on demand by readPending. */
  private decoded: ReadonlyArray<StoredRecord> | null = null
  constructor(readonly partition: Partition, readonly baseOffset: number) {}

  get lastOffset(): number {
    return this.baseOffset + this.count - 1
  }

  /** The records of an encoded batch (empty when it does not decode: it was validated on append). */
  decodedRecords(): ReadonlyArray<StoredRecord> {
    if (this.decoded === null) {
      const records = decodeBatch(this.encoded!)
      this.decoded = typeof records === "string" ? [] : records
    }
    return this.decoded
  }
}

export interface Watcher {
  readonly offset: number
  readonly wake: () => void
}

/** Offsets whose write failed: assigned, never readable, reported as failed to late callbacks. */
interface LostRange {
  readonly from: number
  readonly to: number
  readonly error: StorageError
}

export class Partition {
  /** Next offset to assign. */
  next: number
  /** Every offset below is written (or lost, see `lost`). */
  durableEnd: number
  /** Not-yet-written batches in offset order; only the last may be open. */
  readonly pending: Array<PendingBatch> = []
  /** Listed in MessageLogLive's dirty list, waiting for the flusher. */
  dirty = false
  lost: Array<LostRange> | null = null
  /** Callbacks waiting for `durableEnd` to pass an offset (Kafka Fetch long polls). */
  watchers: Array<Watcher> | null = null

  constructor(
    readonly tp: TopicPartition,
    end: number,
    /** Bytes appended and not yet settled, across all partitions (MessageLogLive's high-water mark). */
    private readonly unwritten: { bytes: number } = { bytes: 0 }
  ) {
    this.next = end
    this.durableEnd = end
  }

  /** Hot path: appends to the open batch (sealing it at a cap) and returns the offset. */
  append(record: LogRecord): number {
    const pending = this.pending
    let b = pending.length === 0 ? undefined : pending[pending.length - 1]!
    if (b === undefined || b.state !== BATCH_OPEN) {
      b = new PendingBatch(this, this.next)
      pending.push(b)
    }
    b.records.push(record)
    b.count++
    const size = estimateSize(record)
    b.bytes += size
    this.unwritten.bytes += size
    if (b.count >= MAX_BATCH_RECORDS || b.bytes >= MAX_BATCH_BYTES) b.state = BATCH_SEALED
    return this.next++
  }

  /**
   * Appends an already encoded batch of `count` records as a batch of its own (sealing the open
   * one before it), patching its baseOffset in place. Returns the base offset.
   */
  appendEncoded(encoded: Uint8Array, count: number): number {
    const pending = this.pending
    const last = pending.length === 0 ? undefined : pending[pending.length - 1]!
    if (last !== undefined && last.state === BATCH_OPEN) last.state = BATCH_SEALED
    const b = new PendingBatch(this, this.next)
    setBaseOffset(encoded, b.baseOffset)
    b.encoded = encoded
    b.count = count
    b.bytes = encoded.length
    this.unwritten.bytes += encoded.length
    b.state = BATCH_SEALED
    pending.push(b)
    this.next += count
    return b.baseOffset
  }

  /** Moves every unwritten batch to WRITING and pushes it onto `out`. */
  take(out: Array<PendingBatch>): void {
    const pending = this.pending
    for (let i = 0; i < pending.length; i++) {
      const b = pending[i]!
      if (b.state !== BATCH_WRITING) {
        b.state = BATCH_WRITING
        out.push(b)
      }
    }
    this.dirty = false
  }

  /**
   * After a write: drops `b` (always the oldest pending batch) and advances the durable end;
   * on failure records its offsets as lost. Returns its callbacks for the caller to run.
   */
  settle(b: PendingBatch, error: StorageError | undefined): Array<DurableCallback> | null {
    const i = this.pending.indexOf(b)
    if (i >= 0) this.pending.splice(i, 1)
    const last = b.lastOffset
    if (error !== undefined) (this.lost ??= []).push({ from: b.baseOffset, to: last, error })
    if (last + 1 > this.durableEnd) this.durableEnd = last + 1
    return b.callbacks
  }

  /**
   * Deletion: empties the partition of its unwritten batches (those being written too) and its
   * watchers, and hands back their callbacks. A write pass still holding one of its batches
   * then settles it with no callback to run and no watcher to wake.
   */
  abandon(): { readonly callbacks: Array<DurableCallback>; readonly watchers: Array<Watcher> } {
    const callbacks: Array<DurableCallback> = []
    for (let i = 0; i < this.pending.length; i++) {
      const b = this.pending[i]!
      if (b.callbacks !== null) for (let j = 0; j < b.callbacks.length; j++) callbacks.push(b.callbacks[j]!)
      b.callbacks = null
    }
    this.pending.length = 0
    const watchers = this.watchers ?? []
    this.watchers = null
    return { callbacks, watchers }
  }

  /** Runs `wake` once `durableEnd > offset`; the returned function cancels it. */
  watch(offset: number, wake: () => void): () => void {
    const w: Watcher = { offset, wake }
    ;(this.watchers ??= []).push(w)
    return () => {
      const list = this.watchers
      if (list === null) return
      const i = list.indexOf(w)
      if (i >= 0) list.splice(i, 1)
    }
  }

  /** Removes and returns the watchers whose offset is now durable, or null if none. */
  takeRipeWatchers(): Array<Watcher> | null {
    const list = this.watchers
    if (list === null) return null
    let ripe: Array<Watcher> | null = null
    let j = 0
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!
      if (w.offset < this.durableEnd) (ripe ??= []).push(w)
      else list[j++] = w
    }
    list.length = j
    if (j === 0) this.watchers = null
    return ripe
  }

  /** The error of the failed write that lost `offset`, if any. */
  lostError(offset: number): StorageError | undefined {
    const lost = this.lost
    if (lost === null) return undefined
    for (let i = 0; i < lost.length; i++) {
      const r = lost[i]!
      if (offset >= r.from && offset <= r.to) return r.error
    }
    return undefined
  }

  /**
   * Hot path: queues `done` on the pending batch holding `offset`. Returns false when no pending
   * batch holds it (already settled, or never assigned): the caller decides what to report.
   */
  onDurable(offset: number, done: DurableCallback): boolean {
    const pending = this.pending
    for (let i = pending.length - 1; i >= 0; i--) {
      const b = pending[i]!
      if (offset >= b.baseOffset) {
        if (offset >= b.baseOffset + b.count) return false
        ;(b.callbacks ??= []).push(done)
        return true
      }
    }
    return false
  }

  /** Lowest offset still held in memory (`next` when nothing is pending). */
  memoryStart(): number {
    return this.pending.length === 0 ? this.next : this.pending[0]!.baseOffset
  }

  /**
   * Copies pending records with offset >= `from` into `out` while the byte budget allows (at
   * least one record overall). Returns the bytes added.
   */
  readPending(from: number, budget: number, out: Array<StoredRecord>): number {
    let used = 0
    const pending = this.pending
    for (let i = 0; i < pending.length; i++) {
      const b = pending[i]!
      if (b.encoded !== null) {
        const records = b.decodedRecords()
        for (let j = 0; j < records.length; j++) {
          const r = records[j]!
          if (r.offset < from) continue
          const size = estimateSize(r)
          if (out.length > 0 && used + size > budget) return used
          out.push(r)
          used += size
        }
        continue
      }
      const records = b.records
      const start = from > b.baseOffset ? from - b.baseOffset : 0
      for (let j = start; j < records.length; j++) {
        const r = records[j]!
        const size = estimateSize(r)
        if (out.length > 0 && used + size > budget) return used
        out.push({ offset: b.baseOffset + j, key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp })
        used += size
      }
    }
    return used
  }
}
