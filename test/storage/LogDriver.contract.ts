/**
 * The contract every LogDriver passes (memory, SQLite, segment files). Register it with
 * `logDriverContract(name, layer)` from a *.test.ts file; the layer is built once per suite, so
 * every test uses fresh partitions.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { topicPartition, type TopicPartition } from "../../domain/ids.js"
import type { LogRecord } from "../../domain/message/LogRecord.js"
import { decodeBatch, encodeBatch } from "../../domain/message/RecordBatch.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"

export interface LogDriverContractOptions {
  /** Transactions committed so far by the driver's backend, when it has them. */
  readonly transactions?: () => number
  /**
   * offsetForSizeLimit drops whole batches (memory, SQLite); false for drivers that drop
   * coarser units (segment files), which only the general properties are checked for.
   */
  readonly sizeLimitByBatch?: boolean
}

let counter = 0
export const freshPartition = (stream = "contract"): TopicPartition =>
  topicPartition(`${stream}.${process.pid}.${counter++}`, counter % 3)

const text = new TextEncoder()

export const record = (value: string, timestamp = 1_700_000_000_000): LogRecord => ({
  key: text.encode("k"),
  value: text.encode(value),
  headers: [],
  timestamp
})

/**
 * A batch of `count` records `v<offset>` starting at `base`, timestamped `timestamp + i` (so its
 * maxTimestamp is `timestamp + count - 1`).
 */
export const batch = (
  tp: TopicPartition,
  base: number,
  count: number,
  pad = 0,
  timestamp = 1_700_000_000_000
): EncodedBatch => {
  const records: Array<LogRecord> = []
  for (let i = 0; i < count; i++) records.push(record(`v${base + i}`.padEnd(pad, "."), timestamp + i))
  return { tp, baseOffset: base, lastOffset: base + count - 1, bytes: encodeBatch(base, records) }
}

/** Offsets of every record in `batches`, decoded (so the bytes must be intact). */
export const offsetsOf = (batches: ReadonlyArray<EncodedBatch>): Array<number> =>
  batches.flatMap((b) => {
    const records = decodeBatch(b.bytes)
    if (typeof records === "string") throw new Error(records)
    return records.map((r) => r.offset)
  })

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

export const logDriverContract = (
  name: string,
  driverLayer: Layer.Layer<LogDriver, unknown>,
  options: LogDriverContractOptions = {}
) => {
  layer(driverLayer)(`LogDriver contract: ${name}`, (it) => {
    it.effect("reads back written batches in order, offsets consecutive across batches and writes", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition()
        const written = [batch(tp, 0, 3), batch(tp, 3, 2)]
        yield* driver.writeBatches(written)
        yield* driver.writeBatches([batch(tp, 5, 5)])
        const read = yield* driver.readRange(tp, 0, 1 << 20)
        expect(read.map((b) => [b.baseOffset, b.lastOffset])).toEqual([[0, 2], [3, 4], [5, 9]])
        expect(offsetsOf(read)).toEqual(range(0, 10))
        expect(read.every((b) => b.tp === tp)).toBe(true)
        expect(Buffer.from(read[0]!.bytes).equals(Buffer.from(written[0]!.bytes))).toBe(true)
      }))

    it.effect("reading from the middle of a batch starts with that whole batch", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition()
        yield* driver.writeBatches([batch(tp, 0, 4), batch(tp, 4, 4), batch(tp, 8, 4)])
        const read = yield* driver.readRange(tp, 6, 1 << 20)
        expect(read.map((b) => b.baseOffset)).toEqual([4, 8])
        expect((yield* driver.readRange(tp, 11, 1 << 20)).map((b) => b.baseOffset)).toEqual([8])
        expect(yield* driver.readRange(tp, 12, 1 << 20)).toEqual([])
        expect(yield* driver.readRange(tp, 1000, 1 << 20)).toEqual([])
      }))

    it.effect("cuts at maxBytes but always returns at least one batch", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition()
        const bs = [batch(tp, 0, 2, 100), batch(tp, 2, 2, 100), batch(tp, 4, 2, 100)]
        yield* driver.writeBatches(bs)
        const [a, b, c] = bs.map((x) => x.bytes.length) as [number, number, number]
        const bases = (maxBytes: number, from = 0) =>
          driver.readRange(tp, from, maxBytes).pipe(Effect.map((r) => r.map((x) => x.baseOffset)))
        expect(yield* bases(1)).toEqual([0])
        expect(yield* bases(a + b - 1)).toEqual([0])
        expect(yield* bases(a + b)).toEqual([0, 2])
        expect(yield* bases(a + b + c)).toEqual([0, 2, 4])
        expect(yield* bases(1, 3)).toEqual([2])
      }))

    it.effect("reads past many batches (more than one page)", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition()
        const bs = range(0, 100).map((i) => batch(tp, i * 2, 2))
        yield* driver.writeBatches(bs)
        const read = yield* driver.readRange(tp, 7, 1 << 30)
        expect(read.length).toBe(97)
        expect(offsetsOf(read).filter((o) => o >= 7)).toEqual(range(7, 200))
      }))

    it.effect("keeps partitions apart and recovers the end of each", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp1 = freshPartition("multi")
        const tp2 = freshPartition("multi")
        const untouched = freshPartition("multi")
        yield* driver.writeBatches([batch(tp1, 0, 4), batch(tp2, 0, 2), batch(tp1, 4, 6)])
        yield* driver.writeBatches([batch(tp2, 2, 1)])
        expect(offsetsOf(yield* driver.readRange(tp1, 0, 1 << 20))).toEqual(range(0, 10))
        expect(offsetsOf(yield* driver.readRange(tp2, 0, 1 << 20))).toEqual(range(0, 3))
        const ends = yield* driver.recover
        expect(ends.get(tp1)).toBe(10)
        expect(ends.get(tp2)).toBe(3)
        expect(ends.has(untouched)).toBe(false)
        expect(yield* driver.readRange(untouched, 0, 1 << 20)).toEqual([])
      }))

    it.effect("truncates whole batches below an offset but keeps the newest batch and the end", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition()
        yield* driver.writeBatches([batch(tp, 0, 3), batch(tp, 3, 3), batch(tp, 6, 3)])
        yield* driver.truncateBefore(tp, 4) // only [0..2] lies wholly below 4
        expect(offsetsOf(yield* driver.readRange(tp, 0, 1 << 20))).toEqual(range(3, 9))
        yield* driver.truncateBefore(tp, 100) // never the newest batch
        expect(offsetsOf(yield* driver.readRange(tp, 0, 1 << 20))).toEqual(range(6, 9))
        expect((yield* driver.recover).get(tp)).toBe(9)
      }))

    it.effect("offsetForTimestamp: the first batch whose max timestamp reaches the time", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition()
        // maxTimestamps 1001, 3001, 2001 (out of order, as Kafka CreateTime allows), 5001
        yield* driver.writeBatches([batch(tp, 0, 2, 0, 1000), batch(tp, 2, 2, 0, 3000)])
        yield* driver.writeBatches([batch(tp, 4, 2, 0, 2000), batch(tp, 6, 2, 0, 5000)])
        const at = (t: number) => driver.offsetForTimestamp(tp, t)
        expect(yield* at(0)).toBe(0)
        expect(yield* at(1001)).toBe(0)
        expect(yield* at(1002)).toBe(2)
        expect(yield* at(2001)).toBe(2)
        expect(yield* at(3002)).toBe(6)
        expect(yield* at(5001)).toBe(6)
        expect(yield* at(5002)).toBe(null)
        expect(yield* driver.offsetForTimestamp(freshPartition(), 0)).toBe(null)
        yield* driver.truncateBefore(tp, 2)
        expect(yield* at(0)).toBe(2)
      }))

    it.effect("deletePartition removes every batch: nothing readable, not recovered, a fresh start at 0", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition("delete")
        const kept = freshPartition("delete")
        yield* driver.writeBatches([batch(tp, 0, 3), batch(kept, 0, 2)])
        yield* driver.writeBatches([batch(tp, 3, 3, 0, 1_700_000_000_100)])
        yield* driver.deletePartition(tp)
        expect(yield* driver.readRange(tp, 0, 1 << 20)).toEqual([])
        expect(yield* driver.readRange(tp, 4, 1 << 20)).toEqual([])
        expect(yield* driver.offsetForTimestamp(tp, 0)).toBe(null)
        expect(yield* driver.offsetForSizeLimit(tp, 0)).toBe(null)
        const ends = yield* driver.recover
        expect(ends.has(tp)).toBe(false)
        expect(ends.get(kept)).toBe(2)
        expect(offsetsOf(yield* driver.readRange(kept, 0, 1 << 20))).toEqual([0, 1])
        yield* driver.truncateBefore(tp, 10) // a no-op on a deleted partition
        // The partition starts again at offset 0.
        yield* driver.writeBatches([batch(tp, 0, 2)])
        expect(offsetsOf(yield* driver.readRange(tp, 0, 1 << 20))).toEqual([0, 1])
        expect((yield* driver.recover).get(tp)).toBe(2)
        yield* driver.deletePartition(tp)
        yield* driver.deletePartition(tp) // twice, and of a partition never written: no-ops
        yield* driver.deletePartition(freshPartition("delete"))
        expect((yield* driver.recover).has(tp)).toBe(false)
      }))

    it.effect("offsetForSizeLimit keeps at least the limit and drops what it may", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition("size")
        const bs = [batch(tp, 0, 2, 100), batch(tp, 2, 2, 100), batch(tp, 4, 2, 100), batch(tp, 6, 2, 100)]
        yield* driver.writeBatches(bs)
        const sizes = bs.map((b) => b.bytes.length)
        const total = sizes.reduce((a, b) => a + b, 0)
        /** Bytes of the batches from offset `o` on. */
        const from = (o: number) => bs.reduce((sum, b, i) => (b.baseOffset >= o ? sum + sizes[i]! : sum), 0)
        expect(yield* driver.offsetForSizeLimit(tp, total)).toBe(null)
        expect(yield* driver.offsetForSizeLimit(tp, total + 1)).toBe(null)
        for (const limit of [0, 1, sizes[3]!, sizes[3]! + 1, sizes[2]! + sizes[3]!, total - 1]) {
          const o = yield* driver.offsetForSizeLimit(tp, limit)
          if (o === null) continue
          expect(bs.map((b) => b.baseOffset)).toContain(o)
          expect(o).toBeGreaterThan(0)
          expect(from(o)).toBeGreaterThanOrEqual(limit)
        }
        if (options.sizeLimitByBatch !== false) {
          expect(yield* driver.offsetForSizeLimit(tp, 0)).toBe(6)
          expect(yield* driver.offsetForSizeLimit(tp, sizes[3]!)).toBe(6)
          expect(yield* driver.offsetForSizeLimit(tp, sizes[3]! + 1)).toBe(4)
          expect(yield* driver.offsetForSizeLimit(tp, total - sizes[0]!)).toBe(2)
          expect(yield* driver.offsetForSizeLimit(tp, total - sizes[0]! + 1)).toBe(null)
          yield* driver.truncateBefore(tp, (yield* driver.offsetForSizeLimit(tp, sizes[3]! + 1))!)
          expect(offsetsOf(yield* driver.readRange(tp, 0, 1 << 20))).toEqual(range(4, 8))
        }
        expect(yield* driver.offsetForSizeLimit(freshPartition("size"), 0)).toBe(null)
      }))

    it.effect("offsetForSizeLimit walks past many batches", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        const tp = freshPartition("size")
        const bs = range(0, 3000).map((i) => batch(tp, i, 1, 8))
        yield* driver.writeBatches(bs)
        const size = bs[0]!.bytes.length
        expect(bs.every((b) => b.bytes.length === size)).toBe(true)
        const o = yield* driver.offsetForSizeLimit(tp, 1500 * size)
        if (options.sizeLimitByBatch !== false) expect(o).toBe(1500)
        else if (o !== null) expect(3000 - o).toBeGreaterThanOrEqual(1500)
        expect(yield* driver.offsetForSizeLimit(tp, 2999 * size)).toBe(options.sizeLimitByBatch !== false ? 1 : null)
        expect(yield* driver.offsetForSizeLimit(tp, 3000 * size)).toBe(null)
      }))

    it.effect("accepts an empty write", () =>
      Effect.gen(function* () {
        const driver = yield* LogDriver
        yield* driver.writeBatches([])
      }))

    if (options.transactions !== undefined) {
      const transactions = options.transactions
      it.effect("writes many batches of many partitions in one transaction", () =>
        Effect.gen(function* () {
          const driver = yield* LogDriver
          const tps = [freshPartition(), freshPartition(), freshPartition()]
          const before = transactions()
          yield* driver.writeBatches(tps.flatMap((tp) => [batch(tp, 0, 3), batch(tp, 3, 3)]))
          expect(transactions() - before).toBe(1)
          for (const tp of tps) expect(offsetsOf(yield* driver.readRange(tp, 0, 1 << 20))).toEqual(range(0, 6))
        }))
    }
  })
}
