/**
 * The one walk through a segment file: whole batches one after another from a position, header
 * by header, read in large chunks (ChunkReader). Recovery, index rebuilds, reads, timestamp
 * lookups and `robustmq log verify` all use it, so "what is a whole batch" is decided here
 * only: a header whose magic, length and offsets are sane (BatchHeader.headerProblem) and whose
 * bytes lie inside the committed end. The walk stops at the end, or at the first position that
 * does not start such a batch, and says why in `problem`. It never checks CRCs (callers that
 * need that take `bytes()` and run validateBatch) and never decodes records.
 */
import {
  BATCH_HEADER_SIZE,
  headerBaseOffset,
  headerBatchSize,
  headerLastOffsetDelta,
  headerMaxTimestamp,
  headerProblem
} from "./BatchHeader.js"
import { ChunkReader } from "./ChunkReader.js"
import type { SegmentFile } from "./SegmentFs.js"

export class BatchCursor {
  /** File position of the current batch; once `next` returned false, where the walk stopped. */
  position: number
  /** Bytes of the current batch. */
  size = 0
  /** Why the walk stopped before `end`, if it did. */
  problem: string | undefined = undefined
  private readonly reader: ChunkReader
  private following: number

  /**
   * A walk over the first `end` bytes of `fh` (the committed size: never a write in flight) from
   * `from`, which must be the start of a batch. `ahead`: bytes to read at once; callers may
   * change it between batches.
   */
  constructor(fh: SegmentFile, readonly end: number, from: number, public ahead: number) {
    this.reader = new ChunkReader(fh, end)
    this.position = from
    this.following = from
  }

  /**
   * Moves to the next whole batch: false at the end or at a position that starts none. A plain
   * boolean while the header is in the chunk already; a promise only when it must be read.
   */
  next(): boolean | Promise<boolean> {
    const pos = this.following
    this.position = pos
    if (pos >= this.end) return false
    if (this.end - pos < BATCH_HEADER_SIZE) {
      this.problem = `torn batch header at position ${pos}`
      return false
    }
    if (this.reader.has(pos, BATCH_HEADER_SIZE)) return this.step(pos)
    return this.reader.fill(pos, BATCH_HEADER_SIZE, this.ahead).then(() => this.step(pos))
  }

  private step(pos: number): boolean {
    const reader = this.reader
    const at = reader.at(pos)
    const bad = headerProblem(reader.buf, at, this.end - pos)
    if (bad !== undefined) {
      this.problem = `batch at position ${pos}: ${bad}`
      return false
    }
    this.size = headerBatchSize(reader.buf, at)
    this.following = pos + this.size
    return true
  }

  baseOffset(): number {
    return headerBaseOffset(this.reader.buf, this.reader.at(this.position))
  }

  lastOffset(): number {
    const at = this.reader.at(this.position)
    return headerBaseOffset(this.reader.buf, at) + headerLastOffsetDelta(this.reader.buf, at)
  }

  maxTimestamp(): number {
    return headerMaxTimestamp(this.reader.buf, this.reader.at(this.position))
  }

  /**
   * The whole current batch: a view of the chunk (valid after later reads too), never a copy;
   * a promise only when the chunk does not hold all of it.
   */
  bytes(): Buffer | Promise<Buffer> {
    const reader = this.reader
    if (reader.has(this.position, this.size)) return this.view()
    return reader.fill(this.position, this.size, this.ahead).then(() => this.view())
  }

  private view(): Buffer {
    const at = this.reader.at(this.position)
    return this.reader.buf.subarray(at, at + this.size)
  }
}
