/**
 * What only the segment store has (the shared behaviour is the LogDriver contract in
 * storage.test.ts): files on disk and reopening them, rolling, retention, the log-start
 * checkpoint, crash recovery from torn and corrupt tails, fsync policies, and the wiring in
 * Storage.layer. Every test works on real files in a temp dir and reopens the store for real.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { topicPartition, type TopicPartition } from "../../domain/ids.js"
import * as MessageLogLive from "../../layers/MessageLogLive.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as SegmentVerify from "../../layers/storage-segment/SegmentVerify.js"
import * as Storage from "../../layers/Storage.js"
import { EventStore } from "../../services/EventStore.js"
import { StorageError } from "../../services/errors.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"
import { MessageLog } from "../../services/MessageLog.js"
import { batch, freshPartition, offsetsOf, record } from "./LogDriver.contract.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-segment-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

type Options = Omit<SegmentLogDriver.SegmentOptions, "dataDir">

/** Opens the store on `dir`, runs `body`, closes it (a clean shutdown). */
const session = <A, E>(
  dir: string,
  options: Options,
  body: (driver: SegmentLogDriver.SegmentLogDriver) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(SegmentLogDriver.make({ fsync: "never", ...options, dataDir: dir }), body))

const partitionDir = (dir: string, tp: TopicPartition) => path.join(dir, "log", tp)
const filesOf = (dir: string, suffix: string) =>
  fs.readdirSync(dir).filter((name) => name.endsWith(suffix)).sort()
const baseOf = (name: string) => Number(name.slice(0, 20))
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

/** `n` single-pass writes of 2-record batches padded to ~100 bytes a record, from offset 0. */
const writeMany = (driver: LogDriver["Type"], tp: TopicPartition, n: number, timestamp = 1_700_000_000_000) =>
  Effect.gen(function* () {
    const written: Array<EncodedBatch> = []
    for (let i = 0; i < n; i++) {
      const b = batch(tp, i * 2, 2, 100, timestamp + i * 10)
      written.push(b)
      yield* driver.writeBatches([b])
    }
    return written
  })

const readAll = (driver: LogDriver["Type"], tp: TopicPartition, from = 0) => driver.readRange(tp, from, 1 << 30)

describe("segment store on disk", () => {
  it.scoped("data, end offsets and bytes survive closing and reopening", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const a = freshPartition("reopen")
      const b = freshPartition("reopen")
      const written = yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          const first = [batch(a, 0, 3), batch(b, 0, 2), batch(a, 3, 4)]
          yield* driver.writeBatches(first)
          yield* driver.writeBatches([batch(b, 2, 5)])
          return first
        }))
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          const ends = yield* driver.recover
          expect(ends.get(a)).toBe(7)
          expect(ends.get(b)).toBe(7)
          const read = yield* readAll(driver, a)
          expect(read.map((x) => [x.baseOffset, x.lastOffset])).toEqual([[0, 2], [3, 6]])
          expect(Buffer.from(read[0]!.bytes).equals(Buffer.from(written[0]!.bytes))).toBe(true)
          expect(offsetsOf(yield* readAll(driver, b, 3))).toEqual(range(2, 7))
          // Appends continue after the recovered end.
          yield* driver.writeBatches([batch(a, 7, 1)])
          expect(offsetsOf(yield* readAll(driver, a))).toEqual(range(0, 8))
        }))
      expect(filesOf(partitionDir(dir, a), ".log")).toEqual(["00000000000000000000.log"])
    }))

  it.scoped("rolls by size: several segment files, reads and time lookups across them, before and after reopening", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("roll")
      const options: Options = { segmentBytes: 1024, indexIntervalBytes: 128 }
      const written = yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          const written = yield* writeMany(driver, tp, 30)
          expect(driver.stats.rolls).toBeGreaterThan(3)
          return written
        }))
      const pdir = partitionDir(dir, tp)
      const logs = filesOf(pdir, ".log")
      expect(logs.length).toBeGreaterThan(3)
      // Each segment is named after its first batch; every file stays within segment_bytes.
      const bases = written.map((b) => b.baseOffset)
      for (const name of logs) {
        expect(bases).toContain(baseOf(name))
        expect(fs.statSync(path.join(pdir, name)).size).toBeLessThanOrEqual(1024)
      }
      // Closed segments have their indexes on disk, the active one keeps them in memory.
      expect(filesOf(pdir, ".index")).toEqual(logs.slice(0, -1).map((n) => n.replace(".log", ".index")))
      expect(filesOf(pdir, ".timeindex").length).toBe(logs.length - 1)
      expect(fs.statSync(path.join(pdir, logs[0]!.replace(".log", ".index"))).size).toBeGreaterThan(0)

      const check = (driver: LogDriver["Type"]) =>
        Effect.gen(function* () {
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(0, 60))
          for (const from of [0, 1, 17, 31, 44, 59]) {
            const read = yield* driver.readRange(tp, from, 1)
            expect(read.map((x) => x.baseOffset)).toEqual([from - (from % 2)])
          }
          // Three batches a segment (0, 6, 12, ...): a budget of three batches from offset 9
          // starts inside a segment and crosses into the next two.
          const size = written[0]!.bytes.length
          const crossing = yield* driver.readRange(tp, 9, 3 * size)
          expect(crossing.map((b) => b.baseOffset)).toEqual([8, 10, 12])
          expect((yield* driver.readRange(tp, 9, 3 * size - 1)).map((b) => b.baseOffset)).toEqual([8, 10])
          expect(yield* driver.readRange(tp, 60, 1 << 20)).toEqual([])
          // Batch i has maxTimestamp t0 + 10 i + 1.
          const t0 = 1_700_000_000_000
          expect(yield* driver.offsetForTimestamp(tp, 0)).toBe(0)
          expect(yield* driver.offsetForTimestamp(tp, t0 + 1)).toBe(0)
          expect(yield* driver.offsetForTimestamp(tp, t0 + 2)).toBe(2)
          expect(yield* driver.offsetForTimestamp(tp, t0 + 171)).toBe(34)
          expect(yield* driver.offsetForTimestamp(tp, t0 + 172)).toBe(36)
          expect(yield* driver.offsetForTimestamp(tp, t0 + 291)).toBe(58)
          expect(yield* driver.offsetForTimestamp(tp, t0 + 292)).toBe(null)
        })
      yield* session(dir, options, check)
      // Reopened: closed segments passed the cheap check and load their indexes lazily.
      yield* session(dir, options, check)
    }))

  it.scoped("one write per partition per pass, however many batches it carries", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          const tps = [freshPartition(), freshPartition(), freshPartition()]
          const before = driver.stats.writes
          yield* driver.writeBatches(tps.flatMap((tp) => [batch(tp, 0, 2), batch(tp, 2, 2), batch(tp, 4, 2), batch(tp, 6, 2)]))
          expect(driver.stats.writes - before).toBe(3)
          for (const tp of tps) expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(0, 8))
        }))
    }))

  it.scoped("rolls by age: a batch segment_ms newer than the segment's first batch starts a new segment", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("age-roll")
      yield* session(dir, { segmentMs: 1000 }, (driver) =>
        Effect.gen(function* () {
          yield* driver.writeBatches([batch(tp, 0, 1, 0, 10_000)])
          yield* driver.writeBatches([batch(tp, 1, 1, 0, 10_500)]) // 500 ms newer: same segment
          yield* driver.writeBatches([batch(tp, 2, 1, 0, 11_000)]) // 1000 ms newer: rolls
          yield* driver.writeBatches([batch(tp, 3, 1, 0, 11_200)])
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual([0, 1, 2, 3])
        }))
      expect(filesOf(partitionDir(dir, tp), ".log").map(baseOf)).toEqual([0, 2])
    }))

  it.scoped("rejects a batch that does not follow the partition's end, and stays writable", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition()
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          yield* driver.writeBatches([batch(tp, 0, 3)])
          const error = yield* Effect.flip(driver.writeBatches([batch(tp, 1, 1)]))
          expect(error).toBeInstanceOf(StorageError)
          expect(error.op).toBe("write")
          yield* driver.writeBatches([batch(tp, 3, 1)])
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual([0, 1, 2, 3])
        }))
    }))

  it.scoped("a pass that fails for one partition leaves nothing of it in the others (all or nothing)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const [good, other, bad] = [freshPartition(), freshPartition(), freshPartition()]
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          yield* driver.writeBatches([batch(bad, 0, 2), batch(other, 0, 2)])
          const error = yield* Effect.flip(
            driver.writeBatches([batch(good, 0, 2), batch(other, 2, 2), batch(bad, 1, 1)])
          )
          expect(error).toMatchObject({ _tag: "StorageError", op: "write", path: bad })
          expect(yield* readAll(driver, good)).toEqual([])
          expect(offsetsOf(yield* readAll(driver, other))).toEqual([0, 1])
          expect((yield* driver.recover).has(good)).toBe(false)
          // The same offsets go through on the next pass.
          yield* driver.writeBatches([batch(good, 0, 2), batch(other, 2, 2)])
          expect(offsetsOf(yield* readAll(driver, good))).toEqual([0, 1])
          expect(offsetsOf(yield* readAll(driver, other))).toEqual([0, 1, 2, 3])
        }))
      const size = (tp: TopicPartition) => fs.statSync(path.join(partitionDir(dir, tp), "00000000000000000000.log")).size
      expect(size(good)).toBe(batch(good, 0, 2).bytes.length)
      expect(size(other)).toBe(batch(other, 0, 2).bytes.length + batch(other, 2, 2).bytes.length)
    }))
})

describe("segment store retention", () => {
  it.scoped("by size: deletes the oldest closed segments down to retention_bytes, never the active one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("size")
      // retention_ms off: the batches' 2023 timestamps would expire them all by age.
      const options: Options = { segmentBytes: 1024, retentionBytes: 2500, retentionMs: -1 }
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          yield* writeMany(driver, tp, 30)
          const pdir = partitionDir(dir, tp)
          const before = filesOf(pdir, ".log")
          const sizes = before.map((n) => fs.statSync(path.join(pdir, n)).size)
          const deleted = yield* driver.enforceRetention
          expect(deleted).toBeGreaterThan(0)
          const after = filesOf(pdir, ".log")
          expect(after).toEqual(before.slice(deleted))
          const kept = sizes.slice(deleted).reduce((x, y) => x + y, 0)
          // Kafka's rule: delete a segment only while what remains is still at least the limit.
          expect(kept).toBeGreaterThanOrEqual(2500)
          expect(kept - sizes[deleted]!).toBeLessThan(2500)
          expect(filesOf(pdir, ".index").length).toBe(after.length - 1)
          const firstKept = baseOf(after[0]!)
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(firstKept, 60))
          expect((yield* driver.recover).get(tp)).toBe(60)
          expect(yield* driver.enforceRetention).toBe(0)
        }))
      // retention_bytes = 0 keeps only the active segment.
      yield* session(dir, { ...options, retentionBytes: 0 }, (driver) =>
        Effect.gen(function* () {
          yield* driver.enforceRetention
          const left = filesOf(partitionDir(dir, tp), ".log")
          expect(left.length).toBe(1)
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(baseOf(left[0]!), 60))
          expect((yield* driver.recover).get(tp)).toBe(60)
        }))
    }))

  it.scoped("by age: deletes closed segments whose newest batch is older than retention_ms; `__` streams are exempt", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("age")
      const internal = topicPartition("__retained", 0)
      const t0 = 1_000_000
      let now = t0
      const options: Options = { segmentBytes: 1024, retentionMs: 1000, now: () => now }
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          // Batch i has maxTimestamp t0 + 10 i + 1; segments hold about four batches each.
          yield* writeMany(driver, tp, 30, t0)
          yield* writeMany(driver, internal, 30, t0)
          now = t0 + 1000 + 100 // everything up to t0 + 99 has expired
          const logs = filesOf(partitionDir(dir, tp), ".log")
          const deleted = yield* driver.enforceRetention
          const left = filesOf(partitionDir(dir, tp), ".log")
          expect(deleted).toBe(logs.length - left.length)
          expect(deleted).toBeGreaterThan(0)
          // Every batch of the first kept segment's predecessor was older than the limit.
          expect(baseOf(left[0]!)).toBeLessThanOrEqual(20)
          expect(baseOf(left[0]!)).toBeGreaterThan(0)
          expect(filesOf(partitionDir(dir, internal), ".log").length).toBe(logs.length)
          now = t0 + 1_000_000 // all expired: only the active segment remains
          yield* driver.enforceRetention
          expect(filesOf(partitionDir(dir, tp), ".log")).toEqual([logs[logs.length - 1]])
          expect((yield* driver.recover).get(tp)).toBe(60)
          expect(offsetsOf(yield* readAll(driver, internal))).toEqual(range(0, 60))
        }))
    }))

  it.live("the background fiber enforces retention every retention_check_ms", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("fiber")
      yield* session(dir, { segmentBytes: 1024, retentionBytes: 0, retentionCheckMs: 20 }, (driver) =>
        Effect.gen(function* () {
          yield* writeMany(driver, tp, 20)
          for (let i = 0; i < 100 && filesOf(partitionDir(dir, tp), ".log").length > 1; i++) yield* Effect.sleep(20)
          expect(filesOf(partitionDir(dir, tp), ".log").length).toBe(1)
          expect(driver.stats.deletedSegments).toBeGreaterThan(0)
        }))
    }).pipe(Effect.scoped))

  it.scoped("truncateBefore deletes closed segments wholly below, and the log start survives reopening", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("truncate")
      const options: Options = { segmentBytes: 1024 }
      const pdir = partitionDir(dir, tp)
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          yield* writeMany(driver, tp, 30)
          const logs = filesOf(pdir, ".log")
          yield* driver.truncateBefore(tp, 33)
          // Batch [32, 33] holds offset 33, so it stays whole; segments ending below 33 are gone.
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(32, 60))
          const left = filesOf(pdir, ".log")
          expect(left.length).toBeLessThan(logs.length)
          expect(baseOf(left[0]!)).toBeLessThanOrEqual(32)
          expect(fs.readFileSync(path.join(pdir, "log-start-offset"), "utf8")).toBe("33")
          expect(yield* driver.offsetForTimestamp(tp, 0)).toBe(32)
          // A lower offset later changes nothing.
          yield* driver.truncateBefore(tp, 10)
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(32, 60))
        }))
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(32, 60))
          expect((yield* driver.readRange(tp, 0, 1)).map((b) => b.baseOffset)).toEqual([32])
          // Never the newest batch, even asked for more.
          yield* driver.truncateBefore(tp, 1000)
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual([58, 59])
          expect(filesOf(pdir, ".log").length).toBe(1)
        }))
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual([58, 59])
          expect((yield* driver.recover).get(tp)).toBe(60)
        }))
    }))
})

describe("segment store partition deletion", () => {
  it.scoped("renames the partition directory away and removes it; a reopen finds nothing of it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = topicPartition("gone", 0)
      const kept = topicPartition("kept", 0)
      yield* session(dir, { segmentBytes: 300 }, (driver) =>
        Effect.gen(function* () {
          for (let i = 0; i < 6; i++) yield* driver.writeBatches([batch(tp, i * 2, 2, 50), batch(kept, i, 1)])
          expect(filesOf(partitionDir(dir, tp), ".log").length).toBeGreaterThan(1)
          yield* driver.deletePartition(tp)
          expect(fs.readdirSync(path.join(dir, "log"))).toEqual(["kept-0"])
          expect(yield* driver.readRange(tp, 0, 1 << 20)).toEqual([])
          yield* driver.writeBatches([batch(tp, 0, 1)]) // starts again at 0
        }))
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          const ends = yield* driver.recover
          expect(ends.get(tp)).toBe(1)
          expect(ends.get(kept)).toBe(6)
          yield* driver.deletePartition(tp)
        }))
      yield* session(dir, {}, (driver) =>
        Effect.map(driver.recover, (ends) => expect([...ends.keys()]).toEqual([kept])))
    }))

  it.scoped("a deletion cut short by a crash (directory renamed, files left) is finished at the next open", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = topicPartition("half", 0)
      yield* session(dir, {}, (driver) => driver.writeBatches([batch(tp, 0, 3)]))
      fs.renameSync(partitionDir(dir, tp), `${partitionDir(dir, tp)}.1700000000000-0.deleted`)
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          expect((yield* driver.recover).has(tp)).toBe(false)
          expect(fs.readdirSync(path.join(dir, "log"))).toEqual([])
        }))
    }))
})

describe("segment store crash recovery", () => {
  /** Three batches of offsets 0-1, 2-4, 5-10 in one segment; returns the batches. */
  const threeBatches = (dir: string, tp: TopicPartition) =>
    session(dir, {}, (driver) =>
      Effect.gen(function* () {
        const written = [batch(tp, 0, 2, 20), batch(tp, 2, 3, 20), batch(tp, 5, 6, 20)]
        yield* driver.writeBatches(written.slice(0, 2))
        yield* driver.writeBatches(written.slice(2))
        return written
      }))

  const segmentFile = (dir: string, tp: TopicPartition) => path.join(partitionDir(dir, tp), "00000000000000000000.log")

  it.scoped("a torn tail (a partial batch) is cut on open, and appends continue at the right offset", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("torn")
      const written = yield* threeBatches(dir, tp)
      const file = segmentFile(dir, tp)
      const whole = fs.statSync(file).size
      // A crash in the middle of the next write: half a batch on disk.
      const next = batch(tp, 11, 4, 20).bytes
      fs.appendFileSync(file, next.subarray(0, Math.floor(next.length / 2)))

      yield* Effect.gen(function* () {
        const log = yield* MessageLog
        expect(log.unsafeEndOffset(tp)).toBe(11)
        expect(log.unsafeAppend(tp, record("after"))).toBe(11)
        yield* log.flush
        const read = yield* log.read(tp, 10, 1 << 20)
        expect(read.map((r) => r.offset)).toEqual([10, 11])
      }).pipe(Effect.provide(MessageLogLive.layer.pipe(Layer.provide(SegmentLogDriver.layer({ dataDir: dir })))))

      expect(fs.statSync(file).size).toBeGreaterThan(whole)
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          expect((yield* driver.recover).get(tp)).toBe(12)
          const read = yield* readAll(driver, tp)
          expect(offsetsOf(read)).toEqual(range(0, 12))
          expect(Buffer.from(read[2]!.bytes).equals(Buffer.from(written[2]!.bytes))).toBe(true)
        }))
    }))

  it.scoped("a torn header and a corrupt last batch (flipped byte under the CRC) are cut on open", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("crc")
      const written = yield* threeBatches(dir, tp)
      const file = segmentFile(dir, tp)
      const firstTwo = written[0]!.bytes.length + written[1]!.bytes.length
      // Flip one byte in the records of the last batch: its CRC-32C no longer matches.
      const bytes = fs.readFileSync(file)
      bytes[bytes.length - 5] ^= 0xff
      fs.writeFileSync(file, Buffer.concat([bytes, Buffer.from([0, 0, 0])])) // and a torn header after it
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          expect((yield* driver.recover).get(tp)).toBe(5)
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(0, 5))
          expect(fs.statSync(file).size).toBe(firstTwo)
          yield* driver.writeBatches([batch(tp, 5, 2)])
        }))
      yield* session(dir, {}, (driver) =>
        Effect.gen(function* () {
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(0, 7))
        }))
    }))

  it.scoped("an active segment torn inside its only batch recovers to the segment's base offset", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("torn-roll")
      const options: Options = { segmentBytes: 1024 }
      yield* session(dir, options, (driver) => writeMany(driver, tp, 12))
      const pdir = partitionDir(dir, tp)
      const logs = filesOf(pdir, ".log")
      const active = path.join(pdir, logs[logs.length - 1]!)
      const activeBase = baseOf(logs[logs.length - 1]!)
      fs.truncateSync(active, 30)
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          expect((yield* driver.recover).get(tp)).toBe(activeBase)
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(0, activeBase))
          yield* driver.truncateBefore(tp, 1000) // keeps the newest batch, now in a closed segment
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual([activeBase - 2, activeBase - 1])
          yield* driver.writeBatches([batch(tp, activeBase, 1)])
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual([activeBase - 2, activeBase - 1, activeBase])
        }))
    }))

  it.scoped("closed segments with missing or garbled indexes are checked fully and re-indexed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("reindex")
      const options: Options = { segmentBytes: 1024, indexIntervalBytes: 128 }
      yield* session(dir, options, (driver) => writeMany(driver, tp, 30))
      const pdir = partitionDir(dir, tp)
      const logs = filesOf(pdir, ".log")
      const index1 = path.join(pdir, logs[1]!.replace(".log", ".index"))
      const time2 = path.join(pdir, logs[2]!.replace(".log", ".timeindex"))
      const time3 = path.join(pdir, logs[3]!.replace(".log", ".timeindex"))
      const goodIndex = fs.readFileSync(index1)
      fs.rmSync(index1)
      fs.writeFileSync(time2, Buffer.alloc(24)) // zeros: a closing entry that disagrees with the log
      fs.writeFileSync(time3, Buffer.alloc(5)) // a partial entry
      fs.writeFileSync(path.join(pdir, "00000000000000999999.index"), "orphan") // index without a log
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(0, 60))
          expect(offsetsOf(yield* driver.readRange(tp, baseOf(logs[1]!) + 3, 1))).toContain(baseOf(logs[1]!) + 3)
          expect(yield* driver.offsetForTimestamp(tp, 1_700_000_000_000 + 171)).toBe(34)
        }))
      expect(fs.readFileSync(index1).equals(goodIndex)).toBe(true)
      expect(fs.statSync(time2).size % 12).toBe(0)
      expect(fs.statSync(time3).size).toBeGreaterThan(11)
      expect(fs.existsSync(path.join(pdir, "00000000000000999999.index"))).toBe(false)
    }))

  it.scoped("a corrupt batch with whole batches after it stops the open, naming the file; repair cuts that segment only", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("closed-corrupt")
      const options: Options = { segmentBytes: 1024 }
      yield* session(dir, options, (driver) => writeMany(driver, tp, 30))
      const pdir = partitionDir(dir, tp)
      const logs = filesOf(pdir, ".log")
      const victim = path.join(pdir, logs[1]!)
      const lost = range(baseOf(logs[1]!) + 2, baseOf(logs[2]!))
      expect(lost.length).toBeGreaterThan(0)
      const bytes = fs.readFileSync(victim)
      const second = bytes.readInt32BE(8) + 12 // the second batch starts here
      bytes[second + 70] ^= 0xff
      fs.writeFileSync(victim, bytes)
      fs.rmSync(path.join(pdir, logs[1]!.replace(".log", ".index")))

      const refused = yield* Effect.flip(session(dir, options, () => Effect.void))
      expect(refused).toBeInstanceOf(StorageError)
      expect(refused.message).toContain(`${victim} is damaged at position ${second}`)
      expect(refused.message).toContain(`robustmq log verify --data-dir ${dir}`)
      expect(fs.statSync(victim).size).toBe(bytes.length) // nothing changed

      const verified = yield* Effect.promise(() => SegmentVerify.verify(path.join(dir, "log")))
      expect(verified.filter((r) => r.status === "bad").map((r) => r.path)).toEqual([victim])
      const repaired = yield* Effect.promise(() => SegmentVerify.repair(path.join(dir, "log")))
      expect(repaired.filter((r) => r.status === "fixed").map((r) => r.path)).toEqual([victim])
      expect(fs.statSync(victim).size).toBe(second)
      expect((yield* Effect.promise(() => SegmentVerify.verify(path.join(dir, "log")))).every((r) => r.status !== "bad")).toBe(true)
      yield* session(dir, options, (driver) =>
        Effect.gen(function* () {
          expect(offsetsOf(yield* readAll(driver, tp))).toEqual(range(0, 60).filter((o) => !lost.includes(o)))
          expect((yield* driver.recover).get(tp)).toBe(60)
        }))
    }))

  it.scoped("verify checks every index entry against the batch it points at", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("verify-index")
      const options: Options = { segmentBytes: 1024, indexIntervalBytes: 128 }
      yield* session(dir, options, (driver) => writeMany(driver, tp, 30))
      const logDir = path.join(dir, "log")
      expect((yield* Effect.promise(() => SegmentVerify.verify(logDir))).filter((r) => r.status !== "ok")).toEqual([])
      const pdir = partitionDir(dir, tp)
      const index = path.join(pdir, filesOf(pdir, ".index")[0]!)
      const entries = fs.readFileSync(index)
      expect(entries.length).toBeGreaterThanOrEqual(8)
      entries.writeUInt32BE(entries.readUInt32BE(4) + 1, 4) // the first entry now points inside a batch
      fs.writeFileSync(index, entries)
      const reports = yield* Effect.promise(() => SegmentVerify.verify(logDir))
      expect(reports.filter((r) => r.status !== "ok").map((r) => [r.path, r.status])).toEqual([[index, "bad"]])
      yield* Effect.promise(() => SegmentVerify.repair(logDir))
      expect((yield* Effect.promise(() => SegmentVerify.verify(logDir))).filter((r) => r.status !== "ok")).toEqual([])
    }))
})

describe("segment store fsync policies", () => {
  it.scoped("always: every file a pass wrote is fdatasynced before writeBatches succeeds", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* session(dir, { fsync: "always", segmentBytes: 1024 }, (driver) =>
        Effect.gen(function* () {
          const [a, b] = [freshPartition(), freshPartition()]
          yield* driver.writeBatches([batch(a, 0, 2), batch(b, 0, 2), batch(a, 2, 1)])
          expect(driver.stats.fsyncs).toBe(2)
          yield* writeMany(driver, freshPartition(), 12) // rolls along the way
          expect(driver.stats.fsyncs).toBe(14)
          expect(driver.stats.rolls).toBeGreaterThan(0)
        }))
    }))

  it.scoped("never: no fdatasync at all", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* session(dir, { fsync: "never" }, (driver) =>
        Effect.gen(function* () {
          yield* writeMany(driver, freshPartition(), 5)
          yield* driver.syncDirty
          expect(driver.stats.fsyncs).toBe(0)
        }))
    }))

  it.live("interval: a background fiber fdatasyncs the files written since its last run", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* session(dir, { fsync: "interval", fsyncIntervalMs: 20 }, (driver) =>
        Effect.gen(function* () {
          const tp = freshPartition()
          yield* driver.writeBatches([batch(tp, 0, 2)])
          expect(driver.stats.fsyncs).toBe(0)
          for (let i = 0; i < 100 && driver.stats.fsyncs === 0; i++) yield* Effect.sleep(10)
          expect(driver.stats.fsyncs).toBe(1)
          yield* Effect.sleep(60) // nothing new written: nothing to sync
          expect(driver.stats.fsyncs).toBe(1)
          yield* driver.writeBatches([batch(tp, 2, 2)])
          yield* driver.syncDirty
          expect(driver.stats.fsyncs).toBe(2)
        }))
    }).pipe(Effect.scoped))
})

describe("Storage.layer segment", () => {
  it.scoped("the log goes to segment files, events to SQLite, in the same data directory", () =>
    Effect.gen(function* () {
      const dir = path.join(yield* tempDir, "data")
      const tp = topicPartition("mqtt", 0)
      const run = Effect.gen(function* () {
        const driver = yield* LogDriver
        const store = yield* EventStore
        const end = (yield* driver.recover).get(tp) ?? 0
        yield* driver.writeBatches([batch(tp, end, 2)])
        yield* store.append("session-a", [{ type: "SessionStarted", data: {} }], -1)
        return [offsetsOf(yield* readAll(driver, tp)), (yield* store.readStream("session-a")).length] as const
      }).pipe(Effect.provide(Storage.layer("segment", dir, { ...SegmentLogDriver.defaultSettings, fsync: "always" })))
      expect(yield* run).toEqual([[0, 1], 1])
      expect(yield* run).toEqual([[0, 1, 2, 3], 2])
      expect(fs.existsSync(path.join(dir, "robustmq.db"))).toBe(true)
      expect(filesOf(path.join(dir, "log", "mqtt-0"), ".log")).toEqual(["00000000000000000000.log"])
    }))

  it.effect("layerTemp provides both services", () =>
    Effect.gen(function* () {
      const driver = yield* LogDriver
      const store = yield* EventStore
      const tp = freshPartition()
      yield* driver.writeBatches([batch(tp, 0, 1)])
      expect(offsetsOf(yield* readAll(driver, tp))).toEqual([0])
      expect(yield* store.append("s", [{ type: "T", data: {} }], 0)).toBe(1)
    }).pipe(Effect.provide(Storage.layerTemp("segment"))))

  it.scoped("fails with StorageError(open) naming the path when the directory cannot be created", () =>
    Effect.gen(function* () {
      const file = path.join(yield* tempDir, "not-a-dir")
      fs.writeFileSync(file, "x")
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(SegmentLogDriver.layer({ dataDir: path.join(file, "data") })))
      )
      expect(error).toBeInstanceOf(StorageError)
      expect(error.op).toBe("open")
      expect(error.path).toContain(path.join(file, "data"))
    }))
})
