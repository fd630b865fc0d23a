/**
 * ListOffsets: -1 (latest) is the high watermark, -2 (earliest) the log start offset (raised
 * exactly by DeleteRecords), any other value a timestamp: the first record at or after the log
 * start whose timestamp is at least that (its batch is found by the storage's time index, then
 * decoded), or offset -1 when there is none.
 */
import { Effect } from "effect"
import { type TopicPartition, topicPartition } from "../../../domain/ids.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { isInternalTopic } from "../../../domain/meta/topics.js"
import { decodeBatch } from "../../../domain/message/RecordBatch.js"
import type { StorageError } from "../../../services/errors.js"
import type { KafkaContext } from "../KafkaContext.js"
import type { ListOffsetsRequest, ListOffsetsResponse, ListOffsetsResponsePartition } from "../protocol/index.js"

const LATEST = -1
const EARLIEST = -2

/** Bytes read per step when the batch the time index found lies below the log start. */
const SCAN_BYTES = 1 << 20
/** Reads before giving up (-1): a request must not walk a whole log. */
const MAX_READS = 64

const byTimestamp = (ctx: KafkaContext, tp: TopicPartition, timestamp: number) =>
  Effect.gen(function*() {
    const base = yield* ctx.log.offsetForTimestamp(tp, timestamp)
    if (base === null) return { offset: -1, timestamp: -1 }
    const hw = ctx.log.unsafeHighWatermark(tp)
    const start = yield* ctx.startOffset(tp)
    // Normally the first batch read holds the answer (its maxTimestamp qualifies); from a
    // DeleteRecords floor inside or past it, later batches may have to be read too.
    let from = Math.max(base, start)
    for (let reads = 0; reads < MAX_READS && from < hw; reads++) {
      const batches = yield* ctx.log.readBatches(tp, from, base >= start ? 1 : SCAN_BYTES)
      if (batches.length === 0) break
      for (const b of batches) {
        const records = decodeBatch(b.bytes)
        if (typeof records === "string") continue
        for (const r of records) {
          if (r.offset >= hw) return { offset: -1, timestamp: -1 }
          if (r.offset >= start && r.timestamp >= timestamp) return { offset: r.offset, timestamp: r.timestamp }
        }
      }
      const next = batches.at(-1)!.lastOffset + 1
      if (next <= from) break
      from = next
    }
    return { offset: -1, timestamp: -1 }
  })

export const handleListOffsets = (ctx: KafkaContext, request: ListOffsetsRequest): Effect.Effect<ListOffsetsResponse, StorageError> =>
  Effect.gen(function*() {
    const topics: Array<{ name: string; partitions: Array<ListOffsetsResponsePartition> }> = []
    for (const t of request.topics) {
      const topic = ctx.topics.get(t.name)
      const partitions: Array<ListOffsetsResponsePartition> = []
      for (const p of t.partitions) {
        if (topic === undefined || isInternalTopic(t.name) || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) {
          partitions.push({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, timestamp: -1, offset: -1 })
          continue
        }
        const notLeader = ctx.leaderError(t.name, p.partitionIndex)
        if (notLeader !== ErrorCode.NONE) {
          partitions.push({ partitionIndex: p.partitionIndex, errorCode: notLeader, timestamp: -1, offset: -1 })
          continue
        }
        const tp = topicPartition(t.name, p.partitionIndex)
        const found = p.timestamp === LATEST
          ? { offset: ctx.log.unsafeHighWatermark(tp), timestamp: -1 }
          : p.timestamp === EARLIEST
          ? { offset: yield* ctx.logStartOffset(tp), timestamp: -1 }
          : yield* byTimestamp(ctx, tp, p.timestamp)
        partitions.push({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE, leaderEpoch: ctx.leaderEpoch(t.name, p.partitionIndex), ...found })
      }
      topics.push({ name: t.name, partitions })
    }
    return { throttleTimeMs: 0, topics }
  })
