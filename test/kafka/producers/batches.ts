/**
 * RecordBatch v2 bytes as an idempotent producer sends them: `encodeBatch` output with the
 * producer id, epoch and base sequence written into the header and the CRC-32C recomputed
 * (it covers everything from the attributes on).
 */
import { crc32c } from "@node-rs/crc32"
import { encodeBatch } from "../../../domain/message/RecordBatch.js"

const OFF_CRC = 17
const OFF_ATTRIBUTES = 21
const OFF_PRODUCER_ID = 43
const OFF_PRODUCER_EPOCH = 51
const OFF_BASE_SEQUENCE = 53

export const idempotentBatch = (producerId: number, epoch: number, baseSequence: number, values: ReadonlyArray<string>): Buffer => {
  const bytes = Buffer.from(encodeBatch(0, values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: Date.now() }))))
  bytes.writeBigInt64BE(BigInt(producerId), OFF_PRODUCER_ID)
  bytes.writeInt16BE(epoch, OFF_PRODUCER_EPOCH)
  bytes.writeInt32BE(baseSequence, OFF_BASE_SEQUENCE)
  bytes.writeUInt32BE(crc32c(bytes.subarray(OFF_ATTRIBUTES)) >>> 0, OFF_CRC)
  return bytes
}

/** A batch without a producer id (producerId -1), as a plain producer sends it. */
export const plainBatch = (values: ReadonlyArray<string>): Buffer =>
  Buffer.from(encodeBatch(0, values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: Date.now() }))))
