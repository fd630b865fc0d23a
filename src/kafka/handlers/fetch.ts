/**
 * Fetch: serves stored record batches unchanged (whatever compression the producer used) up to
 * the high watermark, within the request's per-partition and total byte budgets (the first
 * batch always goes out whole, KIP-74). With less than `minBytes` available it long-polls: it
 * waits until any requested partition's high watermark passes its fetch offset, or `maxWaitMs`.
 * Fetch sessions (KIP-227) are not kept: every response is a full one with session id 0, which
 * clients handle by sending full requests.
 */
import { Effect } from "effect"
import { type TopicPartition, topicPartition } from "../../../domain/ids.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { isInternalTopic } from "../../../domain/meta/topics.js"
import type { StorageError } from "../../../services/errors.js"
import type { KafkaContext } from "../KafkaContext.js"
import type { FetchRequest, FetchResponse, FetchResponsePartition } from "../protocol/index.js"

interface Wanted {
  readonly topic: string
  readonly partition: number
  readonly tp: TopicPartition | null
  readonly fetchOffset: number
  readonly partitionMaxBytes: number
  /** Answered at once with this error (tp is then null). */
  readonly errorCode: number
}

/**
 * A partition with nothing to return carries an empty record set, never null: librdkafka reads
 * the size as a MessageSetSize and fails the whole response on -1 ("invalid MessageSetSize").
 */
const NO_RECORDS: Buffer = Buffer.alloc(0)

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** One pass over every requested partition: what is there now, and how many bytes. */
/** Kafka's broker default `fetch.max.bytes` (55 MiB): the most one Fetch response carries. */
export const FETCH_MAX_BYTES = 57_671_680

const readAll = (ctx: KafkaContext, wanted: ReadonlyArray<Wanted>, maxBytes: number) =>
  Effect.gen(function*() {
    let total = 0
    const parts: Array<FetchResponsePartition> = []
    for (const w of wanted) {
      if (w.tp === null) {
        parts.push(emptyPartition(w.partition, w.errorCode, -1))
        continue
      }
      const hw = ctx.log.unsafeHighWatermark(w.tp)
      const logStart = yield* ctx.startOffset(w.tp)
      // Below the log start too (retention, DeleteRecords): the client resets its position.
      if (w.fetchOffset > hw || w.fetchOffset < logStart) {
        parts.push({ ...emptyPartition(w.partition, ErrorCode.OFFSET_OUT_OF_RANGE, hw), logStartOffset: logStart })
        continue
      }
      const budget = Math.min(w.partitionMaxBytes, maxBytes - total)
      let records: Array<Buffer> | null = null
      if (w.fetchOffset < hw && (budget > 0 || total === 0)) {
        const batches = yield* ctx.log.readBatches(w.tp, w.fetchOffset, Math.max(1, budget))
        for (const b of batches) {
          if (b.baseOffset >= hw) break
          // Past the budget only when nothing at all has been returned yet (KIP-74).
          if (records !== null && total + b.bytes.length > maxBytes) break
          ;(records ??= []).push(asBuffer(b.bytes))
          total += b.bytes.length
        }
      }
      parts.push({
        partitionIndex: w.partition,
        errorCode: ErrorCode.NONE,
        highWatermark: hw,
        lastStableOffset: hw,
        logStartOffset: logStart,
        records: records ?? NO_RECORDS
      })
    }
    return { parts, total }
  })

/** Adds what a response carries of `topic` to its fetch counters (metrics). */
const countFetched = (ctx: KafkaContext, topic: string, partitions: ReadonlyArray<FetchResponsePartition>): void => {
  let records = 0
  let bytes = 0
  for (const p of partitions) {
    if (p.records === NO_RECORDS) continue
    for (const chunk of p.records as ReadonlyArray<Buffer>) {
      bytes += chunk.length
      // A chunk may hold several batches: records count at byte 57, batch length at 8.
      for (let at = 0, length = 0; at + 61 <= chunk.length && (length = chunk.readInt32BE(at + 8)) > 0; at += 12 + length) {
        records += chunk.readInt32BE(at + 57)
      }
    }
  }
  if (bytes === 0) return
  const traffic = ctx.trafficOf(topic)
  traffic.fetchedRecords += records
  traffic.fetchedBytes += bytes
}

const emptyPartition = (partitionIndex: number, errorCode: number, hw: number): FetchResponsePartition => ({
  partitionIndex,
  errorCode,
  highWatermark: hw,
  lastStableOffset: hw,
  logStartOffset: -1,
  records: NO_RECORDS
})

/**
 * Resumes when any partition gets records beyond what the last pass saw (its high watermark
 * passes both the fetch offset and the high watermark read then: waiting on the fetch offset
 * alone would wake at once, and spin, while fewer than minBytes are stored), or after `ms`.
 */
const awaitData = (ctx: KafkaContext, wanted: ReadonlyArray<Wanted>, seen: ReadonlyArray<FetchResponsePartition>, ms: number) =>
  Effect.async<void>((resume) => {
    let resumed = false
    const cancels: Array<() => void> = []
    const wake = () => {
      if (resumed) return
      resumed = true
      clearTimeout(timer)
      for (const c of cancels) c()
      resume(Effect.void)
    }
    const timer = setTimeout(wake, ms)
    for (let i = 0; i < wanted.length && !resumed; i++) {
      const w = wanted[i]!
      if (w.tp !== null) cancels.push(ctx.log.unsafeOnAdvance(w.tp, Math.max(w.fetchOffset, seen[i]!.highWatermark), wake))
    }
    return Effect.sync(wake)
  })

export const handleFetch = (ctx: KafkaContext, request: FetchRequest): Effect.Effect<FetchResponse, StorageError> =>
  Effect.gen(function*() {
    const wanted: Array<Wanted> = []
    for (const t of request.topics) {
      const topic = ctx.topics.get(t.topic)
      for (const p of t.partitions) {
        const known = topic !== undefined && !isInternalTopic(t.topic) && p.partition >= 0 && p.partition < topic.partitions
        // Cluster: a partition led elsewhere (or by nobody now) is not read here.
        const errorCode = known ? ctx.leaderError(t.topic, p.partition) : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        wanted.push({
          topic: t.topic,
          partition: p.partition,
          tp: errorCode === ErrorCode.NONE ? topicPartition(t.topic, p.partition) : null,
          fetchOffset: p.fetchOffset,
          partitionMaxBytes: p.partitionMaxBytes,
          errorCode
        })
      }
    }
    // The client's limit, within the broker's (Fetch v0-2 have none): one response never
    // buffers more than FETCH_MAX_BYTES, whatever a client asks for.
    const maxBytes = request.maxBytes > 0 ? Math.min(request.maxBytes, FETCH_MAX_BYTES) : FETCH_MAX_BYTES
    let result = yield* readAll(ctx, wanted, maxBytes)
    const deadline = Date.now() + request.maxWaitMs
    // An error answers at once, as on Kafka; so does minBytes 0.
    const waits = () => result.total < request.minBytes && result.parts.every((p) => p.errorCode === ErrorCode.NONE)
    while (waits()) {
      const left = deadline - Date.now()
      if (left <= 0) break
      yield* awaitData(ctx, wanted, result.parts, left)
      result = yield* readAll(ctx, wanted, maxBytes)
    }
    // Group the partitions back under their topics, in request order.
    const responses: Array<{ topic: string; partitions: Array<FetchResponsePartition> }> = []
    let i = 0
    for (const t of request.topics) {
      const partitions: Array<FetchResponsePartition> = []
      for (let j = 0; j < t.partitions.length; j++) partitions.push(result.parts[i++]!)
      countFetched(ctx, t.topic, partitions)
      responses.push({ topic: t.topic, partitions })
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses }
  })
