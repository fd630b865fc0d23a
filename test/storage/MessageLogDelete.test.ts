/**
 * MessageLog.deletePartition over every driver: callbacks of unwritten records fail, offsets
 * restart at 0, nothing stays readable, watchers wake once, a write in flight cannot bring the
 * partition back, and the deletion survives a restart on SQLite and segment files. Also
 * MessageLog.offsetForTimestamp.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer } from "effect"
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

const readAll = (log: MessageLog["Type"], tp: TopicPartition) =>
  Effect.map(log.read(tp, 0, 1 << 20), (records) => records.map((r) => [r.offset, text(r)]))

/** Durability outcomes by offset: `3` written, `!3` failed. */
const collector = (log: MessageLog["Type"], tp: TopicPartition) => {
  const seen: Array<string> = []
  const errors: Array<unknown> = []
  const watch = (offset: number) =>
    log.unsafeOnDurable(tp, offset, (error) => {
      seen.push(error === undefined ? `${offset}` : `!${offset}`)
      if (error !== undefined) errors.push(error)
    })
  return { seen, errors, watch }
}

const drivers: ReadonlyArray<readonly [string, Layer.Layer<LogDriver, unknown>]> = [
  ["memory", MemoryLogDriver.layer],
  ["sqlite", SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layerTemp))],
  ["segment", SegmentLogDriver.layerTemp({ segmentBytes: 4096, indexIntervalBytes: 256 })]
]

for (const [name, driver] of drivers) {
  layer(MessageLogLive.layer.pipe(Layer.provide(driver)))(`MessageLog.deletePartition on ${name}`, (it) => {
    it.effect("fails unwritten records' callbacks, forgets the partition, and starts it again at 0", () =>
      Effect.gen(function*() {
        const log = yield* MessageLog
        const tp = freshPartition("del")
        const other = freshPartition("del")
        const { seen, errors, watch } = collector(log, tp)
        for (let i = 0; i < 5; i++) watch(log.unsafeAppend(tp, record(`old${i}`)))
        log.unsafeAppend(other, record("other"))
        yield* log.flush
        expect(seen).toEqual(["0", "1", "2", "3", "4"])
        watch(log.unsafeAppend(tp, record("pending5")))
        watch(log.unsafeAppend(tp, record("pending6")))

        yield* log.deletePartition(tp)
        expect(seen).toEqual(["0", "1", "2", "3", "4", "!5", "!6"])
        expect(errors.every((e) => e instanceof StorageError)).toBe(true)
        expect(log.unsafeEndOffset(tp)).toBe(0)
        expect(log.unsafeHighWatermark(tp)).toBe(0)
        expect(log.unsafePartitions()).not.toContain(tp)
        expect(log.unsafePartitions()).toContain(other)
        expect(yield* readAll(log, tp)).toEqual([])
        expect(yield* log.readBatches(tp, 0, 1 << 20)).toEqual([])
        expect(yield* log.offsetForTimestamp(tp, 0)).toBe(null)
        expect(yield* log.startOffset(tp)).toBe(0)
        expect((yield* log.read(other, 0, 1 << 20)).map(text)).toEqual(["other"])

        // A fresh partition under the same name.
        expect(log.unsafeAppend(tp, record("new0"))).toBe(0)
        expect(log.unsafeAppend(tp, record("new1"))).toBe(1)
        yield* log.flush
        expect(log.unsafeHighWatermark(tp)).toBe(2)
        expect(yield* readAll(log, tp)).toEqual([[0, "new0"], [1, "new1"]])
        expect(log.unsafePartitions()).toContain(tp)
      }))

    it.effect("wakes the partition's watchers once; a watcher registered later waits for new data", () =>
      Effect.gen(function*() {
        const log = yield* MessageLog
        const tp = freshPartition("del")
        log.unsafeAppend(tp, record("a"))
        yield* log.flush
        const woken: Array<string> = []
        log.unsafeOnAdvance(tp, 5, () => woken.push("before"))
        yield* log.deletePartition(tp)
        expect(woken).toEqual(["before"])
        log.unsafeOnAdvance(tp, 1, () => woken.push("after"))
        log.unsafeAppend(tp, record("x"))
        yield* log.flush
        expect(woken).toEqual(["before"])
        log.unsafeAppend(tp, record("y"))
        yield* log.flush
        expect(woken).toEqual(["before", "after"])
      }))

    it.effect("deleting a partition that never existed succeeds", () =>
      Effect.gen(function*() {
        const log = yield* MessageLog
        const tp = freshPartition("del")
        yield* log.deletePartition(tp)
        expect(log.unsafePartitions()).not.toContain(tp)
      }))

    it.effect("offsetForTimestamp passes through to the driver", () =>
      Effect.gen(function*() {
        const log = yield* MessageLog
        const tp = freshPartition("ts")
        log.unsafeAppend(tp, record("a", 1000))
        yield* log.flush
        log.unsafeAppend(tp, record("b", 2000))
        yield* log.flush
        expect(yield* log.offsetForTimestamp(tp, 0)).toBe(0)
        expect(yield* log.offsetForTimestamp(tp, 1500)).toBe(1)
        expect(yield* log.offsetForTimestamp(tp, 2001)).toBe(null)
      }))
  })
}

/** A memory driver whose writes can be held on a gate; it records every call. */
interface GateProbe {
  writes: Array<ReadonlyArray<EncodedBatch>>
  /** What reached the inner driver, in order: `write 0-2`, `delete`. */
  events: Array<string>
  gate: Deferred.Deferred<void> | null
}

const gatedDriver = (probe: GateProbe) =>
  Layer.effect(
    LogDriver,
    Effect.map(MemoryLogDriver.make, (inner) =>
      LogDriver.of({
        ...inner,
        writeBatches: (batches) =>
          Effect.suspend(() => {
            probe.writes.push(batches)
            const write = Effect.zipRight(
              inner.writeBatches(batches),
              Effect.sync(() => probe.events.push(`write ${batches.map((b) => `${b.baseOffset}-${b.lastOffset}`).join(",")}`))
            )
            const gate = probe.gate
            return gate === null ? write : Effect.zipRight(Deferred.await(gate), write)
          }),
        deletePartition: (tp) =>
          Effect.suspend(() => {
            probe.events.push("delete")
            return inner.deletePartition(tp)
          })
      }))
  )

const nextMacrotask = Effect.async<void>((resume) => {
  const timer = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(timer))
})

describe("MessageLog.deletePartition against a write in flight", () => {
  it.scoped("the write lands first and is deleted; appends made meanwhile survive as the new partition", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const probe: GateProbe = { writes: [], events: [], gate }
      const log = yield* Effect.map(Layer.build(MessageLogLive.layer.pipe(Layer.provide(gatedDriver(probe)))), Context.get(MessageLog))
      yield* Effect.addFinalizer(() => Deferred.succeed(gate, undefined))
      const tp = freshPartition("inflight")
      const { seen, watch } = collector(log, tp)
      for (let i = 0; i < 3; i++) watch(log.unsafeAppend(tp, record(`old${i}`)))
      for (let i = 0; i < 100 && probe.writes.length === 0; i++) yield* nextMacrotask
      expect(probe.writes.length).toBe(1) // the flusher now waits on the gate, holding old0..old2

      const deletion = yield* Effect.fork(log.deletePartition(tp))
      yield* nextMacrotask
      expect(seen).toEqual(["!0", "!1", "!2"]) // failed at once, not when the write finishes
      expect(log.unsafeEndOffset(tp)).toBe(0)
      watch(log.unsafeAppend(tp, record("new0")))
      expect(yield* readAll(log, tp)).toEqual([[0, "new0"]]) // the driver's copy is hidden already

      probe.gate = null
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(deletion)
      yield* log.flush
      // The held write went first, then the deletion, then the new partition's write.
      expect(probe.events).toEqual(["write 0-2", "delete", "write 0-0"])
      expect(seen).toEqual(["!0", "!1", "!2", "0"])
      expect(yield* readAll(log, tp)).toEqual([[0, "new0"]])
      expect(log.unsafeHighWatermark(tp)).toBe(1)
    }))
})

for (const kind of ["sqlite", "segment"] as const) {
  describe(`MessageLog.deletePartition on ${kind} across a restart`, () => {
    const tempDir = Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-del-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const logOn = (dir: string) => MessageLogLive.layer.pipe(Layer.provide(Storage.layer(kind, dir)))

    it.scoped("a deleted partition stays deleted; the others and a re-created one are recovered", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const gone = freshPartition("restart")
        const kept = freshPartition("restart")
        const again = freshPartition("restart")
        yield* Effect.gen(function*() {
          const log = yield* MessageLog
          for (let i = 0; i < 5; i++) log.unsafeAppend(gone, record(`g${i}`))
          for (let i = 0; i < 3; i++) log.unsafeAppend(kept, record(`k${i}`))
          for (let i = 0; i < 4; i++) log.unsafeAppend(again, record(`a${i}`))
          yield* log.flush
          yield* log.deletePartition(gone)
          yield* log.deletePartition(again)
          log.unsafeAppend(again, record("fresh"))
        }).pipe(Effect.provide(logOn(dir)))

        yield* Effect.gen(function*() {
          const log = yield* MessageLog
          expect(log.unsafePartitions()).not.toContain(gone)
          expect(log.unsafeEndOffset(gone)).toBe(0)
          expect(yield* readAll(log, gone)).toEqual([])
          expect(log.unsafeEndOffset(kept)).toBe(3)
          expect(yield* readAll(log, again)).toEqual([[0, "fresh"]])
        }).pipe(Effect.provide(logOn(dir)))
        if (kind === "segment") {
          expect(fs.readdirSync(path.join(dir, "log")).filter((n) => n.endsWith(".deleted"))).toEqual([])
        }
      }))
  })
}
