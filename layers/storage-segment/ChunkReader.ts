/**
 * Sequential reads through one segment file in large chunks on the libuv threadpool: callers
 * walk batch headers with `has`/`fill`, and take batch bytes as views of the chunk (never a copy
 * per batch). Each `fill` allocates a fresh chunk, so views handed out earlier stay valid. The
 * reader never reads past `end`, the committed size of the segment, so it never sees a write
 * that is still in flight.
 */
import type { SegmentFile } from "./SegmentFs.js"

const EMPTY = Buffer.alloc(0)

/** Reads `length` bytes at `position`; fewer only at end of file. */
export const readAt = async (fh: SegmentFile, position: number, length: number): Promise<Buffer> => {
  const buf = Buffer.allocUnsafe(length)
  let got = 0
  // Bounded: every turn reads at least one byte or stops.
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got === length ? buf : buf.subarray(0, got)
}

export class ChunkReader {
  /** The current chunk, and the file position of its first byte. */
  buf: Buffer = EMPTY
  start = 0

  constructor(readonly fh: SegmentFile, readonly end: number) {}

  /** Whether bytes [pos, pos + n) are in the current chunk. */
  has(pos: number, n: number): boolean {
    return pos >= this.start && pos + n <= this.start + this.buf.length
  }

  /**
   * Loads a chunk starting at `pos` holding at least `n` bytes (and up to `ahead`, never past
   * `end`). Fails when the file ends early: the segment is shorter than the store believes.
   */
  async fill(pos: number, n: number, ahead: number): Promise<void> {
    const length = Math.min(this.end - pos, Math.max(n, ahead))
    const buf = length >= n ? await readAt(this.fh, pos, length) : EMPTY
    if (buf.length < n) throw new Error(`segment file ends at ${pos + buf.length}, expected at least ${pos + n} bytes`)
    this.buf = buf
    this.start = pos
  }

  /** Index into `buf` of file position `pos` (which must be in the chunk). */
  at(pos: number): number {
    return pos - this.start
  }
}
