/**
 * Power loss, simulated. A SIGKILL keeps the page cache, so it cannot show what an fsync policy
 * is worth; here the drivers run over files that forget what was not fsynced.
 *
 * Segment store: over FaultyFs (test/storage/FaultyFs.ts), two partitions with small segments
 * (so it rolls) take acknowledged passes at random moments; the power is cut in one of three
 * ways (lose everything unsynced, keep a torn prefix of it, keep the size but zeros); the store
 * reopens on the real files. Every policy must reopen (no policy ever leaves a log that fails to
 * open), read back only whole batches, byte for byte as written, and continue at the recovered
 * end; `always` must keep every acknowledged batch; `interval` every batch acknowledged more
 * than its interval (plus scheduling slack) before the cut.
 *
 * SQLite: its I/O is inside better-sqlite3, out of reach of a JS file layer. With WAL and
 * synchronous=NORMAL the WAL is fsynced only by a checkpoint, so the durable state is the
 * database and WAL as the last checkpoint left them. The test copies both right after a
 * checkpoint, commits more, then puts the copies back (plus, in the torn variant, a prefix of
 * the WAL written since) as a power loss would leave them.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { topicPartition, type TopicPartition } from "../../domain/ids.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as SegmentVerify from "../../layers/storage-segment/SegmentVerify.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import * as SqliteLogDriver from "../../layers/storage-sqlite/SqliteLogDriver.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"
import { type CutMode, FaultyFs, rng } from "./FaultyFs.js"
import { batch } from "./LogDriver.contract.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-power-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const INTERVAL_MS = 40
/** Scheduling slack on a shared 2-core machine: a sync tick can start this late. */
const SLACK_MS = 150

interface Acked {
  readonly batch: EncodedBatch
  readonly at: number
}

interface Outcome {
  readonly acked: number
  readonly lost: number
  /** Age at the cut of the oldest acknowledged batch that was lost (0 when none was). */
  readonly lostWindowMs: number
  /** The store refused to open (damage, not a torn tail) and opened after `log repair`. */
  readonly refused: boolean
}

/** One run: write, cut, reopen, check; returns what was lost. */
const segmentRun = (policy: "always" | "interval" | "never", mode: CutMode, seed: number) =>
  Effect.gen(function* () {
    const random = rng(seed)
    const dir = yield* tempDir
    const tps: ReadonlyArray<TopicPartition> = [topicPartition("power", 0), topicPartition("power", 1)]
    const acked = new Map<TopicPartition, Array<Acked>>(tps.map((tp) => [tp, []]))
    const next = new Map<TopicPartition, number>(tps.map((tp) => [tp, 0]))
    const faulty = new FaultyFs()
    const inFlight: Array<EncodedBatch> = []
    const options = { fsync: policy, fsyncIntervalMs: INTERVAL_MS, segmentBytes: 2048, retentionCheckMs: 3_600_000 }

    const passes = 20 + Math.floor(random() * 40)
    // The cut lands inside a write of a pass in the second half (that pass is not acknowledged).
    const armAt = Math.floor(passes / 2) + Math.floor(random() * (passes / 2))
    let cutAt = 0
    yield* Effect.scoped(
      Effect.gen(function* () {
        const driver = yield* SegmentLogDriver.make({ ...options, dataDir: dir, fs: faulty })
        for (let i = 0; i < passes && !faulty.isDead; i++) {
          if (i === armAt) faulty.armCut(1 + Math.floor(random() * 2), mode, random)
          const pass: Array<EncodedBatch> = []
          for (const tp of tps) {
            const n = Math.floor(random() * 3) // 0-2 batches for this partition
            for (let k = 0; k < n; k++) {
              const count = 1 + Math.floor(random() * 4)
              pass.push(batch(tp, next.get(tp)!, count, 40))
              next.set(tp, next.get(tp)! + count)
            }
          }
          const exit = yield* Effect.exit(driver.writeBatches(pass))
          if (exit._tag === "Failure") {
            expect(faulty.isDead, `a write failed before the cut: ${String(exit.cause)}`).toBe(true)
            // Not acknowledged, but it may have reached the disk: either outcome is right.
            inFlight.push(...pass)
            break
          }
          const at = Date.now()
          for (const b of pass) acked.get(b.tp)!.push({ batch: b, at })
          yield* Effect.sleep(Math.floor(random() * 12))
        }
        if (!faulty.isDead) faulty.powerCut(mode, random)
        cutAt = Date.now()
      })
    )

    // Reopen on the real files: it must open, whatever the policy, except with `never` after a
    // reordering cut, which may leave a bad batch with a whole one behind it and no recovery
    // point to say it was never synced: then the open must refuse, naming the file, and open
    // after `log repair`.
    let refused = false
    const open = SegmentLogDriver.make({ ...options, dataDir: dir })
    const opened = yield* Effect.either(Effect.scoped(Effect.flatMap(open, () => Effect.void)))
    if (opened._tag === "Left") {
      refused = true
      expect([mode, policy], opened.left.message).toEqual(["reorder", "never"])
      expect(opened.left.message).toMatch(/\.log is damaged at position \d+ .*robustmq log repair/)
      yield* Effect.promise(() => SegmentVerify.repair(path.join(dir, "log")))
    }
    return yield* Effect.scoped(
      Effect.gen(function* () {
        const driver = yield* open
        const ends = yield* driver.recover
        let total = 0
        let lost = 0
        let lostWindowMs = 0
        for (const tp of tps) {
          const written = acked.get(tp)!
          total += written.length
          const byBase = new Map(written.map((a) => [a.batch.baseOffset, a.batch]))
          for (const b of inFlight) if (b.tp === tp) byBase.set(b.baseOffset, b)
          const read = yield* driver.readRange(tp, 0, 1 << 30)
          let previous = -1
          for (const b of read) {
            // Whole batches only, each exactly as written, offsets moving forward.
            const original = byBase.get(b.baseOffset)
            expect(original, `${tp} @${b.baseOffset} was never written`).toBeDefined()
            expect(Buffer.from(b.bytes).equals(Buffer.from(original!.bytes))).toBe(true)
            expect(b.baseOffset).toBeGreaterThan(previous)
            previous = b.lastOffset
          }
          const present = new Set(read.map((b) => b.baseOffset))
          for (const a of written) {
            if (present.has(a.batch.baseOffset)) continue
            lost++
            lostWindowMs = Math.max(lostWindowMs, cutAt - a.at)
            const where = `${policy}/${mode}/seed ${seed}: ${tp} @${a.batch.baseOffset}, acknowledged ${cutAt - a.at} ms before the cut, lost`
            // A repair after a reordering cut may cut acknowledged batches behind the hole.
            if (policy === "always" && !refused) expect.fail(where)
            if (policy === "interval" && !refused) expect(cutAt - a.at, where).toBeLessThanOrEqual(INTERVAL_MS + SLACK_MS)
          }
          // Appends continue at the recovered end.
          const end = ends.get(tp) ?? 0
          yield* driver.writeBatches([batch(tp, end, 1)])
          const tail = yield* driver.readRange(tp, end, 1 << 20)
          expect(tail.map((b) => b.baseOffset)).toEqual([end])
        }
        return { acked: total, lost, lostWindowMs, refused } satisfies Outcome
      })
    )
  })

/** 3 seeded runs per case; ROBUSTMQ_POWER_LOSS_RUNS=N for a longer measurement. */
const SEEDS = Array.from({ length: Number(process.env.ROBUSTMQ_POWER_LOSS_RUNS ?? 3) }, (_, i) => i + 1)

describe("power loss, simulated: segment store", () => {
  for (const policy of ["always", "interval", "never"] as const) {
    for (const mode of ["lose-all", "keep-prefix", "zero-tail", "reorder"] as const) {
      it.live(`fsync ${policy}, cut ${mode}: reopens, whole batches only, ${
        policy === "always" ? "nothing acknowledged lost" : policy === "interval" ? "loses at most the interval" : "no promise beyond opening"
      }`, () =>
        Effect.gen(function* () {
          const outcomes: Array<Outcome> = []
          for (const seed of SEEDS) {
            // Recovery's warnings about the tails it cut, and the store's failing syncs after the cut, are expected.
            outcomes.push(yield* Effect.scoped(segmentRun(policy, mode, seed)).pipe(Logger.withMinimumLogLevel(LogLevel.None)))
          }
          const acked = outcomes.reduce((n, o) => n + o.acked, 0)
          const lost = outcomes.reduce((n, o) => n + o.lost, 0)
          const window = Math.max(...outcomes.map((o) => o.lostWindowMs))
          const refused = outcomes.filter((o) => o.refused).length
          // One line per policy and mode, for docs/reliability.md.
          console.log(`power-loss segment fsync=${policy} cut=${mode}: ${outcomes.length} runs, ${acked} batches acknowledged, ${lost} lost, oldest lost ${window} ms before the cut, ${refused} refused to open (repaired)`)
          expect(acked).toBeGreaterThan(0)
          // With a recovery point (always, interval) a reordered unsynced tail is cut like any
          // torn tail; only `never`, which writes none, can take it for damage.
          if (mode !== "reorder" || policy !== "never") expect(refused).toBe(0)
          if (policy === "always" && refused === 0) expect(lost).toBe(0)
          // With no fsync at all, a cut that forgets what was unsynced forgets everything.
          if (policy === "never" && mode === "lose-all") expect(lost).toBe(acked)
        }), 60_000)
    }
  }
})

// ---------------------------------------------------------------------------------------------
// SQLite

const sqliteDriver = (dir: string) => SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir)))

describe("power loss, simulated: SQLite (WAL, synchronous=NORMAL)", () => {
  it.scoped("everything since the last checkpoint lost, or a torn prefix of it kept: opens, integrity ok, a prefix of the commits, all checkpointed ones kept", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const image = yield* tempDir
      const file = path.join(dir, Sqlite.DB_FILE)
      const tp = topicPartition("power-sqlite", 0)
      let checkpointedEnd = 0
      let committedEnd = 0
      let walNow = Buffer.alloc(0)
      yield* Effect.gen(function* () {
        const driver = yield* LogDriver
        for (let i = 0; i < 40; i++) {
          yield* driver.writeBatches([batch(tp, i * 3, 3, 60)])
          committedEnd = i * 3 + 3
          if (i === 24) {
            // A checkpoint (what the Checkpointer thread runs every 200 ms) makes the WAL and
            // the pages it copied durable; nothing writes between it and the copy.
            const db = new Database(file)
            db.pragma("wal_checkpoint(PASSIVE)")
            db.close()
            fs.copyFileSync(file, path.join(image, "db"))
            fs.copyFileSync(`${file}-wal`, path.join(image, "wal"))
            checkpointedEnd = committedEnd
          }
        }
        // The WAL as the last commit left it (closing checkpoints it into the database).
        walNow = fs.readFileSync(`${file}-wal`)
      }).pipe(Effect.provide(sqliteDriver(dir)))

      // A power loss leaves the durable images; the WAL perhaps with a prefix of what was
      // written to it since (fractions of the WAL as it ended).
      const durableWal = fs.readFileSync(path.join(image, "wal"))
      const variants: ReadonlyArray<readonly [string, Buffer]> = [
        ["WAL since the checkpoint lost", durableWal],
        ...[0.05, 0.2, 0.5, 0.8].map((f) => {
          const keep = Math.floor(walNow.length * f)
          return [`torn WAL, first ${f * 100}% kept`, Buffer.concat([walNow.subarray(0, keep), durableWal.subarray(Math.min(keep, durableWal.length))])] as const
        })
      ]
      for (const [name, wal] of variants) {
        const cut = path.join(image, name.replace(/\W+/g, "-"))
        fs.mkdirSync(cut)
        fs.copyFileSync(path.join(image, "db"), path.join(cut, Sqlite.DB_FILE))
        fs.writeFileSync(path.join(cut, `${Sqlite.DB_FILE}-wal`), wal)
        const check = new Database(path.join(cut, Sqlite.DB_FILE))
        expect(check.pragma("integrity_check", { simple: true }), name).toBe("ok")
        check.close()
        yield* Effect.gen(function* () {
          const driver = yield* LogDriver
          const end = (yield* driver.recover).get(tp) ?? 0
          expect(end, name).toBeGreaterThanOrEqual(checkpointedEnd)
          expect(end, name).toBeLessThanOrEqual(committedEnd)
          const read = yield* driver.readRange(tp, 0, 1 << 30)
          // A prefix of the commits: none missing before the end.
          expect(read.map((b) => b.baseOffset), name).toEqual(Array.from({ length: end / 3 }, (_, i) => i * 3))
          console.log(`power-loss sqlite, ${name}: ${committedEnd / 3} commits, ${checkpointedEnd / 3} checkpointed, ${end / 3} after the cut`)
          yield* driver.writeBatches([batch(tp, end, 1)])
        }).pipe(Effect.provide(sqliteDriver(cut)))
      }
    }))
})
