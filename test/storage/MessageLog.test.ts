/**
 * MessageLogLive over the memory, SQLite and segment drivers: offsets, durability callbacks, reads that
 * merge stored and unflushed records, group commit, restart recovery and write failures.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { TopicPartition } from "../../domain/ids.js"
import type { StoredRecord } from "../../domain/message/LogRecord.js"
import * as MessageLogLive from "../../layers/MessageLogLive.js"
import * as MemoryLogDriver from "../../layers/storage-memory/MemoryLogDriver.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import * as SqliteLogDriver from "../../layers/storage-sqlite/SqliteLogDriver.js"
import * as Storage from "../../layers/Storage.js"
import { StorageError } from "../../services/errors.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"
import { MessageLog } from "../../services/MessageLog.js"
import { freshPartition, record } from "./LogDriver.contract.js"

const text = (r: StoredRecord) => Buffer.from(r.value!).toString()

/** Collects durability callbacks: the offset, or `!offset` for a failure. */
const collector = (log: MessageLog["Type"], tp: TopicPartition) => {
  const seen: Array<string> = []
  const watch = (offset: number) =>
    log.unsafeOnDurable(tp, offset, (error) => seen.push(error === undefined ? `${offset}` : `!${offset}`))
  return { seen, watch }
}

const drivers: ReadonlyArray<readonly [string, Layer.Layer<LogDriver, unknown>]> = [
  ["memory", MemoryLogDriver.layer],
  ["sqlite", SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layerTemp))],
  ["segment", SegmentLogDriver.layerTemp({ segmentBytes: 4096, indexIntervalBytes: 256 })]
]

for (const [name, driver] of drivers) {
  layer(MessageLogLive.layer.pipe(Layer.provide(driver)))(`MessageLog on ${name}`, (it) => {
    it.effect("assigns consecutive offsets and reads them back", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        expect(log.unsafeEndOffset(tp)).toBe(0)
        expect([log.unsafeAppend(tp, record("a")), log.unsafeAppend(tp, record("b"))]).toEqual([0, 1])
        expect(log.unsafeEndOffset(tp)).toBe(2)
        expect(log.unsafePartitions()).toContain(tp)
        yield* log.flush
        expect(log.unsafeAppend(tp, record("c"))).toBe(2)
        yield* log.flush
        const read = yield* log.read(tp, 0, 1 << 20)
        expect(read.map((r) => [r.offset, text(r)])).toEqual([[0, "a"], [1, "b"], [2, "c"]])
        expect((yield* log.read(tp, 1, 1 << 20)).map((r) => r.offset)).toEqual([1, 2])
        expect(yield* log.read(tp, 3, 1 << 20)).toEqual([])
      }))

    it.effect("runs durability callbacks after the flush, in order", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        const { seen, watch } = collector(log, tp)
        for (let i = 0; i < 5; i++) watch(log.unsafeAppend(tp, record(`m${i}`)))
        expect(seen).toEqual([]) // nothing is durable before the flusher ran
        yield* log.flush
        expect(seen).toEqual(["0", "1", "2", "3", "4"])
        watch(2) // already durable: runs at once
        expect(seen.at(-1)).toBe("2")
      }))

    it.effect("reads appended records before they are flushed, merged with stored ones", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        for (let i = 0; i < 3; i++) log.unsafeAppend(tp, record(`s${i}`))
        yield* log.flush
        for (let i = 3; i < 6; i++) log.unsafeAppend(tp, record(`s${i}`))
        const read = yield* log.read(tp, 1, 1 << 20)
        expect(read.map((r) => [r.offset, text(r)])).toEqual([1, 2, 3, 4, 5].map((o) => [o, `s${o}`]))
        yield* log.flush
      }))

    it.effect("a read stops at maxBytes but returns at least one record", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        for (let i = 0; i < 50; i++) log.unsafeAppend(tp, record("x".repeat(100)))
        expect((yield* log.read(tp, 0, 1)).map((r) => r.offset)).toEqual([0])
        const partial = yield* log.read(tp, 10, 1000)
        expect(partial.length).toBeGreaterThan(1)
        expect(partial.length).toBeLessThan(40)
        expect(partial[0]!.offset).toBe(10)
        yield* log.flush
        expect((yield* log.read(tp, 20, 1)).map((r) => r.offset)).toEqual([20])
      }))

    it.effect("keeps partitions apart", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const a = freshPartition()
        const b = freshPartition()
        log.unsafeAppend(a, record("a0"))
        log.unsafeAppend(b, record("b0"))
        log.unsafeAppend(a, record("a1"))
        yield* log.flush
        expect((yield* log.read(a, 0, 1 << 20)).map(text)).toEqual(["a0", "a1"])
        expect((yield* log.read(b, 0, 1 << 20)).map(text)).toEqual(["b0"])
      }))

    it.effect("a throwing callback does not stop the flusher", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        const { seen, watch } = collector(log, tp)
        log.unsafeOnDurable(tp, log.unsafeAppend(tp, record("boom")), () => {
          throw new Error("callback bug")
        })
        watch(log.unsafeAppend(tp, record("ok")))
        yield* log.flush
        expect(seen).toEqual(["1"])
        watch(log.unsafeAppend(tp, record("later")))
        yield* log.flush
        expect(seen).toEqual(["1", "2"])
      }))
  })
}

/** A memory driver that counts writeBatches calls and can hold or fail them. */
const instrumentedDriver = (probe: {
  calls: number
  batches: Array<EncodedBatch>
  fail: boolean
  gate: Deferred.Deferred<void> | null
}) =>
  Layer.effect(
    LogDriver,
    Effect.map(MemoryLogDriver.make, (inner) =>
      LogDriver.of({
        ...inner,
        writeBatches: (batches) =>
          Effect.suspend(() => {
            probe.calls++
            probe.batches.push(...batches)
            const write = probe.fail
              ? Effect.fail(new StorageError({ op: "write", cause: new Error("disk on fire") }))
              : inner.writeBatches(batches)
            return probe.gate === null ? write : Effect.zipRight(Deferred.await(probe.gate), write)
          })
      }))
  )

/** Resumes after a turn of the event loop (the flusher waits for pending I/O with setImmediate). */
const nextMacrotask = Effect.async<void>((resume) => {
  const timer = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(timer))
})

/** MessageLogLive over `driverLayer`, alive until the test's scope closes. */
const buildLog = (driverLayer: Layer.Layer<LogDriver>) =>
  Effect.map(Layer.build(MessageLogLive.layer.pipe(Layer.provide(driverLayer))), Context.get(MessageLog))

const newProbe = () => ({ calls: 0, batches: [] as Array<EncodedBatch>, fail: false, gate: null as Deferred.Deferred<void> | null })

/** A log whose writes wait for `gate`; the gate opens when the test's scope closes, before the log's final flush. */
const gatedLog = Effect.gen(function* () {
  const probe = newProbe()
  const gate = yield* Deferred.make<void>()
  probe.gate = gate
  const log = yield* buildLog(instrumentedDriver(probe))
  yield* Effect.addFinalizer(() => Deferred.succeed(gate, undefined))
  return { gate, log, probe }
})

describe("MessageLog group commit and failures", () => {
  it.scoped("10k appends from a sync loop become one writeBatches call", () =>
    Effect.gen(function* () {
      const probe = newProbe()
      const log = yield* buildLog(instrumentedDriver(probe))
      const tps = [freshPartition(), freshPartition(), freshPartition()]
      let durable = 0
      for (let i = 0; i < 10_000; i++) {
        const tp = tps[i % 3]!
        log.unsafeOnDurable(tp, log.unsafeAppend(tp, record(`r${i}`)), () => durable++)
      }
      yield* log.flush
      expect(probe.calls).toBe(1)
      expect(probe.batches.length).toBe(3)
      expect(durable).toBe(10_000)
    }))

  it.scoped("a batch is sealed at 10k records, still in a single write", () =>
    Effect.gen(function* () {
      const probe = newProbe()
      const log = yield* buildLog(instrumentedDriver(probe))
      const tp = freshPartition()
      for (let i = 0; i < 25_000; i++) log.unsafeAppend(tp, record("r"))
      yield* log.flush
      expect(probe.calls).toBe(1)
      expect(probe.batches.map((b) => [b.baseOffset, b.lastOffset])).toEqual([[0, 9_999], [10_000, 19_999], [20_000, 24_999]])
      expect((yield* log.read(tp, 19_999, 1)).map((r) => r.offset)).toEqual([19_999])
    }))

  it.scoped("appends made during a write wait for the next one, and stay readable meanwhile", () =>
    Effect.gen(function* () {
      const { gate, log, probe } = yield* gatedLog
      const tp = freshPartition()
      const { seen, watch } = collector(log, tp)
      watch(log.unsafeAppend(tp, record("first")))
      // Let the flusher start writing (it waits for pending I/O first); it then blocks on the gate.
      for (let i = 0; i < 100 && probe.calls === 0; i++) yield* nextMacrotask
      expect(probe.calls).toBe(1)
      for (let i = 0; i < 100; i++) watch(log.unsafeAppend(tp, record(`next${i}`)))
      expect((yield* log.read(tp, 0, 1 << 20)).length).toBe(101)
      expect(seen).toEqual([])
      yield* Deferred.succeed(gate, undefined)
      yield* log.flush
      expect(probe.calls).toBe(2)
      expect(probe.batches.map((b) => b.lastOffset - b.baseOffset + 1)).toEqual([1, 100])
      expect(seen).toEqual(Array.from({ length: 101 }, (_, i) => `${i}`))
    }))

  it.scoped("the pass listener takes what was appended before the pass, and hears of it before the durability callbacks", () =>
    Effect.gen(function* () {
      const { gate, log, probe } = yield* gatedLog
      const tp = freshPartition()
      const events: Array<string> = []
      let pass = 0
      log.unsafeOnPass(() => {
        const taken = `pass${++pass}@${log.unsafeEndOffset(tp)}`
        events.push(`take ${taken}`)
        return (ok) => events.push(`${ok ? "written" : "failed"} ${taken}`)
      })
      log.unsafeOnDurable(tp, log.unsafeAppend(tp, record("a")), () => events.push("durable 0"))
      for (let i = 0; i < 100 && probe.calls === 0; i++) yield* nextMacrotask
      // Appended while the first pass writes: not in it, so not heard of as written with it.
      log.unsafeOnDurable(tp, log.unsafeAppend(tp, record("b")), () => events.push("durable 1"))
      yield* Deferred.succeed(gate, undefined)
      yield* log.flush
      expect(events.slice(0, 6)).toEqual(["take pass1@1", "written pass1@1", "durable 0", "take pass2@2", "written pass2@2", "durable 1"])
      probe.fail = true
      log.unsafeAppend(tp, record("c"))
      yield* Effect.flip(log.flush)
      expect(events.at(-1)).toBe("failed pass3@3")
    }))

  it.scoped("a failing driver fails the callbacks and the flush; lost offsets are not readable", () =>
    Effect.gen(function* () {
      const probe = newProbe()
      const log = yield* buildLog(instrumentedDriver(probe))
      const tp = freshPartition()
      const { seen, watch } = collector(log, tp)
      let error: unknown
      log.unsafeOnDurable(tp, log.unsafeAppend(tp, record("ok")), () => {})
      yield* log.flush
      probe.fail = true
      log.unsafeOnDurable(tp, log.unsafeAppend(tp, record("lost1")), (e) => (error = e))
      watch(log.unsafeAppend(tp, record("lost2")))
      const flushError = yield* Effect.flip(log.flush)
      expect(flushError).toBeInstanceOf(StorageError)
      expect(flushError.op).toBe("write")
      expect(error).toBe(flushError)
      expect(seen).toEqual(["!2"])
      watch(1) // a late callback on a lost offset fails at once
      expect(seen).toEqual(["!2", "!1"])

      probe.fail = false
      expect(log.unsafeAppend(tp, record("after"))).toBe(3)
      watch(3)
      yield* log.flush
      expect(seen).toEqual(["!2", "!1", "3"])
      expect((yield* log.read(tp, 0, 1 << 20)).map((r) => [r.offset, text(r)])).toEqual([[0, "ok"], [3, "after"]])
    }))

  it.scoped("appending never reads a record's key or headers (they may be computed lazily)", () =>
    Effect.gen(function* () {
      const log = yield* buildLog(MemoryLogDriver.layer)
      const tp = freshPartition()
      let reads = 0
      const lazy = {
        get key() {
          reads++
          return Buffer.from("lazy/topic")
        },
        value: Buffer.from("payload"),
        get headers() {
          reads++
          return [{ key: "mqtt.qos", value: Buffer.from("1") }]
        },
        timestamp: 1
      }
      for (let i = 0; i < 100; i++) log.unsafeAppend(tp, lazy)
      expect(reads).toBe(0)
      yield* log.flush
      expect(reads).toBeGreaterThan(0)
      const read = yield* log.read(tp, 99, 1 << 20)
      expect(read.map((r) => [r.offset, Buffer.from(r.key!).toString(), r.headers[0]!.key])).toEqual([[99, "lazy/topic", "mqtt.qos"]])
    }))

  it.scoped("a callback for an offset never appended reports an error", () =>
    Effect.gen(function* () {
      const log = yield* buildLog(MemoryLogDriver.layer)
      const errors: Array<unknown> = []
      log.unsafeOnDurable(freshPartition(), 5, (e) => errors.push(e))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toBeInstanceOf(StorageError)
    }))
})

for (const kind of ["sqlite", "segment"] as const) {
  describe(`MessageLog on ${kind} across restarts`, () => {
    const tempDir = Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-log-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const logOn = (dir: string) => MessageLogLive.layer.pipe(Layer.provide(Storage.layer(kind, dir)))

    it.scoped("closing the scope flushes; reopening the same directory recovers offsets and data", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const a = freshPartition("restart")
        const b = freshPartition("restart")
        yield* Effect.gen(function* () {
          const log = yield* MessageLog
          for (let i = 0; i < 5; i++) log.unsafeAppend(a, record(`a${i}`))
          yield* log.flush
          for (let i = 5; i < 8; i++) log.unsafeAppend(a, record(`a${i}`))
          for (let i = 0; i < 3; i++) log.unsafeAppend(b, record(`b${i}`))
          // No flush: the layer's finalizer must write these on the way out.
        }).pipe(Effect.provide(logOn(dir)))

        yield* Effect.gen(function* () {
          const log = yield* MessageLog
          expect(log.unsafeEndOffset(a)).toBe(8)
          expect(log.unsafeEndOffset(b)).toBe(3)
          expect(log.unsafePartitions()).toEqual(expect.arrayContaining([a, b]))
          expect((yield* log.read(a, 0, 1 << 20)).map(text)).toEqual(Array.from({ length: 8 }, (_, i) => `a${i}`))
          expect((yield* log.read(b, 1, 1 << 20)).map((r) => [r.offset, text(r)])).toEqual([[1, "b1"], [2, "b2"]])
          const { seen, watch } = collector(log, a)
          watch(7) // durable from the previous run
          expect(seen).toEqual(["7"])
          expect(log.unsafeAppend(a, record("a8"))).toBe(8)
          yield* log.flush
        }).pipe(Effect.provide(logOn(dir)))

        const again = yield* Effect.flatMap(MessageLog, (log) => log.read(a, 7, 1 << 20)).pipe(Effect.provide(logOn(dir)))
        expect(again.map(text)).toEqual(["a7", "a8"])
      }))
  })
}
