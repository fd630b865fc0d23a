/**
 * Write throughput of the message log on segment files, next to what the disk does with `dd`:
 * 1 KiB records appended through MessageLogLive (group commit, RecordBatch encoding) onto the
 * segment driver, for each fsync policy, plus SQLite for reference, all in one run on one
 * directory. Not part of `vitest bench` (it reports MB/s, not ops/s).
 *
 * Run: npx vite-node test/bench/segmentThroughput.ts [MiB per run, default 256] [dir, default tmp]
 */
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { Context, Effect, Layer } from "effect"
import { topicPartition, type TopicPartition } from "../../domain/ids.js"
import type { LogRecord } from "../../domain/message/LogRecord.js"
import * as MessageLogLive from "../../layers/MessageLogLive.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as Storage from "../../layers/Storage.js"
import { encodeBatch } from "../../domain/message/RecordBatch.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"
import { MessageLog } from "../../services/MessageLog.js"

const mib = Number(process.argv[2] ?? 256)
const root = process.argv[3] ?? Os.tmpdir()
const RECORD_BYTES = 1024
/** Records appended between two turns of the event loop (one MiB). */
const CHUNK = 1024
/** Chunks appended but not yet durable before the producer waits (bounds memory). */
const IN_FLIGHT = 16

const value = randomBytes(RECORD_BYTES)
const key = new TextEncoder().encode("bench/topic")

/** Resumes on the next turn of the event loop (setImmediate: no 1 ms timer floor). */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** dd's summary line for writing `mib` MiB (with fdatasync) into `dir`. */
const ddLine = (dir: string): string => {
  const file = NodePath.join(dir, "dd.tmp")
  try {
    // dd reports on stderr: run it through a shell to get that line.
    const out = execFileSync("sh", ["-c", `dd if=/dev/zero of='${file}' bs=1M count=${mib} conv=fdatasync 2>&1`], {
      encoding: "utf8"
    })
    return out.trim().split("\n").pop() ?? out
  } catch (e) {
    return `dd failed: ${String(e)}`
  } finally {
    Fs.rmSync(file, { force: true })
  }
}

const run = (name: string, driver: Layer.Layer<LogDriver, unknown>, partitions: number, runMib = mib) =>
  Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(MessageLogLive.layer.pipe(Layer.provide(driver)))
      const log = Context.get(context, MessageLog)
      const tps: Array<TopicPartition> = Array.from({ length: partitions }, (_, i) => topicPartition("bench", i))
      const records = Math.floor((runMib * 1024 * 1024) / RECORD_BYTES)
      const pending: Array<Promise<void>> = []
      const started = performance.now()
      for (let done = 0, chunk = 0; done < records; chunk++) {
        const tp = tps[chunk % partitions]!
        let last = 0
        const n = Math.min(CHUNK, records - done)
        const timestamp = Date.now()
        for (let i = 0; i < n; i++) {
          const record: LogRecord = { key, value, headers: [], timestamp }
          last = log.unsafeAppend(tp, record)
        }
        done += n
        pending.push(
          new Promise<void>((resolve, reject) =>
            log.unsafeOnDurable(tp, last, (error) => (error === undefined ? resolve() : reject(error)))
          )
        )
        if (pending.length >= IN_FLIGHT) yield* Effect.promise(() => pending.shift()!)
        else yield* nextTurn // let the flusher's timer and the threadpool callbacks run
      }
      yield* Effect.promise(() => Promise.all(pending))
      const seconds = (performance.now() - started) / 1000
      const mbs = (records * RECORD_BYTES) / 1e6 / seconds
      if (name === "") return
      console.log(
        `${name.padEnd(40)} ${String(records).padStart(8)} records  ${seconds.toFixed(2).padStart(6)} s  ` +
          `${mbs.toFixed(0).padStart(5)} MB/s  ${(records / seconds / 1000).toFixed(0).padStart(5)}k records/s`
      )
    })
  )

/**
 * The driver alone: the same bytes as pre-encoded 1 MiB batches (1024 records), 8 batches a
 * writeBatches call, so MessageLog's per-record work (append, encode, CRC) is out of the picture.
 */
const runDriver = (name: string, driver: Layer.Layer<LogDriver, unknown>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = Context.get(yield* Layer.build(driver), LogDriver)
      const tp = topicPartition("bench-driver", 0)
      const records: Array<LogRecord> = Array.from({ length: CHUNK }, () => ({ key, value, headers: [], timestamp: Date.now() }))
      const template = encodeBatch(0, records)
      const batches = Math.floor((mib * 1024 * 1024) / (CHUNK * RECORD_BYTES))
      const all: Array<EncodedBatch> = []
      for (let i = 0; i < batches; i++) {
        const bytes = encodeBatch(i * CHUNK, records)
        all.push({ tp, baseOffset: i * CHUNK, lastOffset: i * CHUNK + CHUNK - 1, bytes })
      }
      const started = performance.now()
      for (let i = 0; i < all.length; i += 8) yield* store.writeBatches(all.slice(i, i + 8))
      const seconds = (performance.now() - started) / 1000
      const mbs = (all.length * template.length) / 1e6 / seconds
      console.log(`${name.padEnd(40)} ${String(all.length).padStart(8)} batches  ${seconds.toFixed(2).padStart(6)} s  ${mbs.toFixed(0).padStart(5)} MB/s`)
    })
  )

const main = Effect.gen(function* () {
  const base = Fs.mkdtempSync(NodePath.join(root, "robustmq-bench-"))
  console.log(`segment store write throughput: ${mib} MiB of ${RECORD_BYTES}-byte records per run, in ${base}`)
  console.log(`node ${process.version}, ${Os.cpus().length} cpus, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`)
  console.log(`dd bs=1M count=${mib} conv=fdatasync: ${ddLine(base)}`)
  let n = 0
  const fresh = () => {
    const dir = NodePath.join(base, `run-${n++}`)
    Fs.mkdirSync(dir)
    return dir
  }
  try {
    // Warm-up (JIT, heap sizing), not reported: the first full-size run is otherwise ~30% slower.
    for (const partitions of [1, 8]) {
      const warm = fresh()
      yield* run("", SegmentLogDriver.layer({ dataDir: warm, fsync: "never" }), partitions)
      Fs.rmSync(warm, { recursive: true, force: true })
    }
    for (const fsync of ["never", "interval", "always"] as const) {
      for (const partitions of [1, 8]) {
        const dataDir = fresh()
        yield* run(`segment fsync=${fsync}, ${partitions} partition(s)`, SegmentLogDriver.layer({ dataDir, fsync }), partitions)
        Fs.rmSync(dataDir, { recursive: true, force: true })
      }
    }
    for (const fsync of ["never", "always"] as const) {
      const dataDir = fresh()
      yield* runDriver(`segment driver only, fsync=${fsync}`, SegmentLogDriver.layer({ dataDir, fsync }))
      Fs.rmSync(dataDir, { recursive: true, force: true })
    }
    const dataDir = fresh()
    yield* run("sqlite (reference), 1 partition", Storage.layer("sqlite", dataDir), 1)
    Fs.rmSync(dataDir, { recursive: true, force: true })
    console.log(`dd bs=1M count=${mib} conv=fdatasync: ${ddLine(base)}`)
  } finally {
    Fs.rmSync(base, { recursive: true, force: true })
  }
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exit(1)
})
