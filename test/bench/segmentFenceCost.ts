/**
 * What the store fence costs a segment group commit (`--workers`: each pass runs inside the
 * SQLite file's BEGIN IMMEDIATE / epoch check / COMMIT, SqliteWriter `fenced`): the same passes
 * (one 10-record batch on each of `partitions` partitions) written with and without a fence,
 * per fsync policy, alternating rounds. Not part of `vitest bench` (it reports µs per pass).
 *
 * Run: npx vite-node test/bench/segmentFenceCost.ts [passes per round, default 2000] [partitions, default 4]
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { Context, Effect, Layer } from "effect"
import { topicPartition } from "../../domain/ids.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import { SqliteWriter } from "../../layers/storage-sqlite/SqliteWriter.js"
import * as Storage from "../../layers/Storage.js"
import { encodeBatch } from "../../domain/message/RecordBatch.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"

const passes = Number(process.argv[2] ?? 2000)
const partitionCount = Number(process.argv[3] ?? 4)
const ROUNDS = 5

const value = new Uint8Array(100).fill(46)
/** Ten 100-byte records at `base` (the contract's `batch` imports vitest, so not from there). */
const batch = (tp: ReturnType<typeof topicPartition>, base: number): EncodedBatch => {
  const records = Array.from({ length: 10 }, (_, i) => ({ key: null, value, headers: [], timestamp: 1_700_000_000_000 + i }))
  return { tp, baseOffset: base, lastOffset: base + 9, bytes: encodeBatch(base, records) }
}

const run = (fsync: SegmentLogDriver.FsyncPolicy, fenced: boolean, passes: number) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-fencecost-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
    const settings = { ...SegmentLogDriver.defaultSettings, fsync }
    const ctx = yield* Layer.build(Storage.layer("segment", dir, settings, fenced ? { fence: { epoch: 1 } } : {}))
    const driver = Context.get(ctx, LogDriver)
    const tps = Array.from({ length: partitionCount }, (_, p) => topicPartition("bench", p))
    let offset = 0
    const pass = () => {
      const list = tps.map((tp) => batch(tp, offset))
      offset += 10
      return driver.writeBatches(list)
    }
    for (let i = 0; i < 200; i++) yield* pass()
    const start = process.hrtime.bigint()
    for (let i = 0; i < passes; i++) yield* pass()
    return Number(process.hrtime.bigint() - start) / 1000 / passes
  }))

/** The fence alone: BEGIN IMMEDIATE, the epoch check and COMMIT around an empty asynchronous step. */
const fenceAlone = Effect.scoped(Effect.gen(function*() {
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-fencecost-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  const writer = Context.get(yield* Layer.build(Sqlite.layer(dir, { epoch: 1 })), SqliteWriter)
  const step = () => writer.fenced!(() => Promise.resolve())
  return yield* Effect.promise(async () => {
    for (let i = 0; i < 1000; i++) await step()
    const start = process.hrtime.bigint()
    for (let i = 0; i < passes; i++) await step()
    return Number(process.hrtime.bigint() - start) / 1000 / passes
  })
}))

const main = Effect.gen(function*() {
  console.log(`the fence alone: ${(yield* fenceAlone).toFixed(1)} µs per fenced step`)
  for (const fsync of ["never", "interval", "always"] as const) {
    const plain: Array<number> = []
    const fenced: Array<number> = []
    const n = fsync === "always" ? Math.max(50, Math.floor(passes / 10)) : passes
    for (let r = 0; r < ROUNDS; r++) {
      plain.push(yield* run(fsync, false, n))
      fenced.push(yield* run(fsync, true, n))
    }
    const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    console.log(
      `fsync=${fsync} (${n} passes x ${partitionCount} partitions): ` +
        `${median(plain).toFixed(1)} µs/pass without a fence, ${median(fenced).toFixed(1)} µs/pass fenced (+${(median(fenced) - median(plain)).toFixed(1)} µs)`
    )
  }
})

// The storage's close waits on handles that do not keep the event loop alive on their own.
const alive = setInterval(() => undefined, 1000)
Effect.runPromise(main).then(() => clearInterval(alive), (e) => {
  console.error(e)
  process.exit(1)
})
