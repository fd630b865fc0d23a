/**
 * LogDriver on append-only segment files, Kafka's log layout (names in SegmentFiles.ts): per
 * partition a directory of segments `<baseOffset>.log` holding the RecordBatch v2 bytes exactly
 * as MessageLog sealed them (so a Kafka Fetch can serve them untouched), each with a sparse
 * `.index` and `.timeindex` (SparseIndex.ts).
 *
 * Writes. `writeBatches` receives one flusher pass; every partition's batches go to its active
 * segment in ONE positioned `writev` on the libuv threadpool, partitions in parallel. The store
 * never decodes records on this path: per batch it reads three header fields and updates the
 * in-memory index. The active segment's indexes live in memory and reach disk when it rolls;
 * recovery rebuilds them from the log anyway.
 *
 * Rolling. A new segment starts when the active one would pass `segmentBytes` or when the
 * incoming batches are `segmentMs` newer than its first batch (Kafka's segment.ms rule, by batch
 * timestamps). Default 128 MiB rather than Kafka's 1 GiB: retention and truncateBefore reclaim
 * disk a whole segment at a time, and MQTT session retention truncates often, so smaller
 * segments give space back sooner; and every open CRC-checks the whole active segment (there is
 * no clean-shutdown marker yet), which 128 MiB keeps to a fraction of a second.
 *
 * Durability (`fsync`). `always`: the files a pass wrote are fdatasynced (and a new segment's
 * directory fsynced) before `writeBatches` succeeds. `interval` (the default, every
 * `fsyncIntervalMs` = 1000 ms): a background fiber fdatasyncs the files written since its last
 * run. `never`: the OS decides. Kafka relies on the OS and on replication; this broker has no
 * replicas but acknowledges MQTT QoS 1/2 only once a write reached the OS, which already
 * survives a broker crash (the page cache outlives the process), the common failure, while
 * `interval` bounds a power loss to about a second of acknowledged messages without paying an
 * fdatasync (milliseconds) on every group commit. Operators who need power-loss durability per
 * message choose `always`. With `always` and `interval` a timer (every `fsyncIntervalMs`) also
 * records how far each partition is synced in `log/recovery-point` (RecoveryPoints.ts), which
 * recovery uses to tell an unsynced tail a power loss mangled from damage.
 *
 * Recovery (at open, SegmentRecovery.ts). Closed segments pass a cheap check or are scanned
 * fully; the active segment is always scanned batch by batch (lengths, magic, CRC-32C) and
 * truncated at the first torn or corrupt batch. `recover` reports the end of each partition
 * from that state. Reads (SegmentReads.ts) and every other walk over batches use BatchCursor.
 *
 * Retention. A background fiber (every `retentionCheckMs`) deletes whole closed segments by age
 * and size as `policyFor(tp)` says (Retention.ts), never the active segment nor the one holding
 * the newest batch. `truncateBefore` raises a per-partition log-start offset, persisted in
 * `log-start-offset` (temp file + rename), so reads honour it after a restart, and deletes the
 * closed segments wholly below it.
 *
 * Concurrency. Writes, rolls, truncation and retention run one at a time under a lock; reads and
 * the interval fsync do not take it: they read the committed size (never a write in flight) and
 * hold a reference on the segments they touch, so a deleted segment's file closes only after
 * its last reader. With `fenced` (`--workers`) each of those runs inside it too: the data
 * directory's SQLite write lock and store epoch, so a sibling taking the directory over never
 * interleaves with a write (docs/cluster.md 1.6c).
 */
import { Effect, Layer, type Scope } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { type FsyncPolicy, defaultConfig } from "../../config/BrokerConfigShape.js"
import type { TopicPartition } from "../../domain/ids.js"
import { StorageError } from "../../services/errors.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"
import { BATCH_HEADER_SIZE } from "./BatchHeader.js"
import { PartitionLog } from "./PartitionLog.js"
import { defaultPolicyFor, expiredSegmentCount, type RetentionPolicy } from "./Retention.js"
import { batchBytesMaxTimestamp, Segment } from "./Segment.js"
import {
  DELETED_SUFFIX,
  LOG_DIR,
  LOG_START_FILE,
  LOG_SUFFIX,
  partitionDirName,
  segmentFileName,
  TMP_SUFFIX
} from "./SegmentFiles.js"
import { nodeFs, type SegmentFs, unlinkQuiet } from "./SegmentFs.js"
import * as SegmentReads from "./SegmentReads.js"
import { readRecoveryPoints, writeRecoveryPoints } from "./RecoveryPoints.js"
import { openLogDir, writeIndexes } from "./SegmentRecovery.js"

export type { FsyncPolicy, RetentionPolicy }

/** The `[storage]` settings the segment store reads (config/BrokerConfigShape.ts). */
export interface SegmentSettings {
  readonly segmentBytes: number
  readonly segmentMs: number
  readonly retentionBytes: number
  readonly retentionMs: number
  readonly fsync: FsyncPolicy
  readonly fsyncIntervalMs: number
}

export const defaultSettings: SegmentSettings = {
  segmentBytes: defaultConfig.storage.segmentBytes,
  segmentMs: defaultConfig.storage.segmentMs,
  retentionBytes: defaultConfig.storage.retentionBytes,
  retentionMs: defaultConfig.storage.retentionMs,
  fsync: defaultConfig.storage.fsync,
  fsyncIntervalMs: defaultConfig.storage.fsyncIntervalMs
}

export interface SegmentOptions extends Partial<SegmentSettings> {
  readonly dataDir: string
  /** Log bytes between two index entries (Kafka's index.interval.bytes). Default 4096. */
  readonly indexIntervalBytes?: number
  /** Period of the retention fiber. Default 30 s. */
  readonly retentionCheckMs?: number
  /** False: no retention fiber (a sibling's store served for a while: its own holds are not known here). Default true. */
  readonly retention?: boolean
  /** Retention per partition; default: the settings, internal `__` streams unlimited. */
  readonly policyFor?: (tp: TopicPartition) => RetentionPolicy
  /** Wall clock for retention by age. Default Date.now. */
  readonly now?: () => number
  /** The file system underneath (tests inject faults here). Default node:fs. */
  readonly fs?: SegmentFs
  /**
   * A data directory another process may take over (`--workers`): every write, roll,
   * truncation and retention pass runs inside `fenced` (SqliteWriter's: the SQLite file's
   * write lock held and its store epoch checked around it), so two holders never interleave.
   */
  readonly fenced?: <A>(work: () => Promise<A>) => Promise<A>
}

/** Counters, for tests and diagnostics. */
export interface SegmentStats {
  /** Partition writes (one writev each). */
  writes: number
  /** fdatasyncs of segment files. */
  fsyncs: number
  rolls: number
  deletedSegments: number
}

type LogDriverService = LogDriver["Type"]

export interface SegmentLogDriver extends LogDriverService {
  /** One retention pass now (what the background fiber runs); the number of segments deleted. */
  readonly enforceRetention: Effect.Effect<number, StorageError>
  /**
   * fdatasyncs every file written since the last sync now and moves the recovery points (what
   * the periodic fiber runs).
   */
  readonly syncDirty: Effect.Effect<void, StorageError>
  readonly stats: Readonly<SegmentStats>
  /** Segment files open now, every partition (metrics; a pass over the partitions). */
  readonly segmentCount: () => number
}

const DEFAULT_INDEX_INTERVAL = 4096
const DEFAULT_RETENTION_CHECK_MS = 30_000
/** Index entries hold uint32 relative offsets and positions. */
const MAX_UINT32 = 0xffffffff
/** Writes all of `list` at `position` with one writev; finishes a short write with plain writes. */
const writeAll = async (segment: Segment, list: ReadonlyArray<EncodedBatch>, position: number, total: number) => {
  const buffers = new Array<Uint8Array>(list.length)
  for (let i = 0; i < list.length; i++) buffers[i] = list[i]!.bytes
  const { bytesWritten } = await segment.fh.writev(buffers, position)
  if (bytesWritten === total) return
  const rest = Buffer.concat(buffers).subarray(bytesWritten)
  let done = 0
  // Bounded: every turn writes at least one byte or throws.
  while (done < rest.length) {
    const { bytesWritten: n } = await segment.fh.write(rest, done, rest.length - done, position + bytesWritten + done)
    if (n === 0) throw new Error(`short write to ${segment.logPath}`)
    done += n
  }
}

export const make = (options: SegmentOptions): Effect.Effect<SegmentLogDriver, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const settings: SegmentSettings = { ...defaultSettings, ...options }
    const indexInterval = options.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL
    const retentionCheckMs = options.retentionCheckMs ?? DEFAULT_RETENTION_CHECK_MS
    const policyFor = options.policyFor ?? defaultPolicyFor(settings)
    const now = options.now ?? Date.now
    const fsync = settings.fsync
    const logDir = NodePath.join(NodePath.resolve(options.dataDir), LOG_DIR)
    const fs = options.fs ?? nodeFs
    const reads = SegmentReads.make(fs, indexInterval)

    const partitions = new Map<TopicPartition, PartitionLog>()
    const dirtySegments = new Set<Segment>()
    const dirtyDirs = new Set<string>()
    const stats: SegmentStats = { writes: 0, fsyncs: 0, rolls: 0, deletedSegments: 0 }
    const repairs: Array<string> = []
    const lock = yield* Effect.makeSemaphore(1)
    const fenced = options.fenced
    /**
     * The last fenced operation was refused before it started (another holder, or its lock
     * held past the busy timeout): leave the files alone at close.
     */
    let lost = false
    const underFence = fenced === undefined ? <A>(f: () => Promise<A>) => f() : <A>(f: () => Promise<A>): Promise<A> => {
      let started = false
      return fenced(() => ((started = true), (lost = false), f())).catch((e: unknown) => {
        if (!started) lost = true
        throw e
      })
    }

    /** Runs `f` alone (no write, roll, truncation or retention alongside), to completion. */
    const exclusive = <A>(op: "write" | "read", f: () => Promise<A>): Effect.Effect<A, StorageError> =>
      Effect.uninterruptible(
        lock.withPermits(1)(
          Effect.tryPromise({
            try: () => underFence(f),
            catch: (cause) => (cause instanceof StorageError ? cause : new StorageError({ op, cause }))
          })
        )
      )

    // -------------------------------------------------------------------------------------------
    // fsync

    const syncSegments = async (segments: Iterable<Segment>): Promise<void> => {
      const syncs: Array<Promise<void>> = []
      for (const s of segments) {
        if (s.deleted) continue
        s.retain()
        syncs.push(
          s.fh.datasync().then(
            () => {
              stats.fsyncs++
              s.release()
            },
            (cause) => {
              s.release()
              throw new StorageError({ op: "write", path: s.logPath, cause })
            }
          )
        )
      }
      await Promise.all(syncs)
    }

    const syncDirtyNow = async (): Promise<void> => {
      const segments = Array.from(dirtySegments)
      const dirs = Array.from(dirtyDirs)
      dirtySegments.clear()
      dirtyDirs.clear()
      try {
        await syncSegments(segments)
        await Promise.all(dirs.map((d) => fs.syncDir(d)))
      } catch (e) {
        // Try again at the next tick (what was acknowledged cannot be taken back).
        for (const s of segments) if (!s.deleted) dirtySegments.add(s)
        for (const d of dirs) dirtyDirs.add(d)
        throw e
      }
    }

    /** Offset below which each partition is known fdatasynced (RecoveryPoints.ts). */
    const syncedTo = new Map<TopicPartition, number>()
    /** Serialises writes of the recovery-point file (the periodic sync and deletions). */
    let pointsWrite: Promise<void> = Promise.resolve()

    /** With `never` the file is only kept up to date if an earlier run left one. */
    let pointsFile = fsync !== "never"

    const writePoints = (): Promise<void> => {
      if (!pointsFile || lost) return Promise.resolve()
      const run = pointsWrite.then(() => {
        const byDir = new Map<string, number>()
        for (const [tp, offset] of syncedTo) {
          const p = partitions.get(tp)
          if (p !== undefined) byDir.set(NodePath.basename(p.dir), offset)
        }
        return writeRecoveryPoints(fs, logDir, byDir)
      })
      pointsWrite = run.catch(() => undefined)
      return run
    }

    /**
     * Syncs what was written since the last sync, then records how far each partition is now
     * known to be on disk. The ends are taken before the sync: a pass noted later may not be in
     * it. Only partitions still open under the same PartitionLog count.
     */
    const checkpoint = async (): Promise<void> => {
      const ends: Array<readonly [PartitionLog, number]> = []
      for (const p of partitions.values()) ends.push([p, p.nextOffset()])
      await syncDirtyNow()
      let changed = false
      for (const [p, end] of ends) {
        if (partitions.get(p.tp) !== p || syncedTo.get(p.tp) === end) continue
        syncedTo.set(p.tp, end)
        changed = true
      }
      // Fenced too: a holder that lost the directory must not rewrite the next one's points.
      if (changed) await underFence(writePoints)
    }

    // -------------------------------------------------------------------------------------------
    // open and recover

    const closeAll = async (): Promise<void> => {
      if (fsync !== "never") await checkpoint().catch(() => undefined)
      if (!lost) for (const p of partitions.values()) {
        const active = p.active()
        if (active?.uncut === true) await active.fh.truncate(active.size).catch(() => undefined)
      }
      const all: Array<Promise<void>> = []
      for (const p of partitions.values()) for (const s of p.segments) all.push(s.close())
      await Promise.all(all)
    }

    yield* Effect.tryPromise({
      try: async () => {
        await fs.mkdir(logDir)
        // The log directory's own entry: without this a power loss on a first run could take
        // the whole directory, acknowledged batches and all, with it.
        if (fsync !== "never") await fs.syncDir(NodePath.dirname(logDir))
      },
      catch: (cause) => new StorageError({ op: "open", path: logDir, cause })
    })
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          readRecoveryPoints(fs, logDir).then((points) =>
            openLogDir(fs, logDir, indexInterval, partitions, repairs, points).then(
              () => {
                if (points !== undefined) pointsFile = true
                for (const p of partitions.values()) {
                  const point = Math.min(points?.get(NodePath.basename(p.dir)) ?? 0, p.nextOffset())
                  syncedTo.set(p.tp, point)
                  // What lies past the point may still be only in the page cache (a process
                  // crash keeps it): the first sync takes it to disk before the point moves.
                  if (fsync !== "never") for (const seg of p.segments) if (seg.nextOffset > point) dirtySegments.add(seg)
                }
              },
              async (e) => {
                await closeAll()
                throw e
              }
            )
          ),
        catch: (cause) => new StorageError({ op: "recover", path: logDir, cause })
      }),
      () => lock.withPermits(1)(Effect.promise(closeAll))
    )
    for (const repair of repairs) yield* Effect.logWarning(`segment store recovery: ${repair}`)

    // -------------------------------------------------------------------------------------------
    // write

    const createPartition = async (tp: TopicPartition): Promise<PartitionLog> => {
      const dir = NodePath.join(logDir, partitionDirName(tp))
      await fs.mkdir(dir)
      // A checkpoint without segments is stale: it must not hide the new partition's data.
      await unlinkQuiet(fs, NodePath.join(dir, LOG_START_FILE))
      if (fsync === "always") await fs.syncDir(logDir)
      else if (fsync === "interval") dirtyDirs.add(logDir)
      const p = new PartitionLog(tp, dir)
      partitions.set(tp, p)
      return p
    }

    const shouldRoll = (seg: Segment, lastOffset: number, bytes: number, incomingMaxTimestamp: number): boolean => {
      if (seg.size === 0) return false
      if (seg.size + bytes > Math.min(settings.segmentBytes, MAX_UINT32)) return true
      if (lastOffset + 1 - seg.baseOffset > MAX_UINT32) return true
      const first = seg.firstBatchMaxTimestamp
      return first >= 0 && incomingMaxTimestamp - first >= settings.segmentMs
    }

    /** Closes the active segment (its indexes go to disk) and starts a new one at `baseOffset`. */
    const roll = async (p: PartitionLog, baseOffset: number): Promise<Segment> => {
      const path = NodePath.join(p.dir, segmentFileName(baseOffset, LOG_SUFFIX))
      const seg = new Segment(p.dir, baseOffset, await fs.open(path, "wx+"))
      const old = p.active()
      if (old !== undefined) {
        old.seal()
        // Best effort: a missing index is rebuilt from the log at the next open.
        await writeIndexes(fs, old).catch(() => undefined)
        stats.rolls++
      }
      p.segments = [...p.segments, seg]
      if (fsync === "always") await fs.syncDir(p.dir)
      else if (fsync === "interval") dirtyDirs.add(p.dir)
      return seg
    }

    /** One partition's share of a pass, written but not yet visible to readers. */
    interface Appended {
      readonly seg: Segment
      readonly position: number
      readonly list: ReadonlyArray<EncodedBatch>
    }

    const appendPartition = async (tp: TopicPartition, list: ReadonlyArray<EncodedBatch>): Promise<Appended> => {
      const p = partitions.get(tp) ?? (await createPartition(tp))
      let expected = p.nextOffset()
      let bytes = 0
      let maxTimestamp = Number.NEGATIVE_INFINITY
      for (let i = 0; i < list.length; i++) {
        const b = list[i]!
        if (b.baseOffset < expected || b.lastOffset < b.baseOffset || b.bytes.length < BATCH_HEADER_SIZE) {
          throw new StorageError({
            op: "write",
            path: tp,
            cause: new Error(`batch ${b.baseOffset}-${b.lastOffset} does not follow offset ${expected - 1}`)
          })
        }
        expected = b.lastOffset + 1
        bytes += b.bytes.length
        const ts = batchBytesMaxTimestamp(b.bytes)
        if (ts > maxTimestamp) maxTimestamp = ts
      }
      let seg = p.active()
      if (seg?.uncut === true) {
        // What a failed write left must go before this segment is written to or closed.
        await seg.fh.truncate(seg.size).catch((cause) => {
          throw new StorageError({ op: "write", path: seg!.logPath, cause })
        })
        seg.uncut = false
      }
      if (seg === undefined || shouldRoll(seg, expected - 1, bytes, maxTimestamp)) seg = await roll(p, list[0]!.baseOffset)
      const position = seg.size
      try {
        await writeAll(seg, list, position, bytes)
      } catch (cause) {
        // Drop a partial write; the next pass writes at `position` again anyway.
        await discard(seg, position)
        throw new StorageError({ op: "write", path: seg.logPath, cause })
      }
      return { seg, position, list }
    }

    /** Cuts a failed write off `seg` (or marks it to be cut before the next write). */
    const discard = (seg: Segment, position: number): Promise<void> =>
      seg.fh.truncate(position).then(
        () => {
          seg.uncut = false
        },
        () => {
          seg.uncut = true
        }
      )

    /**
     * All or nothing, like a transaction: when one partition fails, what the pass wrote to the
     * others is cut off again before anyone can read it, so no failed write becomes visible.
     */
    const writePass = async (batches: ReadonlyArray<EncodedBatch>): Promise<void> => {
      const groups = new Map<TopicPartition, Array<EncodedBatch>>()
      for (let i = 0; i < batches.length; i++) {
        const b = batches[i]!
        const list = groups.get(b.tp)
        if (list === undefined) groups.set(b.tp, [b])
        else list.push(b)
      }
      const results = await Promise.allSettled(Array.from(groups, ([tp, list]) => appendPartition(tp, list)))
      const appended: Array<Appended> = []
      let failure: unknown = undefined
      for (const r of results) {
        if (r.status === "fulfilled") appended.push(r.value)
        else failure ??= r.reason
      }
      // With `always`, a pass whose fdatasync fails fails whole too: nothing of it becomes visible.
      if (failure === undefined && fsync === "always") {
        failure = await syncSegments(appended.map((a) => a.seg)).then(() => undefined, (e: unknown) => e)
      }
      if (failure !== undefined) {
        await Promise.all(appended.map((a) => discard(a.seg, a.position)))
        throw failure
      }
      for (let i = 0; i < appended.length; i++) {
        const { seg, list } = appended[i]!
        for (let j = 0; j < list.length; j++) {
          const b = list[j]!
          seg.note(b.baseOffset, b.lastOffset, batchBytesMaxTimestamp(b.bytes), b.bytes.length, indexInterval)
        }
        if (fsync === "interval") dirtySegments.add(seg)
      }
      stats.writes += appended.length
    }

    const writeBatches = (batches: ReadonlyArray<EncodedBatch>): Effect.Effect<void, StorageError> =>
      batches.length === 0 ? Effect.void : exclusive("write", () => writePass(batches))

    // -------------------------------------------------------------------------------------------
    // delete

    const deleteOldest = async (p: PartitionLog, count: number): Promise<void> => {
      const victims = p.segments.slice(0, count)
      p.segments = p.segments.slice(count)
      p.logStart = Math.max(p.logStart, p.segments[0]!.baseOffset)
      for (const v of victims) {
        dirtySegments.delete(v)
        v.markDeleted()
        stats.deletedSegments++
      }
      // The log first: index files without a log are swept at the next open.
      await Promise.all(
        victims.map(async (v) => {
          await unlinkQuiet(fs, v.logPath)
          await Promise.all([unlinkQuiet(fs, v.indexPath), unlinkQuiet(fs, v.timeIndexPath)])
        })
      )
    }

    const truncateBefore = (tp: TopicPartition, offset: number): Effect.Effect<void, StorageError> =>
      exclusive("write", async () => {
        const p = partitions.get(tp)
        if (p === undefined) return
        const newest = p.newestBatchBase()
        if (newest < 0) return
        const start = Math.min(offset, newest) // never hide the newest batch
        if (start <= p.logStart) return
        p.logStart = start
        const file = NodePath.join(p.dir, LOG_START_FILE)
        await fs.writeFile(file + TMP_SUFFIX, String(start))
        await fs.rename(file + TMP_SUFFIX, file)
        const limit = p.newestIndex()
        let count = 0
        while (count < limit && p.segments[count]!.nextOffset <= start) count++
        if (count > 0) await deleteOldest(p, count)
      })

    const enforceRetention: Effect.Effect<number, StorageError> = exclusive("write", async () => {
      let deleted = 0
      const at = now()
      for (const p of partitions.values()) {
        const count = expiredSegmentCount(p.segments, p.newestIndex(), policyFor(p.tp), at)
        if (count > 0) {
          await deleteOldest(p, count)
          deleted += count
        }
      }
      return deleted
    })

    let deletions = 0

    /**
     * Renames the partition's directory out of the way (the commit point, made durable like a
     * roll's directory entry), then forgets it; returns the renamed path, or undefined when
     * there was nothing on disk. A failed rename changes nothing. Readers holding its segments
     * keep reading the unlinked files.
     */
    const detachPartition = async (tp: TopicPartition): Promise<string | undefined> => {
      const p = partitions.get(tp)
      const dir = p?.dir ?? NodePath.join(logDir, partitionDirName(tp))
      let trash: string | undefined = `${dir}.${Date.now()}-${deletions++}${DELETED_SUFFIX}`
      try {
        await fs.rename(dir, trash)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
        trash = undefined
      }
      if (p !== undefined) {
        partitions.delete(tp)
        for (const seg of p.segments) {
          dirtySegments.delete(seg)
          seg.markDeleted()
        }
      }
      // A stale point would make a new partition of this name look damaged below it.
      if (syncedTo.delete(tp)) await writePoints()
      if (trash === undefined) return undefined
      if (fsync === "always") await fs.syncDir(logDir)
      else if (fsync === "interval") dirtyDirs.add(logDir)
      return trash
    }

    /** The rename runs under the lock; removing the files (maybe many) does not hold up writes. */
    const deletePartition = (tp: TopicPartition): Effect.Effect<void, StorageError> =>
      Effect.flatMap(exclusive("write", () => detachPartition(tp)), (trash) =>
        trash === undefined
          ? Effect.void
          : Effect.tryPromise({
            try: () => fs.rmTree(trash),
            catch: (cause) => new StorageError({ op: "write", path: trash, cause })
          }))

    /**
     * Whole segments, as Kafka's retention.bytes: the base offset of the newest segment from
     * which on the log holds at least `bytes`, when there are segments before it.
     */
    const offsetForSizeLimit = (tp: TopicPartition, bytes: number) =>
      Effect.sync((): number | null => {
        const p = partitions.get(tp)
        if (p === undefined) return null
        const segments = p.segments
        let newer = 0
        for (let k = segments.length - 1; k >= 0; k--) {
          newer += segments[k]!.size
          if (newer >= bytes) return k > 0 && segments[k]!.baseOffset > p.logStart ? segments[k]!.baseOffset : null
        }
        return null
      })

    // -------------------------------------------------------------------------------------------
    // read

    const readRange = (tp: TopicPartition, fromOffset: number, maxBytes: number) =>
      Effect.tryPromise({
        try: (): Promise<ReadonlyArray<EncodedBatch>> => {
          const p = partitions.get(tp)
          return p === undefined ? Promise.resolve([]) : reads.readBatches(p, fromOffset, maxBytes)
        },
        catch: (cause) => new StorageError({ op: "read", path: tp, cause })
      })

    const offsetForTimestamp = (tp: TopicPartition, timestamp: number) =>
      Effect.tryPromise({
        try: (): Promise<number | null> => {
          const p = partitions.get(tp)
          return p === undefined ? Promise.resolve(null) : reads.offsetForTimestamp(p, timestamp)
        },
        catch: (cause) => new StorageError({ op: "read", path: tp, cause })
      })

    const recover = Effect.sync((): ReadonlyMap<TopicPartition, number> => {
      const ends = new Map<TopicPartition, number>()
      for (const [tp, p] of partitions) {
        const next = p.nextOffset()
        if (next > 0) ends.set(tp, next)
      }
      return ends
    })

    // -------------------------------------------------------------------------------------------
    // background fibers (forked after the close finalizer, so they stop before it runs)

    const syncDirty: Effect.Effect<void, StorageError> = Effect.uninterruptible(
      Effect.tryPromise({ try: checkpoint, catch: (cause) => new StorageError({ op: "write", cause }) })
    )

    // `always` syncs every pass itself; its timer only moves the recovery points.
    if (fsync !== "never") {
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.zipRight(
            Effect.sleep(settings.fsyncIntervalMs),
            // Not once another holder has the directory: its owner logs that (StoreFence.onFenced).
            syncDirty.pipe(Effect.catchAll((e) => (lost ? Effect.void : Effect.logError("segment store: fsync failed", e))))
          )
        )
      )
    }
    if (options.retention !== false) yield* Effect.forkScoped(
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(retentionCheckMs),
          enforceRetention.pipe(Effect.catchAll((e) => Effect.logError("segment store: retention failed", e)))
        )
      )
    )

    return {
      writeBatches,
      readRange,
      truncateBefore,
      offsetForTimestamp,
      offsetForSizeLimit,
      deletePartition,
      recover,
      enforceRetention,
      syncDirty,
      stats,
      segmentCount: () => {
        let n = 0
        for (const p of partitions.values()) n += p.segments.length
        return n
      }
    }
  })

/** The segment store in `<dataDir>/log`, created when missing. */
export const layer = (options: SegmentOptions): Layer.Layer<LogDriver, StorageError> =>
  Layer.scoped(LogDriver, make(options))

/** A fresh temporary directory, removed (after every file is closed) with the scope (tests). */
export const makeTemp = (
  options: Omit<SegmentOptions, "dataDir"> = {}
): Effect.Effect<SegmentLogDriver & { readonly dataDir: string }, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const dataDir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => Fs.mkdtemp(NodePath.join(Os.tmpdir(), "robustmq-segment-")),
        catch: (cause) => new StorageError({ op: "open", path: Os.tmpdir(), cause })
      }),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    )
    const driver = yield* make({ ...options, dataDir })
    return { ...driver, dataDir }
  })

export const layerTemp = (options: Omit<SegmentOptions, "dataDir"> = {}): Layer.Layer<LogDriver, StorageError> =>
  Layer.scoped(LogDriver, makeTemp(options))
