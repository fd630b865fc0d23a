/**
 * Reads from a partition's segments: batch ranges for Fetch and MQTT session delivery, and the
 * offset for a timestamp (ListOffsets). Reads never take the store's write lock: they read each
 * segment up to its committed size as it was when the read began (never a write in flight),
 * hold a reference on the segments they touch (so retention's unlink closes a file only after
 * its last reader), and hand out batch bytes as views of large chunks, never a copy per batch.
 * A closed segment's indexes load on first use.
 */
import type { EncodedBatch } from "../../services/LogDriver.js"
import { BATCH_HEADER_SIZE } from "./BatchHeader.js"
import { BatchCursor } from "./BatchCursor.js"
import { type PartitionLog, segmentIndexFor } from "./PartitionLog.js"
import type { Segment } from "./Segment.js"
import type { SegmentFs } from "./SegmentFs.js"
import { loadIndexes } from "./SegmentRecovery.js"

/** Read-ahead bounds for readBatches and timestamp scans. */
const MIN_READ_CHUNK = 64 * 1024
const MAX_READ_CHUNK = 8 * 1024 * 1024

/** Retains the segments from `first` on, runs `f`, releases them. */
const withSegments = async <A>(segments: ReadonlyArray<Segment>, first: number, f: () => Promise<A>): Promise<A> => {
  for (let i = first; i < segments.length; i++) segments[i]!.retain()
  try {
    return await f()
  } finally {
    for (let i = first; i < segments.length; i++) segments[i]!.release()
  }
}

const corrupt = (seg: Segment, problem: string) =>
  new Error(`${seg.logPath} (size ${seg.size}): ${problem}; run \`robustmq log verify\``)

export interface SegmentReads {
  /** Whole batches from the one holding `fromOffset` on, at least one, up to `maxBytes`. */
  readonly readBatches: (p: PartitionLog, fromOffset: number, maxBytes: number) => Promise<Array<EncodedBatch>>
  /** The first visible batch whose maxTimestamp reaches `timestamp`: its base offset, or null. */
  readonly offsetForTimestamp: (p: PartitionLog, timestamp: number) => Promise<number | null>
}

export const make = (fs: SegmentFs, indexInterval: number): SegmentReads => {
  const ensureIndexes = (seg: Segment): Promise<void> | undefined =>
    seg.index !== null ? undefined : (seg.loading ??= loadIndexes(fs, seg, indexInterval))

  const readChunk = (remaining: number) =>
    Math.min(MAX_READ_CHUNK, Math.max(MIN_READ_CHUNK, remaining + indexInterval + BATCH_HEADER_SIZE))

  const readBatches = (p: PartitionLog, fromOffset: number, maxBytes: number): Promise<Array<EncodedBatch>> => {
    const out: Array<EncodedBatch> = []
    const from = Math.max(fromOffset, p.logStart)
    if (from >= p.nextOffset()) return Promise.resolve(out)
    const segments = p.segments
    const first = segmentIndexFor(segments, from)
    return withSegments(segments, first, async () => {
      let bytes = 0
      for (let i = first; i < segments.length; i++) {
        const seg = segments[i]!
        if (seg.nextOffset <= from || seg.size === 0) continue
        let pos = 0
        if (from > seg.baseOffset) {
          const loading = ensureIndexes(seg)
          if (loading !== undefined) await loading
          pos = seg.index!.lookup(from - seg.baseOffset)
        }
        const cursor = new BatchCursor(seg.fh, seg.size, pos, readChunk(maxBytes - bytes))
        // Bounded: every turn moves the cursor forward by a whole batch, or returns. Awaits only
        // when the cursor must read (once a chunk), not once a batch.
        for (;;) {
          const more = cursor.next()
          if (more === false || (more !== true && !(await more))) break
          const last = cursor.lastOffset()
          if (last < from) continue
          if (out.length > 0 && bytes + cursor.size > maxBytes) return out
          const base = cursor.baseOffset()
          const view = cursor.bytes()
          out.push({ tp: p.tp, baseOffset: base, lastOffset: last, bytes: view instanceof Promise ? await view : view })
          bytes += cursor.size
          cursor.ahead = readChunk(maxBytes - bytes)
        }
        if (cursor.problem !== undefined) throw corrupt(seg, cursor.problem)
      }
      return out
    })
  }

  /** In one segment: the first visible batch with maxTimestamp >= target, or null. */
  const findTimestamp = async (seg: Segment, logStart: number, target: number): Promise<number | null> => {
    const loading = ensureIndexes(seg)
    if (loading !== undefined) await loading
    let pos = seg.index!.lookup(seg.timeIndex!.startFor(target))
    if (logStart > seg.baseOffset) pos = Math.max(pos, seg.index!.lookup(logStart - seg.baseOffset))
    const cursor = new BatchCursor(seg.fh, seg.size, pos, MIN_READ_CHUNK)
    while (await cursor.next()) {
      if (cursor.maxTimestamp() >= target && cursor.lastOffset() >= logStart) return cursor.baseOffset()
    }
    if (cursor.problem !== undefined) throw corrupt(seg, cursor.problem)
    return null
  }

  const offsetForTimestamp = (p: PartitionLog, timestamp: number): Promise<number | null> => {
    const segments = p.segments
    const logStart = p.logStart
    return withSegments(segments, 0, async () => {
      for (const seg of segments) {
        if (seg.size === 0 || seg.nextOffset <= logStart || seg.maxTimestamp < timestamp) continue
        const found = await findTimestamp(seg, logStart, timestamp)
        if (found !== null) return found
      }
      return null
    })
  }

  return { readBatches, offsetForTimestamp }
}
