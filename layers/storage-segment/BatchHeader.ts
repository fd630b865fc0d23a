/**
 * Reads the few RecordBatch v2 header fields the segment store needs (where a batch ends, its
 * offsets, its max timestamp) straight out of a file chunk at any position, without a view or
 * copy per batch. The layout is documented in domain/message/RecordBatch.ts; this module only
 * mirrors the field positions. It never decodes records and never checks CRCs (recovery does
 * that with validateBatch).
 */
import { BATCH_HEADER_SIZE, BATCH_LOG_OVERHEAD, MAGIC } from "../../domain/message/RecordBatch.js"

export { BATCH_HEADER_SIZE }

const TWO_32 = 4294967296

const readInt64 = (buf: Buffer, at: number): number => buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4)

/** baseOffset of the batch starting at `at`. */
export const headerBaseOffset = (buf: Buffer, at: number): number => readInt64(buf, at)

/** Total bytes of the batch starting at `at` (batchLength plus the 12 bytes it does not count). */
export const headerBatchSize = (buf: Buffer, at: number): number => BATCH_LOG_OVERHEAD + buf.readInt32BE(at + 8)

/** lastOffsetDelta of the batch starting at `at`. */
export const headerLastOffsetDelta = (buf: Buffer, at: number): number => buf.readInt32BE(at + 23)

/** maxTimestamp of the batch starting at `at`. */
export const headerMaxTimestamp = (buf: Buffer, at: number): number => readInt64(buf, at + 35)

/**
 * Why the header at `at` cannot start a batch of at most `room` bytes, or undefined when it
 * looks sane (magic 2, a length that covers the header and fits, offsets that do not run
 * backwards). Needs BATCH_HEADER_SIZE bytes at `at`.
 */
export const headerProblem = (buf: Buffer, at: number, room: number): string | undefined => {
  if (buf[at + 16] !== MAGIC) return `magic ${buf[at + 16]}, expected ${MAGIC}`
  const size = headerBatchSize(buf, at)
  if (size < BATCH_HEADER_SIZE) return `batch length ${size - BATCH_LOG_OVERHEAD} is shorter than a header`
  if (size > room) return `batch of ${size} bytes runs past the end (${room} bytes left)`
  if (headerBaseOffset(buf, at) < 0 || headerLastOffsetDelta(buf, at) < 0) return "negative offset"
  return undefined
}
