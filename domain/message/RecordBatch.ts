/**
 * Kafka RecordBatch v2 (magic 2), the one storage format of the data-plane log: MQTT publishes
 * and Kafka produce requests are stored as these bytes, and Kafka Fetch returns them unchanged,
 * so the layout must match the Kafka spec byte for byte
 * (https://kafka.apache.org/documentation/#recordbatch, KIP-98).
 *
 * Owns: encoding records into one uncompressed batch, decoding and validating a batch (magic,
 * lengths, CRC-32C), and reading/patching the header's offsets. Pure and synchronous: it never
 * runs an Effect and never throws on bad input — decoding returns a string describing the
 * problem instead (only `encodeBatch` of an empty record list throws, a caller bug).
 * Compressed batches (attributes bits 0-2, see compression.ts) are stored and validated as
 * they are; only `decodeBatch` decompresses, to read their records.
 *
 * Layout (big-endian; `varint`/`varlong` are zigzag like protobuf's sint32/sint64):
 *
 * ```
 *  0 baseOffset           int64   \ not covered by the CRC: the log patches baseOffset in place
 *  8 batchLength          int32   / (bytes after this field)
 * 12 partitionLeaderEpoch int32
 * 16 magic                int8    = 2
 * 17 crc                  uint32  CRC-32C (Castagnoli) of bytes 21..end
 * 21 attributes           int16   bits 0-2 compression, 3 timestampType, 4 transactional, 5 control
 * 23 lastOffsetDelta      int32
 * 27 baseTimestamp        int64
 * 35 maxTimestamp         int64
 * 43 producerId           int64
 * 51 producerEpoch        int16
 * 53 baseSequence         int32
 * 57 recordCount          int32
 * 61 records: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 *             keyLength varint (-1 = null), key, valueLength varint (-1 = null), value,
 *             headerCount varint, headers: keyLength varint, key (UTF-8), valueLength varint, value
 * ```
 */
import { crc32c } from "@node-rs/crc32"
import { decompress } from "./compression.js"
import type { LogRecord, RecordHeader, StoredRecord } from "./LogRecord.js"

/** Bytes before the first record. */
export const BATCH_HEADER_SIZE = 61
/** `baseOffset` + `batchLength`: the part of a batch that `batchLength` does not count. */
export const BATCH_LOG_OVERHEAD = 12
export const MAGIC = 2
/**
 * The partitionLeaderEpoch written by `encodeBatch`. A Kafka broker stamps the leader epoch
 * (>= 0) on every batch it appends; this broker has a single, never-changing leader, so the
 * epoch is 0 and the Kafka Metadata response should advertise leader epoch 0 as well.
 */
export const PARTITION_LEADER_EPOCH = 0

const OFF_BASE_OFFSET = 0
const OFF_BATCH_LENGTH = 8
const OFF_LEADER_EPOCH = 12
const OFF_MAGIC = 16
const OFF_CRC = 17
const OFF_ATTRIBUTES = 21
const OFF_LAST_OFFSET_DELTA = 23
const OFF_BASE_TIMESTAMP = 27
const OFF_MAX_TIMESTAMP = 35
const OFF_PRODUCER_ID = 43
const OFF_PRODUCER_EPOCH = 51
const OFF_BASE_SEQUENCE = 53
const OFF_RECORD_COUNT = 57

const ATTR_COMPRESSION_MASK = 0x07
const ATTR_LOG_APPEND_TIME = 0x08

const TWO_32 = 4294967296
const EMPTY_HEADERS: ReadonlyArray<RecordHeader> = Object.freeze([])
const utf8 = new TextDecoder("utf-8")
const utf8Encoder = new TextEncoder()

const viewOf = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const readInt64 = (view: DataView, at: number): number => view.getInt32(at) * TWO_32 + view.getUint32(at + 4)

const writeInt64 = (view: DataView, at: number, value: number): void => {
  const hi = Math.floor(value / TWO_32)
  view.setInt32(at, hi)
  view.setUint32(at + 4, value - hi * TWO_32)
}

// ---------------------------------------------------------------------------------------------
// varints

/** Zigzag of a 32-bit signed integer, as an unsigned 32-bit number. */
const zigzag32 = (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0

const uvarintSize32 = (u: number): number => (u < 0x80 ? 1 : u < 0x4000 ? 2 : u < 0x200000 ? 3 : u < 0x10000000 ? 4 : 5)

const varintSize = (v: number): number => uvarintSize32(zigzag32(v))

const isInt32 = (v: number): boolean => v >= -2147483648 && v <= 2147483647

/** Zigzag of a safe integer (|v| < 2^52), as a non-negative number. */
const zigzag64 = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1)

const varlongSize = (v: number): number => {
  if (isInt32(v)) return varintSize(v)
  let u = zigzag64(v)
  let n = 1
  while (u >= 0x80) {
    u = Math.floor(u / 128)
    n++
  }
  return n
}

const writeUvarint32 = (buf: Uint8Array, at: number, u: number): number => {
  while (u >= 0x80) {
    buf[at++] = (u & 0x7f) | 0x80
    u >>>= 7
  }
  buf[at++] = u
  return at
}

const writeVarint = (buf: Uint8Array, at: number, v: number): number => writeUvarint32(buf, at, zigzag32(v))

const writeVarlong = (buf: Uint8Array, at: number, v: number): number => {
  if (isInt32(v)) return writeUvarint32(buf, at, zigzag32(v))
  let u = zigzag64(v)
  while (u >= 0x80) {
    buf[at++] = (u % 128) | 0x80
    u = Math.floor(u / 128)
  }
  buf[at++] = u
  return at
}

const nullableBytesSize = (b: Uint8Array | null): number => (b === null ? 1 : varintSize(b.length) + b.length)

/** Copies `src` into `buf` at `at`; a plain loop for short arrays, where `set` costs more than the copy. */
const copyBytes = (buf: Uint8Array, at: number, src: Uint8Array): number => {
  const n = src.length
  if (n < 24) for (let i = 0; i < n; i++) buf[at + i] = src[i]!
  else buf.set(src, at)
  return at + n
}

const writeNullableBytes = (buf: Uint8Array, at: number, b: Uint8Array | null): number => {
  if (b === null) {
    buf[at] = 1 // zigzag(-1)
    return at + 1
  }
  return copyBytes(buf, writeVarint(buf, at, b.length), b)
}

const headerSize = (header: RecordHeader): number => {
  const encoded = header.encoded
  if (encoded !== undefined) return encoded.length
  const k = headerKeyBytes(header.key)
  return varintSize(k.length) + k.length + nullableBytesSize(header.value)
}

const writeHeader = (buf: Uint8Array, at: number, header: RecordHeader): number => {
  const encoded = header.encoded
  if (encoded !== undefined) return copyBytes(buf, at, encoded)
  return writeNullableBytes(buf, writeNullableBytes(buf, at, headerKeyBytes(header.key)), header.value)
}

/**
 * A header meant to be shared by many records (an MQTT topic, a QoS digit, a publisher's id),
 * carrying its record encoding so encodeBatch copies it as one block.
 */
export const sharedHeader = (key: string, value: Uint8Array | null): RecordHeader => {
  const k = headerKeyBytes(key)
  const encoded = new Uint8Array(varintSize(k.length) + k.length + nullableBytesSize(value))
  writeNullableBytes(encoded, writeNullableBytes(encoded, 0, k), value)
  return { key, value, encoded }
}

// ---------------------------------------------------------------------------------------------
// encode

/**
 * Encodes `records` (at least one) as one uncompressed RecordBatch v2 whose first record has
 * offset `baseOffset`: attributes 0 (no compression, CreateTime), producerId -1,
 * producerEpoch -1, baseSequence -1 (no idempotence), partitionLeaderEpoch
 * `PARTITION_LEADER_EPOCH`. baseTimestamp is the first record's timestamp, maxTimestamp the
 * largest. Header keys are written as UTF-8.
 */
export const encodeBatch = (baseOffset: number, records: ReadonlyArray<LogRecord>): Uint8Array => {
  const n = records.length
  if (n === 0) throw new RangeError("encodeBatch: a record batch holds at least one record")
  const baseTimestamp = records[0]!.timestamp
  let maxTimestamp = baseTimestamp
  const sizes = new Int32Array(n)
  // Each field is read once: a LogRecord may compute key/value/headers lazily (MQTT messages do).
  const keys = new Array<Uint8Array | null>(n)
  const values = new Array<Uint8Array | null>(n)
  const headers = new Array<ReadonlyArray<RecordHeader>>(n)
  let total = BATCH_HEADER_SIZE
  for (let i = 0; i < n; i++) {
    const r = records[i]!
    const timestamp = r.timestamp
    if (timestamp > maxTimestamp) maxTimestamp = timestamp
    const key = (keys[i] = r.key)
    const value = (values[i] = r.value)
    const hs = (headers[i] = r.headers)
    let size = 1 + varlongSize(timestamp - baseTimestamp) + varintSize(i) +
      nullableBytesSize(key) + nullableBytesSize(value) + varintSize(hs.length)
    for (let h = 0; h < hs.length; h++) size += headerSize(hs[h]!)
    sizes[i] = size
    total += varintSize(size) + size
  }

  const buf = new Uint8Array(total)
  const view = viewOf(buf)
  writeInt64(view, OFF_BASE_OFFSET, baseOffset)
  view.setInt32(OFF_BATCH_LENGTH, total - BATCH_LOG_OVERHEAD)
  view.setInt32(OFF_LEADER_EPOCH, PARTITION_LEADER_EPOCH)
  buf[OFF_MAGIC] = MAGIC
  view.setInt16(OFF_ATTRIBUTES, 0)
  view.setInt32(OFF_LAST_OFFSET_DELTA, n - 1)
  writeInt64(view, OFF_BASE_TIMESTAMP, baseTimestamp)
  writeInt64(view, OFF_MAX_TIMESTAMP, maxTimestamp)
  writeInt64(view, OFF_PRODUCER_ID, -1)
  view.setInt16(OFF_PRODUCER_EPOCH, -1)
  view.setInt32(OFF_BASE_SEQUENCE, -1)
  view.setInt32(OFF_RECORD_COUNT, n)

  let at = BATCH_HEADER_SIZE
  for (let i = 0; i < n; i++) {
    at = writeVarint(buf, at, sizes[i]!)
    buf[at++] = 0 // record attributes: unused
    at = writeVarlong(buf, at, records[i]!.timestamp - baseTimestamp)
    at = writeVarint(buf, at, i)
    at = writeNullableBytes(buf, at, keys[i]!)
    at = writeNullableBytes(buf, at, values[i]!)
    const hs = headers[i]!
    at = writeVarint(buf, at, hs.length)
    for (let h = 0; h < hs.length; h++) at = writeHeader(buf, at, hs[h]!)
  }
  view.setUint32(OFF_CRC, crc32c(buf.subarray(OFF_ATTRIBUTES)))
  return buf
}

/**
 * UTF-8 bytes of a header key. Keys repeat across records (`mqtt.qos`, `content-type`, user
 * property names), so their encodings are cached; the cache is cleared when it grows large.
 */
const headerKeyCache = new Map<string, Uint8Array>()
const headerKeyBytes = (key: string): Uint8Array => {
  let bytes = headerKeyCache.get(key)
  if (bytes === undefined) {
    if (headerKeyCache.size >= 4096) headerKeyCache.clear()
    bytes = utf8Encoder.encode(key)
    headerKeyCache.set(key, bytes)
  }
  return bytes
}

// ---------------------------------------------------------------------------------------------
// header access

/** The offset of the batch's first record. Assumes at least 8 bytes. */
export const batchBaseOffset = (bytes: Uint8Array): number => readInt64(viewOf(bytes), OFF_BASE_OFFSET)

/** The offset of the batch's last record: baseOffset + lastOffsetDelta. Assumes a full header. */
export const batchLastOffset = (bytes: Uint8Array): number => {
  const view = viewOf(bytes)
  return readInt64(view, OFF_BASE_OFFSET) + view.getInt32(OFF_LAST_OFFSET_DELTA)
}

/** The batch's largest record timestamp (Kafka ListOffsets by time reads it). Assumes a full header. */
export const batchMaxTimestamp = (bytes: Uint8Array): number => readInt64(viewOf(bytes), OFF_MAX_TIMESTAMP)

/** Header fields a broker checks on produce (idempotence, transactions). Assume a full header. */
export const batchAttributes = (bytes: Uint8Array): number => viewOf(bytes).getInt16(OFF_ATTRIBUTES)
export const batchLastOffsetDelta = (bytes: Uint8Array): number => viewOf(bytes).getInt32(OFF_LAST_OFFSET_DELTA)
export const batchProducerId = (bytes: Uint8Array): number => readInt64(viewOf(bytes), OFF_PRODUCER_ID)
export const batchProducerEpoch = (bytes: Uint8Array): number => viewOf(bytes).getInt16(OFF_PRODUCER_EPOCH)
export const batchBaseSequence = (bytes: Uint8Array): number => viewOf(bytes).getInt32(OFF_BASE_SEQUENCE)
/** Attribute bits 4 (transactional) and 5 (control batch). */
export const ATTR_TRANSACTIONAL = 0x10
export const ATTR_CONTROL = 0x20

/** Number of records the header announces. Assumes a full header. */
export const batchRecordCount = (bytes: Uint8Array): number => viewOf(bytes).getInt32(OFF_RECORD_COUNT)

/**
 * Rewrites baseOffset in place (as a broker does on append). The CRC does not cover
 * baseOffset, so the batch stays valid; record offsets are deltas and move with it.
 */
export const setBaseOffset = (bytes: Uint8Array, offset: number): void => {
  writeInt64(viewOf(bytes), OFF_BASE_OFFSET, offset)
}

/**
 * Stamps a valid batch with the broker's append time, in place, as Kafka does for a topic with
 * `message.timestamp.type=LogAppendTime`: attribute bit 3 set, maxTimestamp = `now` (readers
 * give every record that time), CRC recomputed since it covers both. Records are not touched.
 */
export const setLogAppendTime = (bytes: Uint8Array, now: number): void => {
  const view = viewOf(bytes)
  view.setInt16(OFF_ATTRIBUTES, view.getInt16(OFF_ATTRIBUTES) | ATTR_LOG_APPEND_TIME)
  writeInt64(view, OFF_MAX_TIMESTAMP, now)
  view.setUint32(OFF_CRC, crc32c(bytes.subarray(OFF_ATTRIBUTES)))
}

// ---------------------------------------------------------------------------------------------
// validate / decode

/**
 * Checks the header of exactly one batch spanning `bytes`: length, magic 2, batchLength,
 * CRC-32C. Returns undefined when valid, else what is wrong. Does not parse the records, so a
 * compressed batch is checked without decompressing it (the CRC covers the compressed bytes).
 */
export const validateBatch = (bytes: Uint8Array): string | undefined => {
  if (bytes.length < BATCH_HEADER_SIZE) {
    return `truncated record batch: ${bytes.length} bytes, the header alone needs ${BATCH_HEADER_SIZE}`
  }
  const magic = bytes[OFF_MAGIC]!
  if (magic !== MAGIC) return `unsupported record batch magic ${magic} (only magic ${MAGIC} is supported)`
  const view = viewOf(bytes)
  const size = BATCH_LOG_OVERHEAD + view.getInt32(OFF_BATCH_LENGTH)
  if (size < BATCH_HEADER_SIZE) return `invalid record batch length ${size - BATCH_LOG_OVERHEAD}`
  if (size > bytes.length) return `truncated record batch: batchLength says ${size} bytes, got ${bytes.length}`
  if (size < bytes.length) return `${bytes.length - size} trailing bytes after the record batch`
  const stored = view.getUint32(OFF_CRC)
  const actual = crc32c(bytes.subarray(OFF_ATTRIBUTES))
  if (stored !== actual) {
    return `record batch CRC-32C mismatch: stored ${stored.toString(16)}, computed ${actual.toString(16)}`
  }
  return undefined
}

/** Thrown inside decodeBatch only, caught there and returned as its message. */
class Truncated {
  constructor(readonly message: string) {}
}

class Reader {
  pos: number
  constructor(readonly buf: Uint8Array, start: number, readonly end: number) {
    this.pos = start
  }

  byte(): number {
    if (this.pos >= this.end) throw new Truncated("truncated record")
    return this.buf[this.pos++]!
  }

  varint(): number {
    let u = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte()
      u |= (b & 0x7f) << shift
      if (b < 0x80) {
        u >>>= 0
        return (u >>> 1) ^ -(u & 1)
      }
    }
    throw new Truncated("varint longer than 5 bytes")
  }

  varlong(): number {
    let u = 0
    let scale = 1
    for (let i = 0; i < 10; i++) {
      const b = this.byte()
      u += (b & 0x7f) * scale
      if (b < 0x80) return u % 2 === 0 ? u / 2 : -(u + 1) / 2
      scale *= 128
    }
    throw new Truncated("varlong longer than 10 bytes")
  }

  /** A length-prefixed byte string as a view into the batch, or null for length -1. */
  nullableBytes(): Uint8Array | null {
    const len = this.varint()
    if (len === -1) return null
    if (len < 0) throw new Truncated(`negative length ${len}`)
    const start = this.pos
    if (start + len > this.end) throw new Truncated("truncated record")
    this.pos = start + len
    return this.buf.subarray(start, start + len)
  }
}

/**
 * Decodes exactly one batch spanning `bytes` into its records, with absolute offsets.
 * Returns a string when the batch is not magic 2, is truncated or malformed, fails its CRC,
 * or its compressed records section does not decompress. The CRC is checked on the stored
 * (compressed) bytes before anything is decompressed. Keys and values are views into `bytes`,
 * or into the decompressed records section (copy them to keep them longer than the batch).
 * With LogAppendTime (attribute bit 3) every record gets maxTimestamp, as Kafka consumers do.
 */
export const decodeBatch = (bytes: Uint8Array): ReadonlyArray<StoredRecord> | string => {
  const invalid = validateBatch(bytes)
  if (invalid !== undefined) return invalid
  const view = viewOf(bytes)
  const attributes = view.getInt16(OFF_ATTRIBUTES)
  const count = view.getInt32(OFF_RECORD_COUNT)
  if (count < 0) return `negative record count ${count}`
  const codec = attributes & ATTR_COMPRESSION_MASK
  let records = bytes
  let start = BATCH_HEADER_SIZE
  if (codec !== 0) {
    const inflated = decompress(codec, bytes.subarray(BATCH_HEADER_SIZE))
    if (typeof inflated === "string") return `compressed record batch: ${inflated}`
    records = inflated
    start = 0
  }
  return decodeRecords(records, start, count, {
    baseOffset: readInt64(view, OFF_BASE_OFFSET),
    baseTimestamp: readInt64(view, OFF_BASE_TIMESTAMP),
    maxTimestamp: readInt64(view, OFF_MAX_TIMESTAMP),
    logAppendTime: (attributes & ATTR_LOG_APPEND_TIME) !== 0
  })
}

interface BatchContext {
  readonly baseOffset: number
  readonly baseTimestamp: number
  readonly maxTimestamp: number
  readonly logAppendTime: boolean
}

/** Parses exactly `count` records filling buf[start, buf.length). */
const decodeRecords = (
  buf: Uint8Array,
  start: number,
  count: number,
  batch: BatchContext
): ReadonlyArray<StoredRecord> | string => {
  const { baseOffset, baseTimestamp, maxTimestamp, logAppendTime } = batch
  const end = buf.length
  if (count > end - start) return `record count ${count} cannot fit in ${end - start} bytes`

  const out: Array<StoredRecord> = new Array(count)
  const r = new Reader(buf, start, end)
  try {
    for (let i = 0; i < count; i++) {
      const length = r.varint()
      if (length < 0 || r.pos + length > end) return `record ${i}: invalid length ${length}`
      const recordEnd = r.pos + length
      const rec = new Reader(buf, r.pos, recordEnd)
      rec.byte() // record attributes: unused
      const timestampDelta = rec.varlong()
      const offsetDelta = rec.varint()
      const key = rec.nullableBytes()
      const value = rec.nullableBytes()
      const headerCount = rec.varint()
      if (headerCount < 0) return `record ${i}: negative header count ${headerCount}`
      let headers = EMPTY_HEADERS
      if (headerCount > 0) {
        const hs: Array<RecordHeader> = []
        for (let h = 0; h < headerCount; h++) {
          const hk = rec.nullableBytes()
          if (hk === null) return `record ${i}: null header key`
          hs.push({ key: utf8.decode(hk), value: rec.nullableBytes() })
        }
        headers = hs
      }
      if (rec.pos !== recordEnd) return `record ${i}: ${recordEnd - rec.pos} bytes left inside the record`
      r.pos = recordEnd
      out[i] = {
        offset: baseOffset + offsetDelta,
        key,
        value,
        headers,
        timestamp: logAppendTime ? maxTimestamp : baseTimestamp + timestampDelta
      }
    }
  } catch (e) {
    if (e instanceof Truncated) return e.message
    throw e
  }
  if (r.pos !== end) return `${end - r.pos} trailing bytes after ${count} records`
  return out
}
