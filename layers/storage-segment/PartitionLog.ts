/**
 * One partition of the segment store in memory: its directory, its segments oldest first (the
 * last one is the active segment, the only one written), and its log-start offset (reads skip
 * batches wholly below it; truncateBefore raises it). `segments` is replaced, never mutated, so
 * a reader that took the array keeps a consistent list while a roll or a deletion goes on.
 */
import type { TopicPartition } from "../../domain/ids.js"
import type { Segment } from "./Segment.js"

export class PartitionLog {
  segments: ReadonlyArray<Segment> = []
  logStart = 0

  constructor(readonly tp: TopicPartition, readonly dir: string) {}

  active(): Segment | undefined {
    return this.segments[this.segments.length - 1]
  }

  /** The next offset to assign (0 for a partition without segments). */
  nextOffset(): number {
    return this.active()?.nextOffset ?? 0
  }

  /**
   * Index of the segment holding the newest batch (the last non-empty one; the active segment is
   * empty only after recovery cut a torn batch), or of the first segment when all are empty.
   * Retention may delete only the segments before it.
   */
  newestIndex(): number {
    let k = this.segments.length - 1
    while (k > 0 && this.segments[k]!.size === 0) k--
    return k
  }

  /** baseOffset of the newest batch, -1 when the partition holds none. */
  newestBatchBase(): number {
    const k = this.newestIndex()
    return k < 0 ? -1 : this.segments[k]!.lastBatchBase
  }
}

/** Index of the last segment whose baseOffset <= offset (0 when offset is below them all). */
export const segmentIndexFor = (segments: ReadonlyArray<Segment>, offset: number): number => {
  let lo = 0
  let hi = segments.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (segments[mid]!.baseOffset <= offset) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? 0 : lo - 1
}
