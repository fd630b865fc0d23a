/**
 * Opening a segment store and rebuilding each segment's state from its files: crash recovery
 * at open, and loading a closed segment's indexes on first use.
 *
 * - `openLogDir` / `openPartition` open every partition directory, sweep what interrupted work
 *   left (temp files, orphan indexes, half-deleted partitions), check closed segments and scan
 *   the active one, cutting torn tails.
 * - `scanSegment` walks every batch from position 0 (BatchCursor). With `verify` it checks each
 *   batch fully (CRC-32C via validateBatch, offsets moving forward) and stops at the first torn
 *   or corrupt one, reporting how many bytes are whole; the only place the store reads records'
 *   bytes, and only to check their CRC.
 * - `checkClosedSegment` is the cheap check for a closed segment: the last index entry and the
 *   closing time index entry must agree with a walk from that entry to the end of the file, and
 *   the last batch must pass its CRC. Anything else means "scan it fully".
 * - `loadIndexes` reads a closed segment's index files (validated), or rebuilds them from the
 *   batch headers; `writeIndexes` persists them when a segment closes (temp file, then rename,
 *   so an index file is whole or absent).
 *
 * Index files are never fsynced: whatever a power loss leaves in them is caught by the checks
 * above and rebuilt from the log, which is the only source of truth.
 */
import { MAGIC, validateBatch } from "../../domain/message/RecordBatch.js"
import type { TopicPartition } from "../../domain/ids.js"
import * as NodePath from "node:path"
import { BATCH_HEADER_SIZE, headerBatchSize } from "./BatchHeader.js"
import { BatchCursor } from "./BatchCursor.js"
import { readAt } from "./ChunkReader.js"
import { PartitionLog } from "./PartitionLog.js"
import { Segment, SegmentIndexer } from "./Segment.js"
import {
  baseOffsetOf,
  DELETED_SUFFIX,
  INDEX_SUFFIX,
  LOG_START_FILE,
  LOG_SUFFIX,
  segmentFileName,
  TIME_INDEX_SUFFIX,
  TMP_SUFFIX,
  topicPartitionOfDir
} from "./SegmentFiles.js"
import { type SegmentFile, type SegmentFs, unlinkQuiet } from "./SegmentFs.js"
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
  fh: SegmentFile,
  fileSize: number,
  baseOffset: number,
  indexIntervalBytes: number,
  verify: boolean
): Promise<ScanOutcome> => {
  const state = new SegmentIndexer(baseOffset)
  const cursor = new BatchCursor(fh, fileSize, 0, verify ? VERIFY_CHUNK : HEADER_CHUNK)
  // Bounded: every turn moves the cursor forward by a whole batch or returns.
  while (await cursor.next()) {
    const pos = cursor.position
    const base = cursor.baseOffset()
    if (base < state.nextOffset) {
      return { state, problem: `batch at position ${pos} has offset ${base}, expected at least ${state.nextOffset}` }
    }
    if (verify) {
      const invalid = validateBatch(await cursor.bytes())
      if (invalid !== undefined) return { state, problem: `batch at position ${pos}: ${invalid}` }
    }
    state.note(base, cursor.lastOffset(), cursor.maxTimestamp(), cursor.size, indexIntervalBytes)
  }
  return { state, problem: cursor.problem }
}

/** Bytes searched at once by findWholeBatchAfter. */
const SEARCH_CHUNK = 1024 * 1024

/**
 * The position of the first whole, CRC-valid batch starting after `from` (at any byte) and
 * ending by `end`, or undefined. This tells damage from a torn write: an append cut short by a
 * crash leaves nothing whole after the first bad byte, while a flipped or lost block in the
 * middle leaves whole batches behind it. Walks byte by byte, but only a magic byte in the right
 * place costs more than a comparison.
 */
export const findWholeBatchAfter = async (fh: SegmentFile, from: number, end: number): Promise<number | undefined> => {
  // Bounded: every turn moves `start` forward by at least one byte (the chunk minus a header).
  for (let start = from + 1; start + BATCH_HEADER_SIZE <= end; start += SEARCH_CHUNK) {
    const chunk = await readAt(fh, start, Math.min(SEARCH_CHUNK + BATCH_HEADER_SIZE, end - start))
    const last = Math.min(SEARCH_CHUNK, chunk.length - BATCH_HEADER_SIZE + 1)
    for (let i = 0; i < last; i++) {
      if (chunk[i + 16] !== MAGIC) continue
      const size = headerBatchSize(chunk, i)
      if (size < BATCH_HEADER_SIZE || size > end - start - i) continue
      const bytes = i + size <= chunk.length ? chunk.subarray(i, i + size) : await readAt(fh, start + i, size)
      if (validateBatch(bytes) === undefined) return start + i
    }
  }
  return undefined
}

/**
 * A segment damaged in a way recovery must not paper over: a bad batch in data that was fsynced
 * (below the partition's recovery point, RecoveryPoints.ts) or, with no recovery point, with
 * whole batches behind it. Opening stops with this (naming the file and what to run) rather
 * than cutting acknowledged data silently.
 */
export class SegmentDamage extends Error {
  constructor(readonly path: string, readonly position: number, readonly problem: string, evidence: string) {
    const dataDir = NodePath.dirname(NodePath.dirname(NodePath.dirname(path)))
    super(
      `${path} is damaged at position ${position} (${problem}) and ${evidence}, so this is not a torn ` +
        `write; nothing was changed. Run \`robustmq log verify --data-dir ${dataDir}\` for a report and ` +
        `\`robustmq log repair --data-dir ${dataDir}\` to cut the log back to its last whole batch`
    )
    this.name = "SegmentDamage"
  }
}

/**
 * Why the bad batch a scan stopped at is damage rather than a torn tail, or undefined when it is
 * a torn tail: `syncedTo` is the partition's recovery point (undefined without one).
 */
export const damageEvidence = async (
  fh: SegmentFile,
  outcome: ScanOutcome,
  fileSize: number,
  syncedTo: number | undefined
): Promise<string | undefined> => {
  if (outcome.problem === undefined) return undefined
  if (syncedTo !== undefined) {
    return outcome.state.nextOffset < syncedTo
      ? `offsets up to ${syncedTo - 1} had been fsynced (recovery point)`
      : undefined
  }
  const wholeAt = await findWholeBatchAfter(fh, outcome.state.size, fileSize)
  return wholeAt === undefined ? undefined : `holds whole batches after it (from position ${wholeAt})`
}

const refuseDamage = async (seg: Segment, outcome: ScanOutcome, fileSize: number, syncedTo: number | undefined) => {
  const evidence = await damageEvidence(seg.fh, outcome, fileSize, syncedTo)
  if (evidence !== undefined) throw new SegmentDamage(seg.logPath, outcome.state.size, outcome.problem!, evidence)
}

const readTail = async (
  fs: SegmentFs,
  path: string,
  entrySize: number
): Promise<{ count: number; last: Buffer } | string> => {
  let fh: SegmentFile
  try {
    fh = await fs.open(path, "r")
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
export const checkClosedSegment = async (
  fs: SegmentFs,
  seg: Segment,
  fileSize: number
): Promise<string | undefined> => {
  if (fileSize === 0) {
    seg.adopt(new SegmentIndexer(seg.baseOffset))
    return undefined
  }
  const offsets = await readTail(fs, seg.indexPath, OFFSET_ENTRY_SIZE)
  if (typeof offsets === "string") return offsets
  const times = await readTail(fs, seg.timeIndexPath, TIME_ENTRY_SIZE)
  if (typeof times === "string") return times
  if (times.count === 0) return `${seg.timeIndexPath} has no closing entry`
  const finalTimestamp = times.last.readInt32BE(0) * 4294967296 + times.last.readUInt32BE(4)
  const finalNext = seg.baseOffset + times.last.readUInt32BE(8)
  const startRel = offsets.count === 0 ? 0 : offsets.last.readUInt32BE(0)
  const start = offsets.count === 0 ? 0 : offsets.last.readUInt32BE(4)
  if (start >= fileSize) return `the last index entry points past the end of ${seg.logPath}`

  // Walk from the last indexed batch to the end: a chain of sane headers ending exactly there.
  const cursor = new BatchCursor(seg.fh, fileSize, start, HEADER_CHUNK)
  let lastPos = -1
  let next = seg.baseOffset + startRel
  let lastBase = -1
  let lastMaxTimestamp = Number.NEGATIVE_INFINITY
  let lastBytes: Buffer | undefined
  while (await cursor.next()) {
    const base = cursor.baseOffset()
    // An index entry names its batch's base offset exactly; elsewhere offsets only move forward.
    if (lastPos === -1 && offsets.count > 0 ? base !== next : base < next) {
      return `batch at position ${cursor.position} has unexpected offset ${base}`
    }
    lastBase = base
    next = cursor.lastOffset() + 1
    lastMaxTimestamp = cursor.maxTimestamp()
    lastPos = cursor.position
    if (cursor.position + cursor.size === fileSize) lastBytes = await cursor.bytes()
  }
  if (cursor.problem !== undefined) return cursor.problem
  if (next !== finalNext) return `the time index ends at offset ${finalNext}, the log at ${next}`
  if (lastMaxTimestamp > finalTimestamp) return "the time index's closing timestamp is below the last batch's"
  const invalid = lastBytes === undefined ? "no batch" : validateBatch(lastBytes)
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

const readWhole = (fs: SegmentFs, path: string): Promise<Buffer | undefined> => fs.readFile(path).catch(() => undefined)

/** Loads a closed segment's indexes from its files, or rebuilds them from its batch headers. */
export const loadIndexes = async (fs: SegmentFs, seg: Segment, indexIntervalBytes: number): Promise<void> => {
  const [offsetBytes, timeBytes] = await Promise.all([readWhole(fs, seg.indexPath), readWhole(fs, seg.timeIndexPath)])
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

const writeAtomically = async (fs: SegmentFs, path: string, bytes: Buffer): Promise<void> => {
  const tmp = path + TMP_SUFFIX
  await fs.writeFile(tmp, bytes)
  await fs.rename(tmp, path)
}

/** Persists a closed segment's indexes (it must have them in memory). */
export const writeIndexes = async (fs: SegmentFs, seg: Segment): Promise<void> => {
  await Promise.all([
    writeAtomically(fs, seg.indexPath, seg.index!.encode()),
    writeAtomically(fs, seg.timeIndexPath, seg.timeIndex!.encode())
  ])
}

/** The log-start offset persisted by truncateBefore (0 when missing or unreadable). */
export const readLogStart = async (fs: SegmentFs, dir: string): Promise<number> => {
  const text = (await fs.readFile(NodePath.join(dir, LOG_START_FILE)).catch(() => "")).toString().trim()
  const value = Number(text)
  return text !== "" && Number.isSafeInteger(value) && value >= 0 ? value : 0
}

/**
 * Opens one partition directory: sweeps leftovers of interrupted work (temp files, indexes
 * whose log is gone), checks every closed segment (cheaply, or fully when in doubt) and scans
 * the active one, cutting torn tails. Notes what it repaired in `repairs`; undefined when the
 * directory holds no segment.
 */
export const openPartition = async (
  fs: SegmentFs,
  tp: TopicPartition,
  dir: string,
  indexInterval: number,
  repairs: Array<string>,
  syncedTo: number | undefined
): Promise<PartitionLog | undefined> => {
  const names = (await fs.readdir(dir)).map((e) => e.name)
  const bases: Array<number> = []
  for (const name of names) {
    if (name.endsWith(TMP_SUFFIX)) await unlinkQuiet(fs, NodePath.join(dir, name))
    const base = baseOffsetOf(name, LOG_SUFFIX)
    if (base !== undefined) bases.push(base)
  }
  // Index files whose log is gone: a deletion cut short.
  const logs = new Set(bases)
  for (const name of names) {
    const base = baseOffsetOf(name, INDEX_SUFFIX) ?? baseOffsetOf(name, TIME_INDEX_SUFFIX)
    if (base !== undefined && !logs.has(base)) await unlinkQuiet(fs, NodePath.join(dir, name))
  }
  if (bases.length === 0) return undefined
  bases.sort((a, b) => a - b)

  const segments: Array<Segment> = []
  try {
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i]!
      const active = i === bases.length - 1
      const path = NodePath.join(dir, segmentFileName(base, LOG_SUFFIX))
      const seg = new Segment(dir, base, await fs.open(path, active ? "r+" : "r"))
      segments.push(seg)
      const { size } = await seg.fh.stat()
      if (!active) {
        const doubt = await checkClosedSegment(fs, seg, size)
        if (doubt === undefined) continue
        const outcome = await scanSegment(seg.fh, size, base, indexInterval, true)
        await refuseDamage(seg, outcome, size, syncedTo)
        const { problem, state } = outcome
        if (state.size < size) {
          await fs.truncate(path, state.size)
          repairs.push(`${path}: truncated from ${size} to ${state.size} bytes (${problem})`)
        }
        state.seal()
        seg.adopt(state)
        await writeIndexes(fs, seg).catch(() => undefined)
        repairs.push(`${path}: indexes rebuilt (${doubt})`)
      } else {
        const outcome = await scanSegment(seg.fh, size, base, indexInterval, true)
        await refuseDamage(seg, outcome, size, syncedTo)
        const { problem, state } = outcome
        if (state.size < size) {
          await seg.fh.truncate(state.size)
          repairs.push(`${path}: truncated from ${size} to ${state.size} bytes (${problem})`)
        }
        seg.adopt(state)
        // The active segment's indexes live in memory; files left by an earlier roll are stale.
        await unlinkQuiet(fs, seg.indexPath)
        await unlinkQuiet(fs, seg.timeIndexPath)
      }
    }
  } catch (e) {
    await Promise.all(segments.map((s) => s.close()))
    throw e
  }
  const p = new PartitionLog(tp, dir)
  p.segments = segments
  p.logStart = Math.max(await readLogStart(fs, dir), segments[0]!.baseOffset)
  const newest = p.newestBatchBase()
  if (newest >= 0 && p.logStart > newest) p.logStart = newest
  return p
}

/** Partitions opened at once. */
const OPEN_CONCURRENCY = 8

/** Runs `f` over `items` with at most `limit` at a time. */
const forEachLimited = async <T>(items: ReadonlyArray<T>, limit: number, f: (item: T) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    while (next < items.length) await f(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/**
 * Opens every partition under `logDir` (see openPartition), finishing partition deletions a
 * crash cut short. Adds each opened partition to `into` as soon as it is open, so a caller that
 * fails half-way can still close what was opened.
 */
export const openLogDir = async (
  fs: SegmentFs,
  logDir: string,
  indexInterval: number,
  into: Map<TopicPartition, PartitionLog>,
  repairs: Array<string>,
  points: ReadonlyMap<string, number> | undefined
): Promise<void> => {
  const found: Array<readonly [TopicPartition, string]> = []
  for (const entry of await fs.readdir(logDir)) {
    if (entry.isDirectory && entry.name.endsWith(DELETED_SUFFIX)) {
      // A deletion cut short by a crash: it was committed by the rename, finish it.
      await fs.rmTree(NodePath.join(logDir, entry.name))
      continue
    }
    const tp = entry.isDirectory ? topicPartitionOfDir(entry.name) : undefined
    if (tp !== undefined) found.push([tp, NodePath.join(logDir, entry.name)])
  }
  await forEachLimited(found, OPEN_CONCURRENCY, async ([tp, dir]) => {
    // With a recovery-point file, a partition missing from it has nothing known to be synced.
    const syncedTo = points === undefined ? undefined : (points.get(NodePath.basename(dir)) ?? 0)
    const p = await openPartition(fs, tp, dir, indexInterval, repairs, syncedTo)
    if (p !== undefined) into.set(tp, p)
  })
}
