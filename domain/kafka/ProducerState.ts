/**
 * Idempotent-producer state of one producer on one partition, after Kafka's ProducerStateEntry:
 * the producer epoch and the last RETAINED_BATCHES batches it appended (first and last sequence
 * number, base offset). A client keeps up to five Produce requests in flight per connection
 * (kafkajs and librdkafka both default to 5), so any of the last five may come back as a retry;
 * it is answered with the offset it was first given instead of being appended again.
 *
 * `checkSequence` applies Kafka's rules in Kafka's order (UnifiedLog.analyzeAndValidateProducerState,
 * ProducerAppendInfo.checkSequence): a duplicate of a remembered batch (same epoch, same sequence
 * range) first; then an older epoch is fenced; a newer epoch must start at sequence 0; otherwise
 * the batch must follow the newest one (sequences wrap at 2^31). A producer with no entry is
 * unknown (new, or its batches are no longer in the log) and any sequence is accepted, as Kafka
 * does once a producer's state is gone.
 *
 * Pure and synchronous. An entry is a fixed set of small arrays used as a ring, so checking and
 * recording a batch of a known producer allocates nothing (the Produce hot path).
 */
import {
  batchBaseSequence,
  batchLastOffsetDelta,
  batchProducerEpoch,
  batchProducerId
} from "../message/RecordBatch.js"

/** Batches remembered per producer and partition (Kafka's ProducerStateEntry.NumBatchesToRetain). */
export const RETAINED_BATCHES = 5
/** Sequence numbers are int32 and wrap to 0 after Int32.MAX_VALUE. */
export const SEQUENCE_WRAP = 2 ** 31

/** What to do with a batch (numeric: the Produce path switches on it). */
export const SequenceCheck = {
  /** Append it: in sequence, a new epoch starting at 0, or an unknown producer. */
  Append: 0,
  /** A retry of a remembered batch: answer with `duplicateBaseOffset`, append nothing. */
  Duplicate: 1,
  /** A gap or a sequence older than the remembered batches: OUT_OF_ORDER_SEQUENCE_NUMBER. */
  OutOfOrder: 2,
  /** An epoch older than the producer's: INVALID_PRODUCER_EPOCH (fenced). */
  StaleEpoch: 3
} as const
export type SequenceCheck = (typeof SequenceCheck)[keyof typeof SequenceCheck]

export class ProducerEntry {
  readonly firstSequences: Array<number> = [0, 0, 0, 0, 0]
  readonly lastSequences: Array<number> = [0, 0, 0, 0, 0]
  readonly baseOffsets: Array<number> = [0, 0, 0, 0, 0]
  /** Batches held, at most RETAINED_BATCHES. */
  count = 0
  /** Slot of the newest batch in the ring. */
  newest = RETAINED_BATCHES - 1
  /** Set by `checkSequence` when it answers Duplicate: the first copy's base and last offset. */
  duplicateBaseOffset = -1
  duplicateLastOffset = -1

  constructor(
    public epoch: number,
    /** When the producer last appended here (ms): idle entries expire. */
    public lastAppendAt: number
  ) {}

  /** Sequence number of the newest batch's last record (-1 when none is held). */
  get lastSequence(): number {
    return this.count === 0 ? -1 : this.lastSequences[this.newest]!
  }
}

/** The last sequence number of a batch (Kafka's DefaultRecordBatch.lastSequence, wrapping). */
export const lastSequenceOf = (baseSequence: number, lastOffsetDelta: number): number =>
  (baseSequence + lastOffsetDelta) % SEQUENCE_WRAP

/** Hot path. The outcome for a batch of `epoch` with sequences `firstSequence..lastSequence`. */
export const checkSequence = (
  entry: ProducerEntry | undefined,
  epoch: number,
  firstSequence: number,
  lastSequence: number
): SequenceCheck => {
  if (entry === undefined) return SequenceCheck.Append
  if (epoch === entry.epoch) {
    for (let i = 0, slot = entry.newest; i < entry.count; i++, slot = (slot + RETAINED_BATCHES - 1) % RETAINED_BATCHES) {
      if (entry.firstSequences[slot] === firstSequence && entry.lastSequences[slot] === lastSequence) {
        const base = entry.baseOffsets[slot]!
        entry.duplicateBaseOffset = base
        entry.duplicateLastOffset = base + (lastSequence - firstSequence + SEQUENCE_WRAP) % SEQUENCE_WRAP
        return SequenceCheck.Duplicate
      }
    }
  }
  if (epoch < entry.epoch) return SequenceCheck.StaleEpoch
  // A bumped epoch resets the sequence (KIP-360); anything else there is a gap.
  if (epoch > entry.epoch) return firstSequence === 0 ? SequenceCheck.Append : SequenceCheck.OutOfOrder
  if (entry.count === 0) return SequenceCheck.Append
  return firstSequence === (entry.lastSequence + 1) % SEQUENCE_WRAP ? SequenceCheck.Append : SequenceCheck.OutOfOrder
}

/**
 * Hot path. Records an appended batch as the newest; a new epoch forgets the older epoch's
 * batches. The oldest of RETAINED_BATCHES is overwritten.
 */
export const recordBatch = (
  entry: ProducerEntry,
  epoch: number,
  firstSequence: number,
  lastSequence: number,
  baseOffset: number,
  now: number
): void => {
  if (epoch !== entry.epoch) {
    entry.epoch = epoch
    entry.count = 0
  }
  const slot = (entry.newest + 1) % RETAINED_BATCHES
  entry.newest = slot
  entry.firstSequences[slot] = firstSequence
  entry.lastSequences[slot] = lastSequence
  entry.baseOffsets[slot] = baseOffset
  if (entry.count < RETAINED_BATCHES) entry.count++
  entry.lastAppendAt = now
}

/**
 * Records a stored RecordBatch v2 (header fields only) into `entries`, creating the producer's
 * entry if needed. Batches without a producer id are skipped. Fed oldest first, this rebuilds
 * the state the log's tail implies: each producer's epoch and its newest batches.
 */
export const recordStoredBatch = (entries: Map<number, ProducerEntry>, bytes: Uint8Array, baseOffset: number, now: number): void => {
  const producerId = batchProducerId(bytes)
  if (producerId < 0) return
  const epoch = batchProducerEpoch(bytes)
  const firstSequence = batchBaseSequence(bytes)
  let entry = entries.get(producerId)
  if (entry === undefined) entries.set(producerId, (entry = new ProducerEntry(epoch, now)))
  recordBatch(entry, epoch, firstSequence, lastSequenceOf(firstSequence, batchLastOffsetDelta(bytes)), baseOffset, now)
}
