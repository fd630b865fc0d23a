/**
 * LogDriver held in memory: per partition an array of sealed batches in offset order. For tests
 * and development; nothing survives the layer's scope. It owns no offsets (MessageLog assigns
 * them) and never copies or mutates the batch bytes it is given: callers hand over sealed
 * batches and must not touch them afterwards.
 */
import { Effect, Layer } from "effect"
import type { TopicPartition } from "../../domain/ids.js"
import { batchMaxTimestamp } from "../../domain/message/RecordBatch.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"

/** Index of the first batch whose lastOffset >= offset (batches.length when none). */
export const firstBatchAtOrAfter = (batches: ReadonlyArray<EncodedBatch>, offset: number): number => {
  let lo = 0
  let hi = batches.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (batches[mid]!.lastOffset < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}

export const make: Effect.Effect<LogDriver["Type"]> = Effect.sync(() => {
  const partitions = new Map<TopicPartition, Array<EncodedBatch>>()

  const writeBatches = (batches: ReadonlyArray<EncodedBatch>) =>
    Effect.sync(() => {
      for (let i = 0; i < batches.length; i++) {
        const b = batches[i]!
        let list = partitions.get(b.tp)
        if (list === undefined) partitions.set(b.tp, (list = []))
        list.push(b)
      }
    })

  const readRange = (tp: TopicPartition, fromOffset: number, maxBytes: number) =>
    Effect.sync((): ReadonlyArray<EncodedBatch> => {
      const list = partitions.get(tp)
      if (list === undefined) return []
      const out: Array<EncodedBatch> = []
      let bytes = 0
      for (let i = firstBatchAtOrAfter(list, fromOffset); i < list.length; i++) {
        const b = list[i]!
        if (out.length > 0 && bytes + b.bytes.length > maxBytes) break
        out.push(b)
        bytes += b.bytes.length
      }
      return out
    })

  const truncateBefore = (tp: TopicPartition, offset: number) =>
    Effect.sync(() => {
      const list = partitions.get(tp)
      if (list === undefined) return
      const drop = Math.min(firstBatchAtOrAfter(list, offset), list.length - 1)
      if (drop > 0) list.splice(0, drop)
    })

  const offsetForTimestamp = (tp: TopicPartition, timestamp: number) =>
    Effect.sync((): number | null => {
      const list = partitions.get(tp)
      if (list === undefined) return null
      for (let i = 0; i < list.length; i++) {
        if (batchMaxTimestamp(list[i]!.bytes) >= timestamp) return list[i]!.baseOffset
      }
      return null
    })

  const offsetForSizeLimit = (tp: TopicPartition, bytes: number) =>
    Effect.sync((): number | null => {
      const list = partitions.get(tp)
      if (list === undefined) return null
      // The newest batch from which on the log still holds `bytes`: everything before it may go.
      let newer = 0
      for (let k = list.length - 1; k >= 0; k--) {
        newer += list[k]!.bytes.length
        if (newer >= bytes) return k > 0 ? list[k]!.baseOffset : null
      }
      return null
    })

  const deletePartition = (tp: TopicPartition) =>
    Effect.sync(() => {
      partitions.delete(tp)
    })

  const recover = Effect.sync((): ReadonlyMap<TopicPartition, number> => {
    const ends = new Map<TopicPartition, number>()
    for (const [tp, list] of partitions) {
      if (list.length > 0) ends.set(tp, list[list.length - 1]!.lastOffset + 1)
    }
    return ends
  })

  return LogDriver.of({
    writeBatches,
    readRange,
    truncateBefore,
    offsetForTimestamp,
    offsetForSizeLimit,
    deletePartition,
    recover
  })
})

export const layer: Layer.Layer<LogDriver> = Layer.effect(LogDriver, make)
