/**
 * One segment of a partition log in memory: what its file holds (committed size, offsets,
 * timestamps), its sparse indexes, and its open file handle.
 *
 * `SegmentIndexer` is the bookkeeping shared by the write path and recovery: `note` one batch
 * after another and it keeps the size, the next offset and the indexes up to date (an index entry
 * every `indexIntervalBytes`). It is plain synchronous arithmetic per batch, never per record.
 *
 * `Segment` adds the file: one FileHandle from creation (or open) to deletion (or shutdown), and a
 * reference count, so retention can unlink a segment that a reader is still reading: the handle
 * is closed once the last reader lets go (POSIX keeps an unlinked file readable while open).
 */
import * as NodePath from "node:path"
import type { SegmentFile } from "./SegmentFs.js"
import { INDEX_SUFFIX, LOG_SUFFIX, segmentFileName, TIME_INDEX_SUFFIX } from "./SegmentFiles.js"
import { OffsetIndex, TimeIndex } from "./SparseIndex.js"

/** maxTimestamp (int64 at byte 35 of the header) of a batch given as bytes. */
export const batchBytesMaxTimestamp = (bytes: Uint8Array): number =>
  ((bytes[35]! << 24) | (bytes[36]! << 16) | (bytes[37]! << 8) | bytes[38]!) * 4294967296 +
  (((bytes[39]! << 24) | (bytes[40]! << 16) | (bytes[41]! << 8) | bytes[42]!) >>> 0)

export class SegmentIndexer {
  index: OffsetIndex | null = new OffsetIndex()
  timeIndex: TimeIndex | null = new TimeIndex()
  /** Bytes of whole batches in the file. */
  size = 0
  /** lastOffset + 1 of the last batch; the base offset while empty. */
  nextOffset: number
  /** baseOffset of the last batch, -1 while empty. */
  lastBatchBase = -1
  /** Largest batch maxTimestamp, -Infinity while empty. */
  maxTimestamp = Number.NEGATIVE_INFINITY
  /** The first batch's maxTimestamp: the age of the segment for rolling, as Kafka's segment.ms. */
  firstBatchMaxTimestamp = Number.NEGATIVE_INFINITY
  bytesSinceIndexEntry = 0

  constructor(readonly baseOffset: number) {
    this.nextOffset = baseOffset
  }

  /** Records one batch appended at the current end of the file. */
  note(baseOffset: number, lastOffset: number, maxTimestamp: number, size: number, indexIntervalBytes: number): void {
    if (this.size > 0 && this.bytesSinceIndexEntry >= indexIntervalBytes) {
      const rel = baseOffset - this.baseOffset
      this.index!.append(rel, this.size)
      // Every batch before this one has maxTimestamp <= the segment's max so far.
      this.timeIndex!.maybeAppend(this.maxTimestamp, rel)
      this.bytesSinceIndexEntry = 0
    }
    if (this.size === 0) this.firstBatchMaxTimestamp = maxTimestamp
    this.size += size
    this.bytesSinceIndexEntry += size
    this.nextOffset = lastOffset + 1
    this.lastBatchBase = baseOffset
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp
  }

  /** The closing time index entry (max timestamp, next offset): written when the segment rolls. */
  seal(): void {
    if (this.size > 0) this.timeIndex!.append(this.maxTimestamp, this.nextOffset - this.baseOffset)
  }
}

export class Segment extends SegmentIndexer {
  readonly logPath: string
  readonly indexPath: string
  readonly timeIndexPath: string
  /** Set while the indexes of a closed segment are being loaded (they load on first use). */
  loading: Promise<void> | null = null
  refs = 0
  deleted = false
  /**
   * A failed write left bytes past `size` that could not be cut off yet (the truncate failed
   * too): they are cut before anything else is written to or after this segment.
   */
  uncut = false
  private closing: Promise<void> | null = null

  constructor(dir: string, baseOffset: number, readonly fh: SegmentFile) {
    super(baseOffset)
    this.logPath = NodePath.join(dir, segmentFileName(baseOffset, LOG_SUFFIX))
    this.indexPath = NodePath.join(dir, segmentFileName(baseOffset, INDEX_SUFFIX))
    this.timeIndexPath = NodePath.join(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX))
  }

  /** Takes the state a recovery scan or index load computed. */
  adopt(from: SegmentIndexer): void {
    this.index = from.index
    this.timeIndex = from.timeIndex
    this.size = from.size
    this.nextOffset = from.nextOffset
    this.lastBatchBase = from.lastBatchBase
    this.maxTimestamp = from.maxTimestamp
    this.firstBatchMaxTimestamp = from.firstBatchMaxTimestamp
    this.bytesSinceIndexEntry = from.bytesSinceIndexEntry
  }

  retain(): void {
    this.refs++
  }

  release(): void {
    if (--this.refs === 0 && this.deleted) void this.close()
  }

  /** Retention took it: the handle closes now, or when the last reader releases it. */
  markDeleted(): void {
    this.deleted = true
    if (this.refs === 0) void this.close()
  }

  close(): Promise<void> {
    return (this.closing ??= this.fh.close().catch(() => undefined))
  }
}
