/**
 * Segment storage under the store fence (`--workers` take-over): segment-file writes run inside
 * the SQLite file's fenced write transaction (SqliteWriter `fenced`). Two storages on one data
 * directory, as a dead worker's and the sibling serving its data would be: a newer holder fences
 * the older one's segment writes (rolls included: no file of the refused write appears), sees
 * what it committed, and the first holder, opening again, reads what the sibling appended.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Cause, Context, Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { TopicPartition } from "../../domain/ids.js"
import { DB_FILE } from "../../layers/storage-sqlite/Sqlite.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import { SqliteWriter, type StoreFence } from "../../layers/storage-sqlite/SqliteWriter.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import { readRecoveryPoints } from "../../layers/storage-segment/RecoveryPoints.js"
import { nodeFs } from "../../layers/storage-segment/SegmentFs.js"
import * as Storage from "../../layers/Storage.js"
import { LogDriver } from "../../services/LogDriver.js"
import { batch } from "./LogDriver.contract.js"

const tp = "t-0" as TopicPartition

/** Tiny segments, so the holders roll files; fsync always, the strictest path. */
const settings: SegmentLogDriver.SegmentSettings = { ...SegmentLogDriver.defaultSettings, segmentBytes: 400, fsync: "always" }

const segmentStorage = (dir: string, fence: StoreFence) =>
  Effect.map(Layer.build(Storage.layer("segment", dir, settings, { fence })), (ctx) => Context.get(ctx, LogDriver))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-segfence-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const segmentFiles = (dir: string) =>
  fs.readdirSync(path.join(dir, "log"), { recursive: true }).map(String).filter((f) => f.endsWith(".log")).sort()

const ranges = (driver: LogDriver["Type"]) =>
  Effect.map(driver.readRange(tp, 0, 1 << 20), (list) => list.map((b) => [b.baseOffset, b.lastOffset]))

describe("segment storage under the store fence", () => {
  it.scoped("a newer holder fences the older one's segment writes and rolls; it goes on from what the older one committed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fenced: Array<number> = []
      const first = yield* segmentStorage(dir, { epoch: 1, onFenced: (current) => fenced.push(current) })
      yield* first.writeBatches([batch(tp, 0, 3, 40)])

      const second = yield* segmentStorage(dir, { epoch: 2 })
      expect(Object.fromEntries(yield* second.recover)).toEqual({ [tp]: 3 })
      const filesBefore = segmentFiles(dir)

      // Big enough to roll a new segment: refused before any file is made or written.
      const late = yield* Effect.exit(first.writeBatches([batch(tp, 3, 6, 60)]))
      expect(Exit.isFailure(late)).toBe(true)
      if (Exit.isFailure(late)) expect(Cause.pretty(late.cause)).toMatch(/taken over by another process \(store epoch 2, this one holds 1\)/)
      expect(fenced).toEqual([2])
      expect(segmentFiles(dir)).toEqual(filesBefore)

      yield* second.writeBatches([batch(tp, 3, 2, 40)])
      yield* second.writeBatches([batch(tp, 5, 6, 60)])
      expect(yield* ranges(second)).toEqual([[0, 2], [3, 4], [5, 10]])
      expect(segmentFiles(dir).length).toBeGreaterThan(filesBefore.length)
      // Nor retention nor truncation by the fenced holder touches the files.
      expect(Exit.isFailure(yield* Effect.exit(first.truncateBefore(tp, 5)))).toBe(true)
      expect(yield* ranges(second)).toEqual([[0, 2], [3, 4], [5, 10]])
    }))

  it.scoped("the home, opening again, recovers what the sibling appended (new segments included) and goes on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // The home writes, and dies without closing anything.
      const home = yield* segmentStorage(dir, { epoch: 1 })
      yield* home.writeBatches([batch(tp, 0, 3, 40)])
      // A sibling takes over, appends (rolling), and lets go again.
      yield* Effect.scoped(Effect.gen(function*() {
        const sibling = yield* segmentStorage(dir, { epoch: 2 })
        yield* sibling.writeBatches([batch(tp, 3, 4, 60)])
        yield* sibling.writeBatches([batch(tp, 7, 4, 60)])
      }))
      // The home is started again and claims its store back.
      const back = yield* segmentStorage(dir, { epoch: 3 })
      expect(Object.fromEntries(yield* back.recover)).toEqual({ [tp]: 11 })
      yield* back.writeBatches([batch(tp, 11, 1)])
      expect(yield* ranges(back)).toEqual([[0, 2], [3, 6], [7, 10], [11, 11]])
    }))

  it.scoped("a fenced holder's periodic sync does not rewrite the recovery points the next holder keeps", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const segmentOn = (epoch: number) =>
        Effect.gen(function*() {
          const writer = Context.get(yield* Layer.build(Sqlite.layer(dir, { epoch })), SqliteWriter)
          // The timer never fires here: the test runs each sync itself.
          return yield* SegmentLogDriver.make({ dataDir: dir, fsync: "interval", fsyncIntervalMs: 3_600_000, fenced: writer.fenced! })
        })
      const first = yield* segmentOn(1)
      yield* first.writeBatches([batch(tp, 0, 3)])
      const second = yield* segmentOn(2)
      yield* second.writeBatches([batch(tp, 3, 2)])
      yield* second.syncDirty
      const points = () => Effect.promise(() => readRecoveryPoints(nodeFs, path.join(dir, "log")))
      const kept = yield* points()
      expect([...kept!.values()]).toEqual([5])
      // The first holder still has its own write of 0-2 to sync, and its points (3) to record.
      const late = yield* Effect.exit(first.syncDirty)
      expect(Exit.isFailure(late)).toBe(true)
      expect(yield* points()).toEqual(kept)
    }))

  it.scoped("the SQLite write lock is held while the fenced work runs; the writer's transactions wait their turn", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const ctx = yield* Layer.build(Sqlite.layer(dir, { epoch: 1 }))
      const writer = Context.get(ctx, SqliteWriter)
      const other = new Database(path.join(dir, DB_FILE), { timeout: 0 })
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      const order: Array<string> = []
      let release!: () => void
      const held = writer.fenced!(async () => {
        order.push("fenced work starts")
        await new Promise<void>((r) => (release = r))
        order.push("fenced work ends")
      })
      yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
      // Another process's claim (a write transaction) cannot start now.
      expect(() => other.prepare("BEGIN IMMEDIATE").run()).toThrow(/database is locked/)
      const queued = Effect.runPromise(writer.transaction("write", () => void order.push("transaction")))
      yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
      expect(order).toEqual(["fenced work starts"])
      release()
      yield* Effect.promise(() => Promise.all([held, queued]))
      expect(order).toEqual(["fenced work starts", "fenced work ends", "transaction"])
      other.prepare("BEGIN IMMEDIATE").run()
      other.prepare("ROLLBACK").run()
    }))
})
