/**
 * Produce: validates each partition's record batch (one RecordBatch v2 per partition, as Kafka
 * requires from v3 on: framing, CRC-32C, offset deltas, no transactions), applies idempotent
 * producer sequence checks, appends the batch whole (the log patches its baseOffset), routes
 * its records to matching MQTT subscribers, and answers once every batch is durable (acks 1 and
 * -1; this broker is its own only replica) or at once with no response (acks 0).
 */
import { Effect } from "effect"
import { type TopicPartition, topicPartition } from "../../../domain/ids.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { isInternalTopic } from "../../../domain/meta/topics.js"
import {
  ATTR_CONTROL,
  ATTR_TRANSACTIONAL,
  batchAttributes,
  batchBaseSequence,
  batchLastOffsetDelta,
  batchProducerEpoch,
  batchProducerId,
  batchRecordCount,
  decodeBatch,
  validateBatch
} from "../../../domain/message/RecordBatch.js"
import { CompressionCodec } from "../../../domain/message/compression.js"
import { validateTopicName } from "../../../domain/topic/TopicName.js"
import type { StorageError } from "../../../services/errors.js"
import { messageFromRecord } from "../../mqtt/engine/Message.js"
import { unpinned } from "../../net/unpinned.js"
import type { KafkaContext } from "../KafkaContext.js"
import type { ProduceRequest, ProduceResponse, ProduceResponsePartition } from "../protocol/index.js"

/** Kafka's default max.message.bytes (1 MiB + 12 bytes of log overhead). */
const DEFAULT_MAX_MESSAGE_BYTES = 1048588
/** Attributes bits 0-2: the compression codec. */
const COMPRESSION_MASK = 0x07
const SEQUENCE_WRAP = 2 ** 31

interface Accepted {
  readonly tp: TopicPartition
  readonly lastOffset: number
}

const partitionError = (partitionIndex: number, errorCode: number, errorMessage: string | null = null): ProduceResponsePartition => ({
  partitionIndex,
  errorCode,
  baseOffset: -1,
  errorMessage
})

const maxMessageBytes = (config: Readonly<Record<string, string>>): number => {
  const v = config["max.message.bytes"]
  return v === undefined ? DEFAULT_MAX_MESSAGE_BYTES : Number(v)
}

/** Delivers the records of a Kafka-produced batch to MQTT subscribers of their topics. */
const routeToMqtt = (ctx: KafkaContext, topic: string, tp: TopicPartition, bytes: Uint8Array): void => {
  const engine = ctx.engine
  if (engine.subscriptions.count === 0) return
  const records = decodeBatch(bytes)
  if (typeof records === "string") return
  const limits = ctx.config.limits
  for (const r of records) {
    const mqttTopic = engine.mapping.mqttTopicOf(topic, r.key)
    if (mqttTopic === null || validateTopicName(mqttTopic, limits.maxTopicLevels, limits.maxTopicLength) !== 0) continue
    const message = messageFromRecord(tp, r, mqttTopic)
    if (message === null) continue
    engine.stats.messagesReceived++
    engine.route(message)
  }
}

/**
 * The idempotence check of one batch: NONE to append, a duplicate's earlier offset, or an error.
 * Only the last batch per producer and partition is remembered (Kafka keeps five), and the
 * state lives in memory: after a restart a producer's next batch is accepted as it comes.
 */
const checkSequence = (ctx: KafkaContext, tp: TopicPartition, bytes: Uint8Array): { errorCode: number; duplicateOf?: number } => {
  const producerId = batchProducerId(bytes)
  if (producerId < 0) return { errorCode: ErrorCode.NONE }
  const epoch = batchProducerEpoch(bytes)
  const baseSequence = batchBaseSequence(bytes)
  const state = ctx.producers.get(ctx.producerKey(producerId, tp))
  if (state === undefined || epoch > state.epoch) return { errorCode: ErrorCode.NONE }
  if (epoch < state.epoch) return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH }
  if (baseSequence === state.lastBaseSequence) return { errorCode: ErrorCode.NONE, duplicateOf: state.lastBaseOffset }
  if (baseSequence !== (state.lastSequence + 1) % SEQUENCE_WRAP) return { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER }
  return { errorCode: ErrorCode.NONE }
}

const rememberSequence = (ctx: KafkaContext, tp: TopicPartition, bytes: Uint8Array, baseOffset: number): void => {
  const producerId = batchProducerId(bytes)
  if (producerId < 0) return
  const baseSequence = batchBaseSequence(bytes)
  ctx.producers.set(ctx.producerKey(producerId, tp), {
    epoch: batchProducerEpoch(bytes),
    lastBaseSequence: baseSequence,
    lastSequence: (baseSequence + batchRecordCount(bytes) - 1) % SEQUENCE_WRAP,
    lastBaseOffset: baseOffset
  })
}

export const handleProduce = (ctx: KafkaContext, request: ProduceRequest, apiVersion: number): Effect.Effect<ProduceResponse | null> => {
  const acks = request.acks
  const accepted: Array<Accepted> = []
  const responses = request.topics.map((t) => {
    const topic = ctx.topics.get(t.name)
    return {
      name: t.name,
      partitions: t.partitions.map((p): ProduceResponsePartition => {
        if (acks !== 0 && acks !== 1 && acks !== -1) return partitionError(p.partitionIndex, ErrorCode.INVALID_REQUIRED_ACKS)
        if (request.transactionalId !== null) {
          return partitionError(p.partitionIndex, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactions are not supported")
        }
        if (topic === undefined || isInternalTopic(t.name) || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) {
          return partitionError(p.partitionIndex, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        }
        const records = p.records
        if (records === null) return partitionError(p.partitionIndex, ErrorCode.CORRUPT_MESSAGE, "no records")
        const invalid = validateBatch(records)
        if (invalid !== undefined) return partitionError(p.partitionIndex, ErrorCode.CORRUPT_MESSAGE, invalid)
        const count = batchRecordCount(records)
        if (count <= 0 || batchLastOffsetDelta(records) !== count - 1) {
          return partitionError(p.partitionIndex, ErrorCode.CORRUPT_MESSAGE, "offset deltas must run 0..count-1")
        }
        const attributes = batchAttributes(records)
        if ((attributes & (ATTR_TRANSACTIONAL | ATTR_CONTROL)) !== 0) {
          return partitionError(p.partitionIndex, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, "transactional batches are not supported")
        }
        // Batches are stored unparsed: one no consumer can decompress would poison the partition.
        const codec = attributes & COMPRESSION_MASK
        if (codec > CompressionCodec.Zstd) return partitionError(p.partitionIndex, ErrorCode.CORRUPT_MESSAGE, `unknown compression codec ${codec}`)
        if (codec === CompressionCodec.Zstd && apiVersion < 7) {
          return partitionError(p.partitionIndex, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later (KIP-110)")
        }
        if (records.length > maxMessageBytes(topic.config)) return partitionError(p.partitionIndex, ErrorCode.MESSAGE_TOO_LARGE)
        const tp = topicPartition(t.name, p.partitionIndex)
        const sequence = checkSequence(ctx, tp, records)
        if (sequence.errorCode !== ErrorCode.NONE) return partitionError(p.partitionIndex, sequence.errorCode)
        if (sequence.duplicateOf !== undefined) {
          return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE, baseOffset: sequence.duplicateOf }
        }
        const bytes = unpinned(records)
        const baseOffset = ctx.log.unsafeAppendBatch(tp, bytes, count)
        rememberSequence(ctx, tp, bytes, baseOffset)
        accepted.push({ tp, lastOffset: baseOffset + count - 1 })
        routeToMqtt(ctx, t.name, tp, bytes)
        return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE, baseOffset }
      })
    }
  })
  if (acks === 0) return Effect.succeed(null)
  const response: ProduceResponse = { responses, throttleTimeMs: 0 }
  if (accepted.length === 0) return Effect.succeed(response)
  return Effect.async<ProduceResponse>((resume) => {
    let waiting = accepted.length
    let failed: Array<TopicPartition> | null = null
    for (const a of accepted) {
      ctx.log.unsafeOnDurable(a.tp, a.lastOffset, (error?: StorageError) => {
        if (error !== undefined) (failed ??= []).push(a.tp)
        if (--waiting === 0) resume(Effect.succeed(failed === null ? response : withStorageErrors(response, failed)))
      })
    }
  })
}

/** A failed write: its partitions answer KAFKA_STORAGE_ERROR (the client retries). */
const withStorageErrors = (response: ProduceResponse, failed: ReadonlyArray<TopicPartition>): ProduceResponse => ({
  ...response,
  responses: response.responses.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) =>
      failed.includes(topicPartition(t.name, p.partitionIndex)) ? partitionError(p.partitionIndex, ErrorCode.KAFKA_STORAGE_ERROR) : p
    )
  }))
})
