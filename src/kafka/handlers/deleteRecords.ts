/**
 * DeleteRecords: moves partitions' log start offsets up, after Kafka's
 * Partition.deleteRecordsOnLeader. Per partition: offset -1 means the high watermark; an offset
 * below 0 or above the high watermark is OFFSET_OUT_OF_RANGE; one at or below the current log
 * start changes nothing (kafkajs warns about it, Kafka answers it without an error); otherwise
 * the new start is stored as a floor (LogStartOffsets, durable before the answer) and the
 * answer's low watermark is exactly it. Then storage frees the batches wholly below it, except
 * what persistent MQTT sessions still need (TopicPolicies' hold): those records stay for MQTT
 * but Kafka readers no longer see them.
 */
import { Effect } from "effect"
import { topicPartition } from "../../../domain/ids.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import type { RaisedLogStart } from "../../../domain/kafka/logStartOffsets.js"
import { isInternalTopic } from "../../../domain/meta/topics.js"
import type { StorageError } from "../../../services/errors.js"
import type { KafkaContext } from "../KafkaContext.js"
import type { DeleteRecordsPartitionResult, DeleteRecordsRequest, DeleteRecordsResponse } from "../protocol/index.js"

const HIGH_WATERMARK = -1

const failed = (partitionIndex: number, errorCode: number): DeleteRecordsPartitionResult => ({ partitionIndex, lowWatermark: -1, errorCode })

export const handleDeleteRecords = (ctx: KafkaContext, request: DeleteRecordsRequest): Effect.Effect<DeleteRecordsResponse, StorageError> =>
  Effect.gen(function*() {
    const topics: Array<{ name: string; partitions: Array<DeleteRecordsPartitionResult> }> = []
    const raised: Array<RaisedLogStart> = []
    for (const t of request.topics) {
      const topic = ctx.topics.get(t.name)
      const partitions: Array<DeleteRecordsPartitionResult> = []
      for (const p of t.partitions) {
        if (topic === undefined || isInternalTopic(t.name) || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) {
          partitions.push(failed(p.partitionIndex, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
          continue
        }
        const notLeader = ctx.leaderError(t.name, p.partitionIndex)
        if (notLeader !== ErrorCode.NONE) {
          partitions.push(failed(p.partitionIndex, notLeader))
          continue
        }
        const tp = topicPartition(t.name, p.partitionIndex)
        const highWatermark = ctx.log.unsafeHighWatermark(tp)
        const target = p.offset === HIGH_WATERMARK ? highWatermark : p.offset
        if (target < 0 || target > highWatermark) {
          partitions.push(failed(p.partitionIndex, ErrorCode.OFFSET_OUT_OF_RANGE))
          continue
        }
        const start = yield* ctx.logStartOffset(tp)
        if (target > start) raised.push({ topic: t.name, topicCreatedAt: topic.createdAt, partition: p.partitionIndex, offset: target })
        partitions.push({ partitionIndex: p.partitionIndex, lowWatermark: Math.max(start, target), errorCode: ErrorCode.NONE })
      }
      topics.push({ name: t.name, partitions })
    }
    if (raised.length === 0) return { throttleTimeMs: 0, topics }

    const stored = yield* Effect.either(ctx.logStarts.raise(raised))
    if (stored._tag === "Left") {
      yield* Effect.logError("DeleteRecords: storing the new log start offsets failed", stored.left)
      const lost = new Set(raised.map((r) => topicPartition(r.topic, r.partition)))
      return {
        throttleTimeMs: 0,
        topics: topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) =>
            lost.has(topicPartition(t.name, p.partitionIndex)) ? failed(p.partitionIndex, ErrorCode.KAFKA_STORAGE_ERROR) : p
          )
        }))
      }
    }
    for (const r of raised) {
      const tp = topicPartition(r.topic, r.partition)
      const hold = ctx.policies.policyFor(tp).keepFrom
      const before = hold === undefined ? r.offset : Math.min(r.offset, hold)
      if (before <= 0) continue
      // The floor already answers for Kafka readers; freeing space may fail without harm.
      yield* ctx.log.truncateBefore(tp, before).pipe(
        Effect.catchAll((e) => Effect.logError(`DeleteRecords: freeing ${tp} below ${before} failed`, e))
      )
    }
    return { throttleTimeMs: 0, topics }
  })
