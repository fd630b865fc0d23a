/**
 * `robustmq log verify` and `robustmq log repair` for segment logs, run with the broker stopped.
 * Verify reads every batch of every segment (CRC-32C included) and checks every index file
 * against the batches it points at; it changes nothing. Repair cuts each damaged segment back to
 * its last whole valid batch (what follows the damage in that segment is lost; later segments
 * are kept, leaving a gap in the offsets, as recovery does for a torn closed segment) and
 * rebuilds every closed segment's indexes from the log. Both report one line per file.
 */
import { validateBatch } from "../../domain/message/RecordBatch.js"
import type { FileReport } from "../LogCheck.js"
import * as NodePath from "node:path"
import { BatchCursor } from "./BatchCursor.js"
import { Segment } from "./Segment.js"
import { baseOffsetOf, INDEX_SUFFIX, LOG_SUFFIX, segmentFileName, TIME_INDEX_SUFFIX, topicPartitionOfDir } from "./SegmentFiles.js"
import { nodeFs, type SegmentFs, unlinkQuiet } from "./SegmentFs.js"
import { readRecoveryPoints, writeRecoveryPoints } from "./RecoveryPoints.js"
import { findWholeBatchAfter, scanSegment, writeIndexes } from "./SegmentRecovery.js"
import { OffsetIndex, TimeIndex } from "./SparseIndex.js"

/** Verify reads whole batches anyway: large chunks. */
const CHUNK = 8 * 1024 * 1024

interface LogFacts {
  readonly report: FileReport
  /** Where the whole valid batches end. */
  readonly validSize: number
  readonly fileSize: number
  readonly nextOffset: number
  /** Position -> base offset of every whole valid batch (for checking the offset index). */
  readonly starts: Map<number, number>
  readonly maxTimestamp: number
}

const checkLog = async (
  fs: SegmentFs,
  path: string,
  base: number,
  expectedFrom: number,
  syncedTo: number | undefined
): Promise<LogFacts> => {
  const fh = await fs.open(path, "r")
  try {
    const { size } = await fh.stat()
    const cursor = new BatchCursor(fh, size, 0, CHUNK)
    const starts = new Map<number, number>()
    let next = base
    let count = 0
    let maxTimestamp = Number.NEGATIVE_INFINITY
    let problem: string | undefined
    // Bounded: every turn moves the cursor forward by a whole batch, or stops.
    while (await cursor.next()) {
      const at = cursor.baseOffset()
      if (at < Math.max(next, expectedFrom)) {
        problem = `batch at position ${cursor.position} has offset ${at}, expected at least ${Math.max(next, expectedFrom)}`
        break
      }
      const invalid = validateBatch(await cursor.bytes())
      if (invalid !== undefined) {
        problem = `batch at position ${cursor.position}: ${invalid}`
        break
      }
      starts.set(cursor.position, at)
      next = cursor.lastOffset() + 1
      maxTimestamp = Math.max(maxTimestamp, cursor.maxTimestamp())
      count++
    }
    problem ??= cursor.problem
    const validSize = cursor.position
    const offsets = count === 0 ? "no batches" : `${count} batches, offsets ${starts.get(0) ?? base}-${next - 1}`
    let report: FileReport
    if (problem === undefined) {
      report = { path, status: "ok", detail: `${offsets}, ${size} bytes` }
    } else {
      // As recovery decides (SegmentRecovery.damageEvidence): past the recovery point a bad
      // batch is a torn tail; below it, or with whole batches after it when there is none, damage.
      const wholeAt = syncedTo === undefined ? await findWholeBatchAfter(fh, validSize, size) : undefined
      const torn = syncedTo === undefined ? wholeAt === undefined : next >= syncedTo
      const evidence = wholeAt !== undefined
        ? `whole batches follow from position ${wholeAt}`
        : `offsets up to ${(syncedTo ?? 0) - 1} had been fsynced (recovery point)`
      report = torn
        ? {
          path,
          status: "torn",
          detail: `torn tail at position ${validSize} of ${size} (${problem}); the broker cuts it at start. Before it: ${offsets}`
        }
        : {
          path,
          status: "bad",
          detail: `damaged at position ${validSize} of ${size}: ${problem}; ${evidence}. Before it: ${offsets}`
        }
    }
    return { report, validSize, fileSize: size, nextOffset: next, starts, maxTimestamp }
  } finally {
    await fh.close()
  }
}

const checkIndexes = async (fs: SegmentFs, logPath: string, base: number, facts: LogFacts): Promise<Array<FileReport>> => {
  const out: Array<FileReport> = []
  const indexPath = logPath.slice(0, -LOG_SUFFIX.length) + INDEX_SUFFIX
  const timePath = logPath.slice(0, -LOG_SUFFIX.length) + TIME_INDEX_SUFFIX
  const [indexBytes, timeBytes] = await Promise.all([
    fs.readFile(indexPath).catch(() => undefined),
    fs.readFile(timePath).catch(() => undefined)
  ])
  if (indexBytes === undefined) {
    out.push({ path: indexPath, status: "note", detail: "missing (rebuilt from the log at start)" })
  } else {
    const index = OffsetIndex.decode(indexBytes, facts.fileSize)
    let problem = typeof index === "string" ? index : undefined
    if (typeof index !== "string") {
      for (let i = 0; i < index.length && problem === undefined; i++) {
        const at = facts.starts.get(index.pos[i]!)
        if (at !== base + index.rel[i]!) {
          problem = `entry ${i} (offset ${base + index.rel[i]!} at position ${index.pos[i]}) ` +
            (at === undefined ? "does not point at the start of a whole valid batch" : `points at the batch of offset ${at}`)
        }
      }
    }
    out.push({ path: indexPath, status: problem === undefined ? "ok" : "bad", detail: problem ?? `${indexBytes.length / 8} entries` })
  }
  if (timeBytes === undefined) {
    out.push({ path: timePath, status: "note", detail: "missing (rebuilt from the log at start)" })
  } else {
    const time = TimeIndex.decode(timeBytes)
    let problem = typeof time === "string" ? time : undefined
    if (typeof time !== "string" && facts.starts.size > 0) {
      if (time.lastRel() !== facts.nextOffset - base) {
        problem = `closing entry says the segment ends at offset ${base + time.lastRel()}, the log at ${facts.nextOffset}`
      } else if (time.lastTimestamp() < facts.maxTimestamp) {
        problem = `closing timestamp ${time.lastTimestamp()} is below the log's ${facts.maxTimestamp}`
      }
    }
    out.push({ path: timePath, status: problem === undefined ? "ok" : "bad", detail: problem ?? `${timeBytes.length / 12} entries` })
  }
  return out
}

/** The partition directories under `logDir`, sorted, with their segment base offsets sorted. */
const partitions = async (fs: SegmentFs, logDir: string) => {
  const out: Array<{ dir: string; bases: Array<number> }> = []
  const entries = await fs.readdir(logDir).catch(() => [])
  for (const e of [...entries].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isDirectory || topicPartitionOfDir(e.name) === undefined) continue
    const dir = NodePath.join(logDir, e.name)
    const bases: Array<number> = []
    for (const f of await fs.readdir(dir)) {
      const base = baseOffsetOf(f.name, LOG_SUFFIX)
      if (base !== undefined) bases.push(base)
    }
    out.push({ dir, bases: bases.sort((a, b) => a - b) })
  }
  return out
}

/** Checks every segment and index file under `logDir` (`<dataDir>/log`); changes nothing. */
export const verify = async (logDir: string, fs: SegmentFs = nodeFs): Promise<Array<FileReport>> => {
  const reports: Array<FileReport> = []
  const points = await readRecoveryPoints(fs, logDir)
  for (const { dir, bases } of await partitions(fs, logDir)) {
    const syncedTo = points === undefined ? undefined : (points.get(NodePath.basename(dir)) ?? 0)
    let expectedFrom = 0
    for (let i = 0; i < bases.length; i++) {
      const path = NodePath.join(dir, segmentFileName(bases[i]!, LOG_SUFFIX))
      const facts = await checkLog(fs, path, bases[i]!, expectedFrom, syncedTo)
      reports.push(facts.report)
      expectedFrom = facts.nextOffset
      // The active segment's indexes live in memory while the broker runs; a damaged log's
      // indexes disagree with it anyway (repair rebuilds them).
      if (i < bases.length - 1 && facts.report.status === "ok") reports.push(...(await checkIndexes(fs, path, bases[i]!, facts)))
    }
  }
  return reports
}

/**
 * Cuts every damaged or torn segment under `logDir` back to its last whole valid batch and
 * rebuilds the indexes of every closed segment from the log; returns what it did, per file.
 */
export const repair = async (logDir: string, fs: SegmentFs = nodeFs): Promise<Array<FileReport>> => {
  const reports: Array<FileReport> = []
  const points = await readRecoveryPoints(fs, logDir)
  const repaired = new Map(points)
  for (const { dir, bases } of await partitions(fs, logDir)) {
    const syncedTo = points === undefined ? undefined : (points.get(NodePath.basename(dir)) ?? 0)
    let expectedFrom = 0
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i]!
      const path = NodePath.join(dir, segmentFileName(base, LOG_SUFFIX))
      const facts = await checkLog(fs, path, base, expectedFrom, syncedTo)
      expectedFrom = facts.nextOffset
      if (facts.validSize < facts.fileSize) {
        await fs.truncate(path, facts.validSize)
        // The cut data is gone: the point must not claim it (or later writes look damaged).
        const point = repaired.get(NodePath.basename(dir))
        if (point !== undefined && point > facts.nextOffset) repaired.set(NodePath.basename(dir), facts.nextOffset)
        reports.push({
          path,
          status: "fixed",
          detail: `cut from ${facts.fileSize} to ${facts.validSize} bytes (${facts.report.detail}); ` +
            `the segment now ends at offset ${facts.nextOffset - 1}`
        })
      }
      const seg = new Segment(dir, base, await fs.open(path, "r"))
      try {
        if (i === bases.length - 1) {
          await Promise.all([unlinkQuiet(fs, seg.indexPath), unlinkQuiet(fs, seg.timeIndexPath)])
          continue
        }
        const { state } = await scanSegment(seg.fh, facts.validSize, base, 4096, false)
        state.seal()
        seg.adopt(state)
        await writeIndexes(fs, seg)
      } finally {
        await seg.close()
      }
    }
    if (bases.length > 1) reports.push({ path: dir, status: "note", detail: `indexes of ${bases.length - 1} closed segments rebuilt` })
  }
  if (points !== undefined) await writeRecoveryPoints(fs, logDir, repaired)
  return reports
}
