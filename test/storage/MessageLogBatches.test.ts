/**
 * MessageLogLive with whole encoded batches (the Kafka Produce path): offsets assigned per
 * batch, baseOffset patched, reads of pending and stored batches, the high watermark and the
 * watchers that wake Fetch long polls.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { LogRecord } from "../../domain/message/LogRecord.js"
import { batchBaseOffset, encodeBatch } from "../../domain/message/RecordBatch.js"
import * as MessageLogLive from "../../layers/MessageLogLive.js"
import * as MemoryLogDriver from "../../layers/storage-memory/MemoryLogDriver.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import * as SqliteLogDriver from "../../layers/storage-sqlite/SqliteLogDriver.js"
import type { LogDriver } from "../../services/LogDriver.js"
import { MessageLog } from "../../services/MessageLog.js"
import { freshPartition, record } from "./LogDriver.contract.js"

const producerBatch = (...values: Array<string>): Uint8Array =>
  // A client sends its batch with baseOffset 0; the log rewrites it.
  encodeBatch(0, values.map((v): LogRecord => record(v)))

const drivers: ReadonlyArray<readonly [string, Layer.Layer<LogDriver, unknown>]> = [
  ["memory", MemoryLogDriver.layer],
  ["sqlite", SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layerTemp))]
]

for (const [name, driver] of drivers) {
  layer(MessageLogLive.layer.pipe(Layer.provide(driver)))(`MessageLog batches on ${name}`, (it) => {
    it.effect("assigns a batch its offsets and patches its baseOffset", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        expect(log.unsafeAppend(tp, record("a"))).toBe(0)
        const batch = producerBatch("b", "c", "d")
        expect(log.unsafeAppendBatch(tp, batch, 3)).toBe(1)
        expect(log.unsafeAppend(tp, record("e"))).toBe(4)
        expect(log.unsafeEndOffset(tp)).toBe(5)
        expect(batchBaseOffset(batch)).toBe(1)
        // pending: read decodes the encoded batch
        const pending = yield* log.read(tp, 2, 1 << 20)
        expect(pending.map((r) => [r.offset, Buffer.from(r.value!).toString()])).toEqual([[2, "c"], [3, "d"], [4, "e"]])
        expect(log.unsafeHighWatermark(tp)).toBe(0)
        yield* log.flush
        expect(log.unsafeHighWatermark(tp)).toBe(5)
        const stored = yield* log.read(tp, 0, 1 << 20)
        expect(stored.map((r) => Buffer.from(r.value!).toString())).toEqual(["a", "b", "c", "d", "e"])
        const batches = yield* log.readBatches(tp, 2, 1 << 20)
        expect(batches.map((b) => [b.baseOffset, b.lastOffset])).toEqual([[1, 3], [4, 4]])
        expect(Buffer.from(batches[0]!.bytes)).toEqual(Buffer.from(batch))
        expect(yield* log.startOffset(tp)).toBe(0)
      }))

    it.effect("runs the durability callback of an encoded batch once written", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        const base = log.unsafeAppendBatch(tp, producerBatch("x", "y"), 2)
        const seen: Array<string> = []
        log.unsafeOnDurable(tp, base + 1, (e) => seen.push(e === undefined ? "ok" : "failed"))
        expect(seen).toEqual([])
        yield* log.flush
        expect(seen).toEqual(["ok"])
      }))

    it.effect("wakes watchers when the high watermark passes their offset, and not before", () =>
      Effect.gen(function* () {
        const log = yield* MessageLog
        const tp = freshPartition()
        const woken: Array<number> = []
        log.unsafeOnAdvance(tp, 0, () => woken.push(0))
        log.unsafeOnAdvance(tp, 2, () => woken.push(2))
        const cancel = log.unsafeOnAdvance(tp, 1, () => woken.push(1))
        cancel()
        log.unsafeAppendBatch(tp, producerBatch("a", "b"), 2)
        expect(woken).toEqual([])
        yield* log.flush
        expect(woken).toEqual([0])
        log.unsafeAppend(tp, record("c"))
        yield* log.flush
        expect(woken).toEqual([0, 2])
        // already durable: at once
        log.unsafeOnAdvance(tp, 1, () => woken.push(1))
        expect(woken).toEqual([0, 2, 1])
      }))
  })
}
