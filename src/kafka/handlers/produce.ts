/**
 * Produce: validates each partition's record batch (one RecordBatch v2 per partition, as Kafka
 * requires from v3 on: framing, CRC-32C, offset deltas, no transactions), applies idempotent
 * producer sequence checks (IdempotentProducers: the last five batches per producer and
 * partition, rebuilt from the log's tail after a restart), appends the batch whole (the log
 * patches its baseOffset), routes its records to matching MQTT subscribers, and answers once
 * every batch is durable (acks 1 and -1; this broker is its own only replica) or at once with
 * no response (acks 0). A batch whose partition's producer state is still being read waits for
 * it; every other batch is decided synchronously.
 */
import { Effect } from "effect"
import { type TopicPartition, topicPartition } from "../../../domain/ids.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { SequenceCheck } from "../../../domain/kafka/ProducerState.js"
import { isInternalTopic, type TopicState } from "../../../domain/meta/topics.js"
import {
  ATTR_CONTROL,
  ATTR_TRANSACTIONAL,
  batchAttributes,
  batchLastOffsetDelta,
  batchProducerId,
  batchRecordCount,
  decodeBatch,
  setLogAppendTime,
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

interface Accepted {
  readonly tp: TopicPartition
  /** Durable once this offset is: the batch's last, or its first copy's for a retry. */
  readonly lastOffset: number
  /** -1 without: a producer whose write failed is forgotten on `tp`. */
  readonly producerId: number
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

/** Delivers the records of a Kafka-produced batch to MQTT subscribers of their topics, on every node of a cluster. */
const routeToMqtt = (ctx: KafkaContext, topic: string, tp: TopicPartition | null, bytes: Uint8Array): void => {
  const engine = ctx.engine
  if (engine.subscriptions.count === 0 && (engine.remote === null || !engine.remote.hasRemoteRoutes())) return
  const records = decodeBatch(bytes)
  if (typeof records === "string") return
  const limits = ctx.config.limits
  for (const r of records) {
    const mqttTopic = engine.mapping.mqttTopicOf(topic, r.key)
    if (mqttTopic === null || validateTopicName(mqttTopic, limits.maxTopicLevels, limits.maxTopicLength) !== 0) continue
    const message = messageFromRecord(tp, r, mqttTopic)
    if (message === null) continue
    engine.publishProduced(message)
  }
}

/** Why a partition's batch is refused before any idempotence check, or null when it may go on. */
const refusal = (
  ctx: KafkaContext,
  request: ProduceRequest,
  apiVersion: number,
  topicName: string,
  topic: TopicState | undefined,
  partitionIndex: number,
  records: Buffer | null
): ProduceResponsePartition | null => {
  const acks = request.acks
  if (acks !== 0 && acks !== 1 && acks !== -1) return partitionError(partitionIndex, ErrorCode.INVALID_REQUIRED_ACKS)
  if (request.transactionalId !== null) {
    return partitionError(partitionIndex, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactions are not supported")
  }
  if (topic === undefined || isInternalTopic(topicName) || partitionIndex < 0 || partitionIndex >= topic.partitions) {
    return partitionError(partitionIndex, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
  }
  // Cluster: only the leader appends; the client refreshes its metadata and goes there.
  const notLeader = ctx.leaderError(topicName, partitionIndex)
  if (notLeader !== ErrorCode.NONE) return partitionError(partitionIndex, notLeader)
  if (records === null) return partitionError(partitionIndex, ErrorCode.CORRUPT_MESSAGE, "no records")
  const invalid = validateBatch(records)
  if (invalid !== undefined) return partitionError(partitionIndex, ErrorCode.CORRUPT_MESSAGE, invalid)
  const count = batchRecordCount(records)
  if (count <= 0 || batchLastOffsetDelta(records) !== count - 1) {
    return partitionError(partitionIndex, ErrorCode.CORRUPT_MESSAGE, "offset deltas must run 0..count-1")
  }
  const attributes = batchAttributes(records)
  if ((attributes & (ATTR_TRANSACTIONAL | ATTR_CONTROL)) !== 0) {
    return partitionError(partitionIndex, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, "transactional batches are not supported")
  }
  // Batches are stored unparsed: one no consumer can decompress would poison the partition.
  const codec = attributes & COMPRESSION_MASK
  if (codec > CompressionCodec.Zstd) return partitionError(partitionIndex, ErrorCode.CORRUPT_MESSAGE, `unknown compression codec ${codec}`)
  if (codec === CompressionCodec.Zstd && apiVersion < 7) {
    return partitionError(partitionIndex, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later (KIP-110)")
  }
  if (records.length > maxMessageBytes(topic.config)) return partitionError(partitionIndex, ErrorCode.MESSAGE_TOO_LARGE)
  return null
}

/**
 * Hot path. The idempotence check, then the append of a valid batch (its partition's producer
 * state is ready): a retried batch is answered with the offset its first copy got and waits
 * for that copy to be durable; a gap or a fenced epoch is refused.
 */
const admit = (
  ctx: KafkaContext,
  topicName: string,
  tp: TopicPartition,
  partitionIndex: number,
  records: Buffer,
  /** The topic's message.timestamp.type is LogAppendTime: the batch gets the broker's clock. */
  logAppendTime: boolean,
  accepted: Array<Accepted>
): ProduceResponsePartition => {
  const producers = ctx.producers
  switch (producers.unsafeCheck(tp, records)) {
    case SequenceCheck.OutOfOrder:
      return partitionError(partitionIndex, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
    case SequenceCheck.StaleEpoch:
      return partitionError(partitionIndex, ErrorCode.INVALID_PRODUCER_EPOCH)
    case SequenceCheck.Duplicate:
      accepted.push({ tp, lastOffset: producers.duplicateLastOffset, producerId: batchProducerId(records) })
      return { partitionIndex, errorCode: ErrorCode.NONE, baseOffset: producers.duplicateBaseOffset }
  }
  const count = batchRecordCount(records)
  const bytes = unpinned(records)
  const appendTime = logAppendTime ? Date.now() : -1
  if (appendTime >= 0) setLogAppendTime(bytes, appendTime)
  const baseOffset = ctx.log.unsafeAppendBatch(tp, bytes, count)
  producers.unsafeRemember(tp, bytes, baseOffset)
  accepted.push({ tp, lastOffset: baseOffset + count - 1, producerId: batchProducerId(bytes) })
  const traffic = ctx.trafficOf(topicName)
  traffic.producedRecords += count
  traffic.producedBytes += bytes.length
  routeToMqtt(ctx, topicName, ctx.adoption !== null && ctx.adoption.serves(tp) ? null : tp, bytes)
  return appendTime >= 0
    ? { partitionIndex, errorCode: ErrorCode.NONE, baseOffset, logAppendTimeMs: appendTime }
    : { partitionIndex, errorCode: ErrorCode.NONE, baseOffset }
}

/** Stands in for a partition whose batch waits for its producer state (replaced before use). */
const PENDING: ProduceResponsePartition = { partitionIndex: -1, errorCode: ErrorCode.NONE, baseOffset: -1 }

export const handleProduce = (ctx: KafkaContext, request: ProduceRequest, apiVersion: number): Effect.Effect<ProduceResponse | null> => {
  const accepted: Array<Accepted> = []
  const responses: Array<{ name: string; partitions: Array<ProduceResponsePartition> }> = []
  /** Batches waiting for their partition's producer state to be read from the log. */
  let waiting = 0
  let allDecided: (() => void) | null = null
  for (const t of request.topics) {
    const partitions: Array<ProduceResponsePartition> = []
    const topic = ctx.topics.get(t.name)
    const logAppendTime = topic?.config["message.timestamp.type"] === "LogAppendTime"
    for (const p of t.partitions) {
      const refused = refusal(ctx, request, apiVersion, t.name, topic, p.partitionIndex, p.records)
      if (refused !== null) {
        partitions.push(refused)
        continue
      }
      const records = p.records!
      const tp = topicPartition(t.name, p.partitionIndex)
      if (batchProducerId(records) < 0 || ctx.producers.isReady(tp)) {
        partitions.push(admit(ctx, t.name, tp, p.partitionIndex, records, logAppendTime, accepted))
        continue
      }
      // The first idempotent batch since start-up for a partition with older data: decided,
      // in arrival order, once the producer state is read back from the log's tail.
      const slot = partitions.length
      partitions.push(PENDING)
      waiting++
      ctx.producers.whenReady(tp, (error) => {
        partitions[slot] = error === undefined
          ? admit(ctx, t.name, tp, p.partitionIndex, records, logAppendTime, accepted)
          : partitionError(p.partitionIndex, ErrorCode.KAFKA_STORAGE_ERROR)
        if (--waiting === 0 && allDecided !== null) allDecided()
      })
    }
    responses.push({ name: t.name, partitions })
  }
  if (request.acks === 0) return Effect.succeed(null)
  const response: ProduceResponse = { responses, throttleTimeMs: 0 }
  if (waiting === 0) return awaitDurable(ctx, response, accepted)
  return Effect.flatMap(
    Effect.async<void>((resume) => {
      if (waiting === 0) resume(Effect.void)
      else allDecided = () => resume(Effect.void)
    }),
    () => awaitDurable(ctx, response, accepted)
  )
}

/** Answers once every accepted batch is durable; a failed write forgets its producer's state. */
const awaitDurable = (ctx: KafkaContext, response: ProduceResponse, accepted: ReadonlyArray<Accepted>): Effect.Effect<ProduceResponse> => {
  if (accepted.length === 0) return Effect.succeed(response)
  return Effect.async<ProduceResponse>((resume) => {
    let waiting = accepted.length
    let failed: Array<TopicPartition> | null = null
    for (const a of accepted) {
      ctx.log.unsafeOnDurable(a.tp, a.lastOffset, (error?: StorageError) => {
        if (error !== undefined) {
          ;(failed ??= []).push(a.tp)
          if (a.producerId >= 0) ctx.producers.unsafeForget(a.tp, a.producerId)
        }
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
