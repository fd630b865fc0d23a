/**
 * Idempotent-producer state per partition (domain/kafka/ProducerState.ts holds the rules), and
 * its rebuilding after a restart from the log itself, as Kafka rebuilds producer state from
 * the batch headers of its log: every stored batch carries producerId, producerEpoch,
 * baseSequence and lastOffsetDelta.
 *
 * A partition that held data when this process started is "not ready" until its tail has been
 * read once: the first batch with a producer id for it starts one read (`whenReady`), and
 * every batch with a producer id for it waits in a queue until then; the queue is then run in
 * arrival order in one synchronous pass, so two concurrent first batches of a producer are
 * decided one after the other, never both against an empty state. After that (and always for
 * partitions created by this process) checks are synchronous and allocate nothing.
 *
 * The tail read is bounded: the newest batches below the partition's end offset at start-up,
 * going back until they hold TAIL_BYTES (1 MiB) or the log start, reading at most
 * MAX_TAIL_BYTES (4 MiB). Retries after a restart are of the batches in flight at the crash,
 * the newest ones of each producer, which that window holds unless the partition took more
 * than 1 MiB from other producers after them. A producer whose batches are older than the
 * window is unknown and its next batch is accepted whatever its sequence (Kafka does the same
 * once a producer's batches have left the log). Batches appended after start-up are
 * remembered as they are appended, so the window ends at the start-up end offset and is not
 * pushed back by later traffic.
 *
 * Entries idle for PRODUCER_EXPIRATION_MS (Kafka's producer.id.expiration.ms, 1 day) are
 * dropped when a partition's map grows, so memory follows live producers.
 */
import { Cause, Effect } from "effect"
import { streamOf, type TopicPartition } from "../../domain/ids.js"
import {
  checkSequence,
  lastSequenceOf,
  ProducerEntry,
  recordBatch,
  recordStoredBatch,
  SequenceCheck
} from "../../domain/kafka/ProducerState.js"
import {
  batchBaseSequence,
  batchLastOffsetDelta,
  batchProducerEpoch,
  batchProducerId
} from "../../domain/message/RecordBatch.js"
import { StorageError } from "../../services/errors.js"
import type { EncodedBatch } from "../../services/LogDriver.js"
import type { MessageLog } from "../../services/MessageLog.js"

/** The tail read stops once it holds this much (newest batches first). */
export const TAIL_BYTES = 1 << 20
/** Never reads more than this: a round that would pass it is dropped (the tail stays contiguous). */
export const MAX_TAIL_BYTES = 4 << 20
/** Offsets the first round goes back; each further round goes back 8 times as far. */
const FIRST_SPAN = 256
const SPAN_GROWTH = 8
const MAX_ROUNDS = 8
const PAGE_BYTES = 256 << 10
/** Kafka's producer.id.expiration.ms default. */
export const PRODUCER_EXPIRATION_MS = 24 * 60 * 60 * 1000
const MIN_SWEEP_SIZE = 64

/** A job waiting for a partition's tail: runs with the read's error, if it failed. */
export type TailJob = (error: StorageError | undefined) => void

class PartitionProducers {
  readonly producers = new Map<number, ProducerEntry>()
  /** False until the log's tail below `tailEnd` has been read. */
  ready: boolean
  /** Jobs waiting for the tail read, in arrival order; non-null while a read runs. */
  waiting: Array<TailJob> | null = null
  /** Sweep idle entries once the map reaches this size. */
  sweepAt = MIN_SWEEP_SIZE

  constructor(readonly tailEnd: number) {
    this.ready = tailEnd <= 0
  }
}

/**
 * The contiguous newest batches of `tp` below `end`, oldest first, within the bounds above.
 * Rounds go back from `end`, each reading forward [from, upper) in pages; `upper` moves to the
 * base offset of the oldest batch read so far, so no batch is read twice.
 */
export const readTail = (
  log: Pick<MessageLog["Type"], "readBatches" | "startOffset">,
  tp: TopicPartition,
  end: number
): Effect.Effect<Array<EncodedBatch>, StorageError> =>
  Effect.gen(function*() {
    const start = yield* log.startOffset(tp)
    const rounds: Array<Array<EncodedBatch>> = []
    let upper = end
    let span = FIRST_SPAN
    let bytes = 0
    for (let round = 0; round < MAX_ROUNDS && upper > start && bytes < TAIL_BYTES; round++, span *= SPAN_GROWTH) {
      const from = Math.max(start, upper - span)
      const got: Array<EncodedBatch> = []
      let gotBytes = 0
      let next = from
      let overflow = false
      while (next < upper && !overflow) {
        const page = yield* log.readBatches(tp, next, PAGE_BYTES)
        let progressed = false
        for (const b of page) {
          if (b.baseOffset >= upper) {
            next = upper
            break
          }
          got.push(b)
          gotBytes += b.bytes.length
          next = b.lastOffset + 1
          progressed = true
        }
        if (!progressed) break
        overflow = bytes + gotBytes > MAX_TAIL_BYTES
      }
      if (overflow) break
      if (got.length > 0) {
        rounds.push(got)
        bytes += gotBytes
        upper = got[0]!.baseOffset
      } else {
        upper = from
      }
    }
    const tail: Array<EncodedBatch> = []
    for (let i = rounds.length - 1; i >= 0; i--) for (const b of rounds[i]!) tail.push(b)
    return tail
  })

export class IdempotentProducers {
  private readonly partitions = new Map<TopicPartition, PartitionProducers>()
  /** End offsets at start-up of the partitions that held data then. */
  private readonly tailEnds = new Map<TopicPartition, number>()
  /** Set by `unsafeCheck` when it answers Duplicate. */
  duplicateBaseOffset = -1
  duplicateLastOffset = -1

  constructor(
    private readonly log: Pick<MessageLog["Type"], "readBatches" | "startOffset" | "unsafePartitions" | "unsafeEndOffset">,
    /** Runs an effect detached from any request (the tail read outlives the request that asked). */
    private readonly run: (effect: Effect.Effect<void>) => void,
    private readonly now: () => number = Date.now
  ) {
    for (const tp of log.unsafePartitions()) {
      const end = log.unsafeEndOffset(tp)
      if (end > 0) this.tailEnds.set(tp, end)
    }
  }

  private partition(tp: TopicPartition): PartitionProducers {
    let p = this.partitions.get(tp)
    if (p === undefined) this.partitions.set(tp, (p = new PartitionProducers(this.tailEnds.get(tp) ?? 0)))
    return p
  }

  /** Hot path. Whether batches for `tp` can be checked now (its tail has been read). */
  isReady(tp: TopicPartition): boolean {
    return this.partition(tp).ready
  }

  /**
   * Runs `job` once `tp` is ready, after every job queued before it, starting the tail read if
   * none runs. At once when already ready. A failed read runs the queued jobs with its error and
   * leaves the partition not ready, so the next batch tries again.
   */
  whenReady(tp: TopicPartition, job: TailJob): void {
    const p = this.partition(tp)
    if (p.ready) return job(undefined)
    if (p.waiting !== null) {
      p.waiting.push(job)
      return
    }
    p.waiting = [job]
    this.run(Effect.flatMap(Effect.exit(readTail(this.log, tp, p.tailEnd)), (exit) => {
      let error: StorageError | undefined
      if (exit._tag === "Success") {
        const now = this.now()
        const seeded = new Map<number, ProducerEntry>()
        for (const b of exit.value) recordStoredBatch(seeded, b.bytes, b.baseOffset, now)
        // Producers that appended since start-up are newer than anything in the tail.
        for (const [id, entry] of seeded) if (!p.producers.has(id)) p.producers.set(id, entry)
        p.ready = true
      } else {
        const failure = Cause.failureOption(exit.cause)
        error = failure._tag === "Some" ? failure.value : new StorageError({ op: "read", path: tp, cause: Cause.squash(exit.cause) })
      }
      const jobs = p.waiting!
      p.waiting = null
      let thrown: unknown = undefined
      for (const j of jobs) {
        try {
          j(error)
        } catch (e) {
          thrown ??= e
        }
      }
      const logs: Array<Effect.Effect<void>> = []
      if (error !== undefined) logs.push(Effect.logError(`reading the producer state of ${tp} from its log failed`, error))
      if (thrown !== undefined) logs.push(Effect.logError("a produce job threw", Cause.die(thrown)))
      return Effect.all(logs, { discard: true })
    }))
  }

  /**
   * Hot path; `tp` must be ready. The idempotence check of one batch (a SequenceCheck); on
   * Duplicate, `duplicateBaseOffset`/`duplicateLastOffset` hold the first copy's offsets.
   */
  unsafeCheck(tp: TopicPartition, bytes: Uint8Array): SequenceCheck {
    const producerId = batchProducerId(bytes)
    if (producerId < 0) return SequenceCheck.Append
    const entry = this.partition(tp).producers.get(producerId)
    const first = batchBaseSequence(bytes)
    const outcome = checkSequence(entry, batchProducerEpoch(bytes), first, lastSequenceOf(first, batchLastOffsetDelta(bytes)))
    if (outcome === SequenceCheck.Duplicate) {
      this.duplicateBaseOffset = entry!.duplicateBaseOffset
      this.duplicateLastOffset = entry!.duplicateLastOffset
    }
    return outcome
  }

  /** Hot path. Remembers a batch appended at `baseOffset` (after `unsafeCheck` said Append). */
  unsafeRemember(tp: TopicPartition, bytes: Uint8Array, baseOffset: number): void {
    const producerId = batchProducerId(bytes)
    if (producerId < 0) return
    const p = this.partition(tp)
    const epoch = batchProducerEpoch(bytes)
    const first = batchBaseSequence(bytes)
    const now = this.now()
    let entry = p.producers.get(producerId)
    if (entry === undefined) {
      if (p.producers.size >= p.sweepAt) this.sweep(p, now)
      p.producers.set(producerId, (entry = new ProducerEntry(epoch, now)))
    }
    recordBatch(entry, epoch, first, lastSequenceOf(first, batchLastOffsetDelta(bytes)), baseOffset, now)
  }

  /**
   * Forgets a producer on `tp`: a write of its batch failed, so what was remembered is not in
   * the log and a retry must be appended (the producer is unknown until its next batch).
   */
  unsafeForget(tp: TopicPartition, producerId: number): void {
    this.partitions.get(tp)?.producers.delete(producerId)
  }

  /**
   * `tp` is served from another log from now on (`--workers`: a dead sibling's store, or back
   * from it), whose end is `end`: its state is read from that log's tail before the next
   * idempotent batch is checked, as after a restart.
   */
  reload(tp: TopicPartition, end: number): void {
    this.partitions.delete(tp)
    if (end > 0) this.tailEnds.set(tp, end)
    else this.tailEnds.delete(tp)
  }

  /** A deleted topic: its partitions start afresh if it is created again. */
  forgetTopic(name: string): void {
    for (const tp of this.partitions.keys()) if (streamOf(tp) === name) this.partitions.delete(tp)
    for (const tp of this.tailEnds.keys()) if (streamOf(tp) === name) this.tailEnds.delete(tp)
  }

  /** The state of one producer (tests, admin). */
  entry(tp: TopicPartition, producerId: number): ProducerEntry | undefined {
    return this.partitions.get(tp)?.producers.get(producerId)
  }

  private sweep(p: PartitionProducers, now: number): void {
    for (const [id, e] of p.producers) if (now - e.lastAppendAt > PRODUCER_EXPIRATION_MS) p.producers.delete(id)
    p.sweepAt = Math.max(MIN_SWEEP_SIZE, p.producers.size * 2)
  }
}
