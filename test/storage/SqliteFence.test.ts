/**
 * The store fence (`--workers` take-over, SqliteWriter.StoreFence): two handles on one SQLite
 * file, as a dead worker's and the sibling serving its data would be. Opening with a newer epoch
 * fences the older holder: its next write fails (and says so), what it committed before is what
 * the newer one recovers, and an older epoch cannot open over a newer one.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { TopicPartition } from "../../domain/ids.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import * as SqliteLogDriver from "../../layers/storage-sqlite/SqliteLogDriver.js"
import type { StoreFence } from "../../layers/storage-sqlite/SqliteWriter.js"
import { LogDriver } from "../../services/LogDriver.js"
import { batch } from "./LogDriver.contract.js"

const tp = "t-0" as TopicPartition

const driverIn = (dir: string, fence: StoreFence) =>
  Effect.map(Layer.build(SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir, fence)))), (ctx) => Context.get(ctx, LogDriver))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-fence-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("SQLite store fence", () => {
  it.scoped("a newer holder fences the older one's writes; it recovers what the older one committed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fenced: Array<number> = []
      const first = yield* driverIn(dir, { epoch: 1, onFenced: (current) => fenced.push(current) })
      yield* first.writeBatches([batch(tp, 0, 3)])

      const second = yield* driverIn(dir, { epoch: 2 })
      expect(Object.fromEntries(yield* second.recover)).toEqual({ [tp]: 3 })

      const late = yield* Effect.exit(first.writeBatches([batch(tp, 3, 2)]))
      expect(Exit.isFailure(late)).toBe(true)
      if (Exit.isFailure(late)) expect(Cause.pretty(late.cause)).toMatch(/taken over by another process \(store epoch 2, this one holds 1\)/)
      expect(fenced).toEqual([2])

      // The new holder writes on from where the old one's commits ended; nothing of the refused write is there.
      yield* second.writeBatches([batch(tp, 3, 2)])
      expect(Object.fromEntries(yield* second.recover)).toEqual({ [tp]: 5 })
      expect((yield* second.readRange(tp, 0, 1 << 20)).map((b) => [b.baseOffset, b.lastOffset])).toEqual([[0, 2], [3, 4]])
    }))

  it.scoped("an older epoch cannot open a file a newer holder has fenced", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* driverIn(dir, { epoch: 5 })
      const stale = yield* Effect.exit(driverIn(dir, { epoch: 4 }))
      expect(Exit.isFailure(stale)).toBe(true)
      if (Exit.isFailure(stale)) expect(Cause.pretty(stale.cause)).toMatch(/storage open failed .*store epoch 5, this one holds 4/)
    }))

  it.scoped("without a fence the file opens and writes as always (a single node)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const ctx = yield* Layer.build(SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir))))
      const driver = Context.get(ctx, LogDriver)
      yield* driver.writeBatches([batch(tp, 0, 1)])
      expect(Object.fromEntries(yield* driver.recover)).toEqual({ [tp]: 1 })
    }))
})
