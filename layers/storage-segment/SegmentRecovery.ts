/**
 * Rebuilding a segment's state from its files, for crash recovery at open and for loading the
 * indexes of a closed segment on first use:
 *
 * - `scanSegment` walks every batch from position 0. With `verify` it checks each batch fully
 *   (magic, lengths, CRC-32C via validateBatch, offsets moving forward) and stops at the first
 *   torn or corrupt one, reporting how many bytes are whole; this is the only place the store
 *   reads records' bytes, and only to check their CRC.
 * - `checkClosedSegment` is the cheap check for a closed segment: the last index entry and the
 *   closing time index entry must agree with a walk from that entry to the end of the file, and
 *   the last batch must pass its CRC. Anything else means "scan it fully".
 * - `loadIndexes` reads a closed segment's index files (validated), or rebuilds them from the
 *   batch headers when they are missing or wrong.
 * - `writeIndexes` persists a segment's indexes when it closes (temp file, then rename, so an
 *   index file is whole or absent).
 *
 * Index files are never fsynced: whatever a power loss leaves in them is caught by the checks
 * above and rebuilt from the log, which is the only source of truth.
 */
import { validateBatch } from "../../domain/message/RecordBatch.js"
import * as Fs from "node:fs/promises"
import type { FileHandle } from "node:fs/promises"
import {
  BATCH_HEADER_SIZE,
  headerBaseOffset,
  headerBatchSize,
  headerLastOffsetDelta,
  headerMaxTimestamp,
  headerProblem
} from "./BatchHeader.js"
import { ChunkReader, readAt } from "./ChunkReader.js"
import { type Segment, SegmentIndexer } from "./Segment.js"
import { TMP_SUFFIX } from "./SegmentFiles.js"
import { OFFSET_ENTRY_SIZE, OffsetIndex, TIME_ENTRY_SIZE, TimeIndex } from "./SparseIndex.js"

/** Read-ahead while verifying (whole batches are read anyway). */
const VERIFY_CHUNK = 8 * 1024 * 1024
/** Read-ahead while walking headers only. */
const HEADER_CHUNK = 64 * 1024

export interface ScanOutcome {
  /** State of the whole batches found; `state.size` is where the valid part of the file ends. */
  readonly state: SegmentIndexer
  /** Why the walk stopped before the end of the file, if it did. */
  readonly problem: string | undefined
}

/** Walks the batches of a segment file of `fileSize` bytes from position 0 (see module comment). */
export const scanSegment = async (
  fh: FileHandle,
  fileSize: number,
  baseOffset: number,
  indexIntervalBytes: number,
  verify: boolean
): Promise<ScanOutcome> => {
  const state = new SegmentIndexer(baseOffset)
  const reader = new ChunkReader(fh, fileSize)
  const ahead = verify ? VERIFY_CHUNK : HEADER_CHUNK
  let pos = 0
  // Bounded: every turn advances pos by a whole batch (at least a header) or returns.
  while (pos < fileSize) {
    if (fileSize - pos < BATCH_HEADER_SIZE) return { state, problem: `torn batch header at position ${pos}` }
    if (!reader.has(pos, BATCH_HEADER_SIZE)) await reader.fill(pos, BATCH_HEADER_SIZE, ahead)
    let at = reader.at(pos)
    const bad = headerProblem(reader.buf, at, fileSize - pos)
    if (bad !== undefined) return { state, problem: `batch at position ${pos}: ${bad}` }
    const size = headerBatchSize(reader.buf, at)
    const base = headerBaseOffset(reader.buf, at)
    if (base < state.nextOffset) {
      return { state, problem: `batch at position ${pos} has offset ${base}, expected at least ${state.nextOffset}` }
    }
    if (verify) {
      if (!reader.has(pos, size)) await reader.fill(pos, size, ahead)
      at = reader.at(pos)
      const invalid = validateBatch(reader.buf.subarray(at, at + size))
      if (invalid !== undefined) return { state, problem: `batch at position ${pos}: ${invalid}` }
    }
    const last = base + headerLastOffsetDelta(reader.buf, at)
    state.note(base, last, headerMaxTimestamp(reader.buf, at), size, indexIntervalBytes)
    pos += size
  }
  return { state, problem: undefined }
}

const readTail = async (path: string, entrySize: number): Promise<{ count: number; last: Buffer } | string> => {
  let fh: FileHandle
  try {
    fh = await Fs.open(path, "r")
  } catch {
    return `cannot open ${path}`
  }
  try {
    const { size } = await fh.stat()
    if (size % entrySize !== 0) return `${path} has a partial entry`
    const count = size / entrySize
    return { count, last: count === 0 ? Buffer.alloc(0) : await readAt(fh, size - entrySize, entrySize) }
  } finally {
    await fh.close()
  }
}

/**
 * Trusts a closed segment of `fileSize` bytes after a cheap check (module comment); on success
 * fills in its size, offsets and max timestamp (indexes load later) and returns undefined, else
 * returns what is wrong.
 */
export const checkClosedSegment = async (seg: Segment, fileSize: number): Promise<string | undefined> => {
  if (fileSize === 0) {
    seg.adopt(new SegmentIndexer(seg.baseOffset))
    return undefined
  }
  const offsets = await readTail(seg.indexPath, OFFSET_ENTRY_SIZE)
  if (typeof offsets === "string") return offsets
  const times = await readTail(seg.timeIndexPath, TIME_ENTRY_SIZE)
  if (typeof times === "string") return times
  if (times.count === 0) return `${seg.timeIndexPath} has no closing entry`
  const finalTimestamp = times.last.readInt32BE(0) * 4294967296 + times.last.readUInt32BE(4)
  const finalNext = seg.baseOffset + times.last.readUInt32BE(8)
  const startRel = offsets.count === 0 ? 0 : offsets.last.readUInt32BE(0)
  const start = offsets.count === 0 ? 0 : offsets.last.readUInt32BE(4)
  if (start >= fileSize) return `the last index entry points past the end of ${seg.logPath}`

  // Walk from the last indexed batch to the end: a chain of sane headers ending exactly there.
  const reader = new ChunkReader(seg.fh, fileSize)
  let pos = start
  let lastPos = -1
  let next = seg.baseOffset + startRel
  let lastBase = -1
  let lastMaxTimestamp = Number.NEGATIVE_INFINITY
  while (pos < fileSize) {
    if (fileSize - pos < BATCH_HEADER_SIZE) return `torn batch header at position ${pos}`
    if (!reader.has(pos, BATCH_HEADER_SIZE)) await reader.fill(pos, BATCH_HEADER_SIZE, HEADER_CHUNK)
    const at = reader.at(pos)
    const bad = headerProblem(reader.buf, at, fileSize - pos)
    if (bad !== undefined) return `batch at position ${pos}: ${bad}`
    const base = headerBaseOffset(reader.buf, at)
    // An index entry names its batch's base offset exactly; elsewhere offsets only move forward.
    if (lastPos === -1 && offsets.count > 0 ? base !== next : base < next) {
      return `batch at position ${pos} has unexpected offset ${base}`
    }
    lastBase = base
    next = base + headerLastOffsetDelta(reader.buf, at) + 1
    lastMaxTimestamp = headerMaxTimestamp(reader.buf, at)
    lastPos = pos
    pos += headerBatchSize(reader.buf, at)
  }
  if (next !== finalNext) return `the time index ends at offset ${finalNext}, the log at ${next}`
  if (lastMaxTimestamp > finalTimestamp) return "the time index's closing timestamp is below the last batch's"
  const lastSize = fileSize - lastPos
  if (!reader.has(lastPos, lastSize)) await reader.fill(lastPos, lastSize, lastSize)
  const invalid = validateBatch(reader.buf.subarray(reader.at(lastPos), reader.at(lastPos) + lastSize))
  if (invalid !== undefined) return `last batch: ${invalid}`

  const state = new SegmentIndexer(seg.baseOffset)
  state.index = null
  state.timeIndex = null
  state.size = fileSize
  state.nextOffset = next
  state.lastBatchBase = lastBase
  state.maxTimestamp = finalTimestamp
  seg.adopt(state)
  return undefined
}

const readWhole = (path: string): Promise<Buffer | undefined> => Fs.readFile(path).catch(() => undefined)

/** Loads a closed segment's indexes from its files, or rebuilds them from its batch headers. */
export const loadIndexes = async (seg: Segment, indexIntervalBytes: number): Promise<void> => {
  const [offsetBytes, timeBytes] = await Promise.all([readWhole(seg.indexPath), readWhole(seg.timeIndexPath)])
  if (offsetBytes !== undefined && timeBytes !== undefined) {
    const index = OffsetIndex.decode(offsetBytes, seg.size)
    const timeIndex = TimeIndex.decode(timeBytes)
    if (
      typeof index !== "string" && typeof timeIndex !== "string" &&
      (seg.size === 0 || timeIndex.lastRel() === seg.nextOffset - seg.baseOffset)
    ) {
      seg.index = index
      seg.timeIndex = timeIndex
      return
    }
  }
  const { state } = await scanSegment(seg.fh, seg.size, seg.baseOffset, indexIntervalBytes, false)
  state.seal()
  seg.index = state.index
  seg.timeIndex = state.timeIndex
}

const writeAtomically = async (path: string, bytes: Buffer): Promise<void> => {
  const tmp = path + TMP_SUFFIX
  await Fs.writeFile(tmp, bytes)
  await Fs.rename(tmp, path)
}

/** Persists a closed segment's indexes (it must have them in memory). */
export const writeIndexes = async (seg: Segment): Promise<void> => {
  await Promise.all([
    writeAtomically(seg.indexPath, seg.index!.encode()),
    writeAtomically(seg.timeIndexPath, seg.timeIndex!.encode())
  ])
}
