/**
 * The two sparse indexes of one segment, in memory and in their file format (big-endian, fixed
 * size entries, as Kafka's):
 *
 * - OffsetIndex (`.index`, 8 bytes an entry): relative offset (uint32, batch baseOffset minus the
 *   segment's base) -> file position (uint32) of that batch. One entry every
 *   `indexIntervalBytes` of log; the first batch (position 0) needs none.
 * - TimeIndex (`.timeindex`, 12 bytes an entry): timestamp (int64) -> relative offset (uint32).
 *   An entry (T, r) means "every batch of the segment before relative offset r has
 *   maxTimestamp <= T"; T only grows. A closed segment's last entry is (its max timestamp, its
 *   next offset - base), so opening a segment learns both from the last 12 bytes.
 *
 * Lookups are binary searches over typed arrays. Decoding validates the ordering, so a torn or
 * stale index file is detected and the caller rebuilds it from the log. Pure: no I/O.
 */

const INITIAL_CAPACITY = 64

export const OFFSET_ENTRY_SIZE = 8
export const TIME_ENTRY_SIZE = 12

const TWO_32 = 4294967296

const grow = <T extends Uint32Array | Float64Array>(array: T, make: (n: number) => T): T => {
  const bigger = make(array.length * 2)
  bigger.set(array)
  return bigger
}

export class OffsetIndex {
  rel: Uint32Array
  pos: Uint32Array
  length = 0

  constructor(capacity = INITIAL_CAPACITY) {
    this.rel = new Uint32Array(Math.max(1, capacity))
    this.pos = new Uint32Array(Math.max(1, capacity))
  }

  append(rel: number, pos: number): void {
    if (this.length === this.rel.length) {
      this.rel = grow(this.rel, (n) => new Uint32Array(n))
      this.pos = grow(this.pos, (n) => new Uint32Array(n))
    }
    this.rel[this.length] = rel
    this.pos[this.length] = pos
    this.length++
  }

  /** File position of the last indexed batch starting at or before relative offset `rel` (else 0). */
  lookup(rel: number): number {
    let lo = 0
    let hi = this.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.rel[mid]! <= rel) lo = mid + 1
      else hi = mid
    }
    return lo === 0 ? 0 : this.pos[lo - 1]!
  }

  /** Position of the last entry (0 when empty). */
  lastPosition(): number {
    return this.length === 0 ? 0 : this.pos[this.length - 1]!
  }

  encode(): Buffer {
    const buf = Buffer.allocUnsafe(this.length * OFFSET_ENTRY_SIZE)
    for (let i = 0; i < this.length; i++) {
      buf.writeUInt32BE(this.rel[i]!, i * OFFSET_ENTRY_SIZE)
      buf.writeUInt32BE(this.pos[i]!, i * OFFSET_ENTRY_SIZE + 4)
    }
    return buf
  }

  /**
   * Parses an `.index` file of a segment whose log holds `logSize` bytes, or says why it cannot
   * be trusted: a partial entry, offsets or positions not strictly increasing, a position at or
   * past the end of the log.
   */
  static decode(buf: Buffer, logSize: number): OffsetIndex | string {
    if (buf.length % OFFSET_ENTRY_SIZE !== 0) return `index size ${buf.length} is not a multiple of ${OFFSET_ENTRY_SIZE}`
    const n = buf.length / OFFSET_ENTRY_SIZE
    const index = new OffsetIndex(n)
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32BE(i * OFFSET_ENTRY_SIZE)
      const pos = buf.readUInt32BE(i * OFFSET_ENTRY_SIZE + 4)
      if (pos === 0 || pos >= logSize) return `index entry ${i} points at position ${pos} of a ${logSize}-byte log`
      if (i > 0 && (rel <= index.rel[i - 1]! || pos <= index.pos[i - 1]!)) return `index entry ${i} is out of order`
      index.append(rel, pos)
    }
    return index
  }
}

export class TimeIndex {
  ts: Float64Array
  rel: Uint32Array
  length = 0

  constructor(capacity = INITIAL_CAPACITY) {
    this.ts = new Float64Array(Math.max(1, capacity))
    this.rel = new Uint32Array(Math.max(1, capacity))
  }

  lastTimestamp(): number {
    return this.length === 0 ? Number.NEGATIVE_INFINITY : this.ts[this.length - 1]!
  }

  lastRel(): number {
    return this.length === 0 ? 0 : this.rel[this.length - 1]!
  }

  /** Adds (ts, rel) when ts is larger than the last entry's (the index only records growth). */
  maybeAppend(ts: number, rel: number): void {
    if (ts > this.lastTimestamp()) this.append(ts, rel)
  }

  /** Adds (ts, rel) unconditionally: the closing entry of a segment. */
  append(ts: number, rel: number): void {
    if (this.length === this.ts.length) {
      this.ts = grow(this.ts, (n) => new Float64Array(n))
      this.rel = grow(this.rel, (n) => new Uint32Array(n))
    }
    this.ts[this.length] = ts
    this.rel[this.length] = rel
    this.length++
  }

  /**
   * Where a search for the first batch with maxTimestamp >= `target` may start: the relative
   * offset of the last entry whose timestamp is below `target` (every batch before it is too
   * old), else 0.
   */
  startFor(target: number): number {
    let lo = 0
    let hi = this.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.ts[mid]! < target) lo = mid + 1
      else hi = mid
    }
    return lo === 0 ? 0 : this.rel[lo - 1]!
  }

  encode(): Buffer {
    const buf = Buffer.allocUnsafe(this.length * TIME_ENTRY_SIZE)
    for (let i = 0; i < this.length; i++) {
      const ts = this.ts[i]!
      const hi = Math.floor(ts / TWO_32)
      buf.writeInt32BE(hi, i * TIME_ENTRY_SIZE)
      buf.writeUInt32BE(ts - hi * TWO_32, i * TIME_ENTRY_SIZE + 4)
      buf.writeUInt32BE(this.rel[i]!, i * TIME_ENTRY_SIZE + 8)
    }
    return buf
  }

  /** Parses a `.timeindex` file, or says why it cannot be trusted (partial entry, out of order). */
  static decode(buf: Buffer): TimeIndex | string {
    if (buf.length % TIME_ENTRY_SIZE !== 0) return `time index size ${buf.length} is not a multiple of ${TIME_ENTRY_SIZE}`
    const n = buf.length / TIME_ENTRY_SIZE
    const index = new TimeIndex(n)
    for (let i = 0; i < n; i++) {
      const ts = buf.readInt32BE(i * TIME_ENTRY_SIZE) * TWO_32 + buf.readUInt32BE(i * TIME_ENTRY_SIZE + 4)
      const rel = buf.readUInt32BE(i * TIME_ENTRY_SIZE + 8)
      if (i > 0 && (ts < index.ts[i - 1]! || rel < index.rel[i - 1]!)) return `time index entry ${i} is out of order`
      index.append(ts, rel)
    }
    return index
  }
}
