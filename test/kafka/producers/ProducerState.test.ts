/**
 * Idempotent-producer state: the sequence rules and the five-batch duplicate window
 * (domain/kafka/ProducerState.ts), the bounded tail read that rebuilds it after a restart, and
 * IdempotentProducers' queue (jobs for a partition whose tail is being read run in arrival
 * order, against the state the tail implies), over a real MessageLog on the memory driver.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { topicPartition } from "../../../domain/ids.js"
import {
  checkSequence,
  lastSequenceOf,
  ProducerEntry,
  recordBatch,
  recordStoredBatch,
  RETAINED_BATCHES,
  SEQUENCE_WRAP,
  SequenceCheck
} from "../../../domain/kafka/ProducerState.js"
import { batchBaseOffset } from "../../../domain/message/RecordBatch.js"
import * as MessageLogLive from "../../../layers/MessageLogLive.js"
import * as MemoryLogDriver from "../../../layers/storage-memory/MemoryLogDriver.js"
import type { EncodedBatch } from "../../../services/LogDriver.js"
import { MessageLog } from "../../../services/MessageLog.js"
import { IdempotentProducers, MAX_TAIL_BYTES, readTail, TAIL_BYTES } from "../../../src/kafka/IdempotentProducers.js"
import { idempotentBatch, plainBatch } from "./batches.js"

/** An entry that accepted `batches` batches of `size` records from sequence 0, offsets 100 apart. */
const entryWith = (batches: number, size = 2, epoch = 0): ProducerEntry => {
  const entry = new ProducerEntry(epoch, 0)
  for (let i = 0; i < batches; i++) recordBatch(entry, epoch, i * size, i * size + size - 1, i * 100, 0)
  return entry
}

describe("checkSequence", () => {
  it("accepts any sequence from an unknown producer", () => {
    expect(checkSequence(undefined, 0, 0, 4)).toBe(SequenceCheck.Append)
    expect(checkSequence(undefined, 3, 1234, 1240)).toBe(SequenceCheck.Append)
  })

  it("accepts the next sequence and refuses a gap or a sequence already passed", () => {
    const entry = entryWith(3) // sequences 0-5
    expect(checkSequence(entry, 0, 6, 7)).toBe(SequenceCheck.Append)
    expect(checkSequence(entry, 0, 7, 8)).toBe(SequenceCheck.OutOfOrder)
    expect(checkSequence(entry, 0, 5, 6)).toBe(SequenceCheck.OutOfOrder) // overlaps the last batch
  })

  it("recognises a retry of any of the last five batches and gives its first copy's offsets", () => {
    const entry = entryWith(7) // batches 0..6; 2..6 remembered
    for (let i = 7 - RETAINED_BATCHES; i < 7; i++) {
      expect(checkSequence(entry, 0, i * 2, i * 2 + 1), `batch ${i}`).toBe(SequenceCheck.Duplicate)
      expect([entry.duplicateBaseOffset, entry.duplicateLastOffset]).toEqual([i * 100, i * 100 + 1])
    }
    // Older than the window: a plain out-of-order sequence, as on Kafka.
    expect(checkSequence(entry, 0, 2, 3)).toBe(SequenceCheck.OutOfOrder)
    // Same first sequence, different length: not the same batch.
    expect(checkSequence(entry, 0, 12, 14)).toBe(SequenceCheck.OutOfOrder)
  })

  it("fences an older epoch; a newer one must start at sequence 0 and forgets the older batches", () => {
    const entry = entryWith(2, 2, 3)
    expect(checkSequence(entry, 2, 4, 5)).toBe(SequenceCheck.StaleEpoch)
    expect(checkSequence(entry, 4, 4, 5)).toBe(SequenceCheck.OutOfOrder)
    expect(checkSequence(entry, 4, 0, 0)).toBe(SequenceCheck.Append)
    recordBatch(entry, 4, 0, 0, 500, 0)
    expect(entry.count).toBe(1)
    // The same sequences under the old epoch are no longer duplicates: the old epoch is fenced.
    expect(checkSequence(entry, 3, 0, 1)).toBe(SequenceCheck.StaleEpoch)
    expect(checkSequence(entry, 4, 0, 0)).toBe(SequenceCheck.Duplicate)
    expect(entry.duplicateBaseOffset).toBe(500)
  })

  it("wraps sequence numbers after Int32.MAX_VALUE", () => {
    const max = SEQUENCE_WRAP - 1
    expect(lastSequenceOf(max - 1, 3)).toBe(1)
    const entry = new ProducerEntry(0, 0)
    recordBatch(entry, 0, max - 1, max, 10, 0)
    expect(checkSequence(entry, 0, 0, 4)).toBe(SequenceCheck.Append)
    recordBatch(entry, 0, max, lastSequenceOf(max, 2), 12, 0) // records max, 0, 1
    expect(checkSequence(entry, 0, max, 1)).toBe(SequenceCheck.Duplicate)
    expect([entry.duplicateBaseOffset, entry.duplicateLastOffset]).toEqual([12, 14])
    expect(checkSequence(entry, 0, 2, 2)).toBe(SequenceCheck.Append)
  })

  it("rebuilds entries from stored batch headers, skipping batches without a producer id", () => {
    const entries = new Map<number, ProducerEntry>()
    recordStoredBatch(entries, idempotentBatch(7, 1, 0, ["a", "b"]), 0, 1)
    recordStoredBatch(entries, plainBatch(["x"]), 2, 1)
    recordStoredBatch(entries, idempotentBatch(9, 0, 40, ["c"]), 3, 1)
    recordStoredBatch(entries, idempotentBatch(7, 1, 2, ["d", "e", "f"]), 4, 1)
    expect([...entries.keys()]).toEqual([7, 9])
    const seven = entries.get(7)!
    expect([seven.epoch, seven.count, seven.lastSequence]).toEqual([1, 2, 4])
    expect(checkSequence(seven, 1, 2, 4)).toBe(SequenceCheck.Duplicate)
    expect(seven.duplicateBaseOffset).toBe(4)
    expect(checkSequence(seven, 1, 5, 5)).toBe(SequenceCheck.Append)
    expect(checkSequence(entries.get(9), 0, 41, 41)).toBe(SequenceCheck.Append)
  })
})

const memoryLog = MessageLogLive.layer.pipe(Layer.provide(MemoryLogDriver.layer))

/** Appends `batch` to `tp` and returns its base offset once durable. */
const append = (log: MessageLog["Type"], tp: ReturnType<typeof topicPartition>, batch: Buffer, count: number) =>
  Effect.gen(function*() {
    const base = log.unsafeAppendBatch(tp, batch, count)
    yield* Effect.async<void>((resume) => log.unsafeOnDurable(tp, base + count - 1, () => resume(Effect.void)))
    return base
  })

const contiguous = (batches: ReadonlyArray<EncodedBatch>) =>
  batches.every((b, i) => i === 0 || batches[i - 1]!.lastOffset + 1 === b.baseOffset)

describe("readTail", () => {
  it.scoped("reads the newest contiguous batches below the end, about TAIL_BYTES of them", () =>
    Effect.gen(function*() {
      const log = yield* MessageLog
      const tp = topicPartition("tail", 0)
      const value = "v".repeat(1000)
      for (let i = 0; i < 3000; i++) yield* append(log, tp, plainBatch([value]), 1)
      const tail = yield* readTail(log, tp, 3000)
      const bytes = tail.reduce((n, b) => n + b.bytes.length, 0)
      expect(bytes).toBeGreaterThanOrEqual(TAIL_BYTES)
      expect(bytes).toBeLessThanOrEqual(MAX_TAIL_BYTES)
      expect(contiguous(tail)).toBe(true)
      expect(tail.at(-1)!.lastOffset).toBe(2999)
      expect(tail[0]!.baseOffset).toBeGreaterThan(0)
      // Only what is below `end` (batches appended later are known to the process already).
      const earlier = yield* readTail(log, tp, 10)
      expect(earlier.map((b) => b.baseOffset)).toEqual(Array.from({ length: 10 }, (_, i) => i))
    }).pipe(Effect.provide(memoryLog)))

  it.scoped("goes back to the log start of a small partition; an empty partition has no tail", () =>
    Effect.gen(function*() {
      const log = yield* MessageLog
      const tp = topicPartition("small", 0)
      for (let i = 0; i < 5; i++) yield* append(log, tp, plainBatch(["a", "b", "c"]), 3)
      const tail = yield* readTail(log, tp, 15)
      expect(tail.map((b) => batchBaseOffset(b.bytes))).toEqual([0, 3, 6, 9, 12])
      expect(yield* readTail(log, topicPartition("none", 0), 0)).toEqual([])
    }).pipe(Effect.provide(memoryLog)))
})

describe("IdempotentProducers", () => {
  it.scoped("a partition with data from before start-up waits for its tail; queued jobs run in order against it", () =>
    Effect.gen(function*() {
      const log = yield* MessageLog
      const tp = topicPartition("idem", 0)
      const fresh = topicPartition("idem", 1)
      yield* append(log, tp, idempotentBatch(42, 0, 0, ["a", "b"]), 2)
      yield* append(log, tp, plainBatch(["p"]), 1)
      yield* append(log, tp, idempotentBatch(42, 0, 2, ["c"]), 1)

      const forks: Array<Effect.Effect<void>> = []
      const producers = new IdempotentProducers(log, (effect) => void forks.push(effect))
      expect(producers.isReady(fresh)).toBe(true) // nothing there at start-up
      expect(producers.isReady(tp)).toBe(false)

      const outcomes: Array<string> = []
      const decide = (batch: Buffer, label: string) => (error: unknown) => {
        expect(error).toBeUndefined()
        const outcome = producers.unsafeCheck(tp, batch)
        if (outcome === SequenceCheck.Append) producers.unsafeRemember(tp, batch, log.unsafeAppendBatch(tp, Buffer.from(batch), 1))
        outcomes.push(`${label}:${outcome === SequenceCheck.Duplicate ? `dup@${producers.duplicateBaseOffset}` : outcome}`)
      }
      const next = idempotentBatch(42, 0, 3, ["d"])
      producers.whenReady(tp, decide(idempotentBatch(42, 0, 2, ["c"]), "retry"))
      producers.whenReady(tp, decide(next, "next"))
      producers.whenReady(tp, decide(next, "next-again"))
      producers.whenReady(tp, decide(idempotentBatch(42, 0, 9, ["z"]), "gap"))
      expect(forks).toHaveLength(1) // one tail read for all of them
      expect(outcomes).toEqual([])
      yield* forks[0]!
      expect(outcomes).toEqual(["retry:dup@3", `next:${SequenceCheck.Append}`, "next-again:dup@4", `gap:${SequenceCheck.OutOfOrder}`])
      expect(producers.isReady(tp)).toBe(true)
      let ranAtOnce = false
      producers.whenReady(tp, () => void (ranAtOnce = true))
      expect(ranAtOnce).toBe(true)

      // A failed write forgets the producer: its retry is appended, not answered as a duplicate.
      producers.unsafeForget(tp, 42)
      expect(producers.unsafeCheck(tp, next)).toBe(SequenceCheck.Append)
    }).pipe(Effect.provide(memoryLog)))
})
