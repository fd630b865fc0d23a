/**
 * A full or failing disk under the segment store (FaultyFs, test/storage/FaultyFs.ts): while
 * writes fail with ENOSPC or EIO (after a short write, as a filling disk does), every pass fails
 * with a StorageError("write") naming the segment file and carrying the errno; nothing of a
 * failed pass becomes readable; once the fault clears, writes succeed again without a restart;
 * and the files left behind verify clean and reopen with every acknowledged batch. SQLite's I/O
 * is out of reach of a JS file layer; its full disk is simulated by capping the database with
 * `PRAGMA max_page_count` (SQLITE_FULL, as a full disk gives).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { topicPartition, type TopicPartition } from "../../domain/ids.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as SegmentVerify from "../../layers/storage-segment/SegmentVerify.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import * as SqliteLogDriver from "../../layers/storage-sqlite/SqliteLogDriver.js"
import * as SqliteWriter from "../../layers/storage-sqlite/SqliteWriter.js"
import { StorageError } from "../../services/errors.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"
import { FaultyFs } from "./FaultyFs.js"
import { batch } from "./LogDriver.contract.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-faults-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const tps: ReadonlyArray<TopicPartition> = [topicPartition("faults", 0), topicPartition("faults", 1)]

/** Writes passes of one 3-record batch per partition; offsets go on after failed passes too (as MessageLog's do). */
const writer = () => {
  const next = new Map(tps.map((tp) => [tp, 0]))
  const acked: Array<EncodedBatch> = []
  const pass = (count = 3, pad = 120): Array<EncodedBatch> =>
    tps.map((tp) => {
      const b = batch(tp, next.get(tp)!, count, pad)
      next.set(tp, next.get(tp)! + count)
      return b
    })
  return { pass, acked }
}

const readAll = (driver: SegmentLogDriver.SegmentLogDriver, tp: TopicPartition) =>
  Effect.map(driver.readRange(tp, 0, 1 << 30), (bs) => bs.map((b) => Buffer.from(b.bytes).toString("hex")))

const expected = (acked: ReadonlyArray<EncodedBatch>, tp: TopicPartition) =>
  acked.filter((b) => b.tp === tp).map((b) => Buffer.from(b.bytes).toString("hex"))

const cases = [
  ["ENOSPC", "always"],
  ["ENOSPC", "interval"],
  ["EIO", "always"],
  ["EIO", "never"]
] as const

describe("segment store on a failing disk", () => {
  for (const [code, policy] of cases) {
    it.scoped(`${code}, fsync ${policy}: writes fail cleanly with a StorageError, nothing of them is readable, writes resume when it clears, the log verifies`, () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const faulty = new FaultyFs()
        const { pass, acked } = writer()
        const options = { fsync: policy, segmentBytes: 1200, fsyncIntervalMs: 20 } as const
        yield* Effect.scoped(
          Effect.gen(function* () {
            const driver = yield* SegmentLogDriver.make({ ...options, dataDir: dir, fs: faulty })
            for (let i = 0; i < 5; i++) {
              const p = pass()
              yield* driver.writeBatches(p)
              acked.push(...p)
            }
            faulty.failWrites(code)
            // Enough failed passes that one of them would roll to a new segment.
            for (let i = 0; i < 6; i++) {
              const error = yield* Effect.flip(driver.writeBatches(pass()))
              expect(error).toBeInstanceOf(StorageError)
              expect(error.op).toBe("write")
              expect(error.message).toContain(code)
              expect(error.message).toMatch(/faults-[01]/) // names the partition's file
              for (const tp of tps) expect(yield* readAll(driver, tp)).toEqual(expected(acked, tp))
            }
            faulty.heal()
            // Smaller than what a failed write left behind: that must not stay after it.
            const small = pass(1, 0)
            yield* driver.writeBatches(small)
            acked.push(...small)
            for (const tp of tps) expect(yield* readAll(driver, tp)).toEqual(expected(acked, tp))
          })
        )
        const reports = yield* Effect.promise(() => SegmentVerify.verify(path.join(dir, "log")))
        expect(reports.filter((r) => r.status === "bad" || r.status === "torn")).toEqual([])
        // Reopened, everything acknowledged is there and writes go on (rolling along the way).
        yield* Effect.scoped(
          Effect.gen(function* () {
            const driver = yield* SegmentLogDriver.make({ ...options, dataDir: dir, fs: faulty })
            for (const tp of tps) expect(yield* readAll(driver, tp)).toEqual(expected(acked, tp))
            for (let i = 0; i < 6; i++) {
              const p = pass()
              yield* driver.writeBatches(p)
              acked.push(...p)
            }
            for (const tp of tps) expect(yield* readAll(driver, tp)).toEqual(expected(acked, tp))
            expect(driver.stats.rolls).toBeGreaterThan(0)
          })
        )
      }))
  }

  it.scoped("fsync always: a failed fdatasync fails the pass and none of it becomes readable", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const faulty = new FaultyFs()
      const { pass, acked } = writer()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const driver = yield* SegmentLogDriver.make({ fsync: "always", dataDir: dir, fs: faulty })
          const first = pass()
          yield* driver.writeBatches(first)
          acked.push(...first)
          faulty.failSyncs()
          const error = yield* Effect.flip(driver.writeBatches(pass()))
          expect(error.message).toMatch(/EIO.*fdatasync/)
          for (const tp of tps) expect(yield* readAll(driver, tp)).toEqual(expected(acked, tp))
          faulty.heal()
          const again = pass()
          yield* driver.writeBatches(again)
          acked.push(...again)
          for (const tp of tps) expect(yield* readAll(driver, tp)).toEqual(expected(acked, tp))
        })
      )
      expect((yield* Effect.promise(() => SegmentVerify.verify(path.join(dir, "log")))).filter((r) => r.status !== "ok")).toEqual([])
    }))
})

describe("SQLite on a full disk (the database capped with PRAGMA max_page_count)", () => {
  it.scoped("writes fail with StorageError (SQLITE_FULL), roll back whole, resume when there is room, integrity ok", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { pass, acked } = writer()
      yield* Effect.gen(function* () {
        const driver = yield* LogDriver
        const { db } = yield* SqliteWriter.SqliteWriter
        for (let i = 0; i < 5; i++) {
          const p = pass()
          yield* driver.writeBatches(p)
          acked.push(...p)
        }
        const pages = db.pragma("page_count", { simple: true }) as number
        db.pragma(`max_page_count = ${pages}`)
        let failed = 0
        // Bounded: the database is full after a few passes at most.
        for (let i = 0; i < 50 && failed < 3; i++) {
          const p = pass(3, 2000)
          const exit = yield* Effect.exit(driver.writeBatches(p))
          if (exit._tag === "Success") acked.push(...p)
          else {
            failed++
            const error = yield* Effect.flip(Effect.suspend(() => exit))
            expect(error).toBeInstanceOf(StorageError)
            expect(error.message).toMatch(/full/i)
          }
          for (const tp of tps) {
            const read = yield* driver.readRange(tp, 0, 1 << 30)
            expect(read.map((b) => Buffer.from(b.bytes).toString("hex"))).toEqual(expected(acked, tp))
          }
        }
        expect(failed).toBe(3)
        db.pragma("max_page_count = 1073741823")
        const p = pass()
        yield* driver.writeBatches(p)
        acked.push(...p)
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok")
      }).pipe(Effect.provide(SqliteLogDriver.layer.pipe(Layer.provideMerge(Sqlite.layer(dir)))))
      // Reopened: every acknowledged batch, nothing else.
      yield* Effect.gen(function* () {
        const driver = yield* LogDriver
        for (const tp of tps) {
          const read = yield* driver.readRange(tp, 0, 1 << 30)
          expect(read.map((b) => Buffer.from(b.bytes).toString("hex"))).toEqual(expected(acked, tp))
        }
      }).pipe(Effect.provide(SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir)))))
    }))
})
