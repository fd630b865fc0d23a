/**
 * The compression codecs of Kafka record batches (attributes bits 0-2): 0 none, 1 gzip,
 * 2 snappy, 3 lz4, 4 zstd. The broker stores and serves compressed batches unchanged; it
 * decompresses a batch's records section only to read the records (MQTT delivery).
 *
 * Owns: `decompress` for every codec, in the formats real producers send, and `compress` for
 * gzip, snappy and lz4 (no pure-JS zstd compressor exists). Pure and synchronous. Input comes
 * from the network, so decompression never throws and never runs away: bad data gives a
 * readable string, and the output size is bounded before anything large is allocated
 * (`maxBytes`, default `MAX_DECOMPRESSED_BYTES`).
 *
 * - gzip: node:zlib (`gunzipSync` with `maxOutputLength`).
 * - snappy: the xerial/snappy-java framing of the Java client and kafkajs-snappy (magic
 *   `\x82SNAPPY\x00`, int32 version, int32 compat, then [int32 length, raw snappy block]...) and
 *   raw snappy (librdkafka). Blocks are decoded by a bounds-checked decoder here, not by
 *   snappyjs: snappyjs's `uncompress` loops for minutes on a literal length >= 2^31 (its
 *   read position goes negative). snappyjs does the compressing.
 * - lz4: the LZ4 *frame* format (what v2 batches carry). Frames and block sizes are walked
 *   and checked here; lz4js decodes the blocks. Checksums (header, block, content) are not
 *   verified: the batch CRC-32C already covers the compressed bytes. Compression uses a small
 *   block compressor of our own (lz4js's may emit blocks that lz4-java rejects, see below).
 * - zstd: fzstd, after walking the frame and block headers here to bound the output and the
 *   window fzstd allocates (its own limit is 2 GiB).
 */
import { gunzipSync, gzipSync } from "node:zlib"
import { decompress as fzstdDecompress } from "fzstd"
import * as lz4js from "lz4js"
import * as snappyjs from "snappyjs"

export const CompressionCodec = { None: 0, Gzip: 1, Snappy: 2, Lz4: 3, Zstd: 4 } as const
export type CompressionCodec = (typeof CompressionCodec)[keyof typeof CompressionCodec]

const CODEC_NAMES = ["none", "gzip", "snappy", "lz4", "zstd"]

/** "gzip", "snappy", ...; "codec N" for an unknown id. */
export const codecName = (codec: number): string => CODEC_NAMES[codec] ?? `codec ${codec}`

/** Default bound on one decompressed records section (64 MiB). */
export const MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

/**
 * The decompressed bytes of a records section compressed with `codec`, or a string saying
 * what is wrong (unknown codec, corrupt data, output larger than `maxBytes`). Codec 0 returns
 * `bytes` itself.
 */
export const decompress = (
  codec: number,
  bytes: Uint8Array,
  maxBytes: number = MAX_DECOMPRESSED_BYTES
): Uint8Array | string => {
  try {
    switch (codec) {
      case CompressionCodec.None:
        return bytes
      case CompressionCodec.Gzip:
        return gunzipSync(bytes, { maxOutputLength: Math.max(1, maxBytes) })
      case CompressionCodec.Snappy:
        return snappyDecompress(bytes, maxBytes)
      case CompressionCodec.Lz4:
        return lz4Decompress(bytes, maxBytes)
      case CompressionCodec.Zstd:
        return zstdDecompress(bytes, maxBytes)
      default:
        return `unknown compression codec ${codec}`
    }
  } catch (e) {
    // zlib, lz4js and fzstd throw on malformed input; the network must not make us throw.
    return `corrupt ${codecName(codec)} data: ${e instanceof Error ? e.message : String(e)}`
  }
}

/**
 * `bytes` compressed with `codec` as Kafka producers do it (gzip; snappy in xerial framing,
 * which every Kafka client reads; lz4 frame with independent 64 KiB blocks), or a string when
 * the codec cannot compress here (zstd, unknown ids). Codec 0 returns `bytes` itself.
 */
export const compress = (codec: number, bytes: Uint8Array): Uint8Array | string => {
  try {
    switch (codec) {
      case CompressionCodec.None:
        return bytes
      case CompressionCodec.Gzip:
        return gzipSync(bytes)
      case CompressionCodec.Snappy:
        return snappyXerialCompress(bytes)
      case CompressionCodec.Lz4:
        return lz4Compress(bytes)
      case CompressionCodec.Zstd:
        return "zstd compression is not available (no pure-JS zstd compressor; fzstd only decompresses)"
      default:
        return `unknown compression codec ${codec}`
    }
  } catch (e) {
    return `${codecName(codec)} compression failed: ${e instanceof Error ? e.message : String(e)}`
  }
}

const readUint32LE = (b: Uint8Array, at: number): number =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000

const readUint32BE = (b: Uint8Array, at: number): number =>
  b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!)


// ---------------------------------------------------------------------------------------------
// snappy

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00] // "\x82SNAPPY\0"
/** Magic, int32 version, int32 compatible version. */
const XERIAL_HEADER_SIZE = 16
/** snappy-java's default chunk size. */
const XERIAL_CHUNK_SIZE = 32 * 1024

const isXerial = (b: Uint8Array): boolean => {
  if (b.length < XERIAL_HEADER_SIZE) return false
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (b[i] !== XERIAL_MAGIC[i]) return false
  return true
}

const snappyDecompress = (src: Uint8Array, maxBytes: number): Uint8Array | string => {
  if (!isXerial(src)) {
    const length = snappyLength(src, 0, src.length, maxBytes)
    if (typeof length === "string") return length
    const out = new Uint8Array(length.length)
    const bad = snappyDecodeBlock(src, length.dataStart, src.length, out, 0, length.length)
    return bad ?? out
  }
  // xerial: collect the chunks and their lengths first, so the output is allocated once.
  const chunks: Array<{ start: number; end: number; dataStart: number; length: number }> = []
  let total = 0
  let pos = XERIAL_HEADER_SIZE
  while (pos < src.length) {
    if (pos + 4 > src.length) return "snappy: truncated xerial chunk length"
    const size = readUint32BE(src, pos)
    const start = pos + 4
    const end = start + size
    if (size === 0 || end > src.length) return `snappy: xerial chunk of ${size} bytes runs past the input`
    const length = snappyLength(src, start, end, maxBytes - total)
    if (typeof length === "string") return length
    chunks.push({ start, end, dataStart: length.dataStart, length: length.length })
    total += length.length
    pos = end
  }
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    const bad = snappyDecodeBlock(src, c.dataStart, c.end, out, at, c.length)
    if (bad !== undefined) return bad
    at += c.length
  }
  return out
}

/** The uncompressed length a raw snappy block declares (a uvarint) and where its data starts. */
const snappyLength = (
  src: Uint8Array,
  start: number,
  end: number,
  maxBytes: number
): { readonly length: number; readonly dataStart: number } | string => {
  let length = 0
  let pos = start
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= end) return "snappy: truncated block length"
    const b = src[pos++]!
    length += (b & 0x7f) * 2 ** shift
    if (b < 0x80) {
      if (length > maxBytes) return `snappy: decompressed size ${length} exceeds the limit of ${maxBytes} bytes`
      return { length, dataStart: pos }
    }
  }
  return "snappy: block length varint longer than 5 bytes"
}

/**
 * Decodes the raw snappy elements in src[pos, end) into exactly out[outStart, outStart +
 * length). Every literal and copy is checked against both buffers.
 */
const snappyDecodeBlock = (
  src: Uint8Array,
  pos: number,
  end: number,
  out: Uint8Array,
  outStart: number,
  length: number
): string | undefined => {
  const outEnd = outStart + length
  let o = outStart
  while (pos < end) {
    const tag = src[pos++]!
    const kind = tag & 3
    if (kind === 0) {
      let len = tag >>> 2
      if (len >= 60) {
        const n = len - 59 // 1 to 4 little-endian length bytes follow
        if (pos + n > end) return "snappy: truncated literal length"
        len = 0
        for (let i = n - 1; i >= 0; i--) len = len * 256 + src[pos + i]!
        pos += n
      }
      len += 1
      if (pos + len > end || o + len > outEnd) return "snappy: literal runs past the block"
      out.set(src.subarray(pos, pos + len), o)
      pos += len
      o += len
      continue
    }
    let len: number
    let offset: number
    if (kind === 1) {
      if (pos + 1 > end) return "snappy: truncated copy"
      len = ((tag >>> 2) & 7) + 4
      offset = ((tag >>> 5) << 8) | src[pos]!
      pos += 1
    } else if (kind === 2) {
      if (pos + 2 > end) return "snappy: truncated copy"
      len = (tag >>> 2) + 1
      offset = src[pos]! | (src[pos + 1]! << 8)
      pos += 2
    } else {
      if (pos + 4 > end) return "snappy: truncated copy"
      len = (tag >>> 2) + 1
      offset = readUint32LE(src, pos)
      pos += 4
    }
    if (offset === 0 || offset > o - outStart) return `snappy: copy offset ${offset} out of range`
    if (o + len > outEnd) return "snappy: copy runs past the declared length"
    if (offset >= len) {
      out.copyWithin(o, o - offset, o - offset + len)
    } else {
      // Overlapping copy repeats the last `offset` bytes: byte by byte, in order.
      for (let i = 0; i < len; i++) out[o + i] = out[o + i - offset]!
    }
    o += len
  }
  if (o !== outEnd) return `snappy: block decodes to ${o - outStart} bytes, declared ${length}`
  return undefined
}

const snappyXerialCompress = (src: Uint8Array): Uint8Array => {
  const parts: Array<Uint8Array> = []
  let total = XERIAL_HEADER_SIZE
  for (let at = 0; at < src.length; at += XERIAL_CHUNK_SIZE) {
    const chunk = snappyjs.compress(src.subarray(at, at + XERIAL_CHUNK_SIZE))
    parts.push(chunk)
    total += 4 + chunk.length
  }
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  out.set(XERIAL_MAGIC, 0)
  view.setInt32(8, 1) // version
  view.setInt32(12, 1) // compatible version
  let at = XERIAL_HEADER_SIZE
  for (const part of parts) {
    view.setInt32(at, part.length)
    out.set(part, at + 4)
    at += 4 + part.length
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// lz4 (frame format, https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md)

const LZ4_MAGIC = 0x184d2204
const FLG_VERSION_01 = 0x40
const FLG_BLOCK_INDEPENDENCE = 0x20
const FLG_BLOCK_CHECKSUM = 0x10
const FLG_CONTENT_SIZE = 0x08
const FLG_CONTENT_CHECKSUM = 0x04
const FLG_DICT_ID = 0x01
const BLOCK_UNCOMPRESSED = 0x80000000
/** BD byte for 64 KiB maximum blocks (what the Java client writes). */
const BD_64KB = 0x40
/** xxh32(FLG, BD) >> 8 & 0xff for FLG 0x60 and BD 0x40: the header checksum we write. */
const HC_60_40 = 0x82
const LZ4_BLOCK_SIZE = 64 * 1024

/** lz4/zstd skippable frames: magic 0x184D2A50..0x184D2A5F, uint32 size, size bytes. */
const isSkippableFrame = (magic: number): boolean => magic >= 0x184d2a50 && magic <= 0x184d2a5f

type Lz4Block = (start: number, size: number, uncompressed: boolean, maxBlock: number) => string | undefined

/** Walks every frame and block of src, checking they fit, and calls onBlock for each block. */
const walkLz4 = (src: Uint8Array, onBlock: Lz4Block): string | undefined => {
  const end = src.length
  let pos = 0
  if (end === 0) return "lz4: empty input"
  while (pos < end) {
    if (pos + 4 > end) return "lz4: truncated frame magic"
    const magic = readUint32LE(src, pos)
    if (isSkippableFrame(magic)) {
      if (pos + 8 > end) return "lz4: truncated skippable frame"
      pos += 8 + readUint32LE(src, pos + 4)
      continue
    }
    if (magic !== LZ4_MAGIC) return `lz4: bad frame magic ${magic.toString(16)}`
    if (pos + 7 > end) return "lz4: truncated frame header"
    const flg = src[pos + 4]!
    const bd = src[pos + 5]!
    if ((flg & 0xc0) !== FLG_VERSION_01) return `lz4: unsupported frame version ${flg >> 6}`
    if ((flg & FLG_DICT_ID) !== 0) return "lz4: frames with a dictionary are not supported"
    const sizeId = (bd >> 4) & 7
    if (sizeId < 4) return `lz4: invalid block maximum size id ${sizeId}`
    const maxBlock = 1 << (2 * sizeId + 8) // 4: 64 KiB, 5: 256 KiB, 6: 1 MiB, 7: 4 MiB
    const blockChecksum = (flg & FLG_BLOCK_CHECKSUM) !== 0 ? 4 : 0
    pos += 7 + ((flg & FLG_CONTENT_SIZE) !== 0 ? 8 : 0)
    for (;;) {
      if (pos + 4 > end) return "lz4: truncated block size"
      const word = readUint32LE(src, pos)
      pos += 4
      if (word === 0) break // EndMark
      const uncompressed = word >= BLOCK_UNCOMPRESSED
      const size = uncompressed ? word - BLOCK_UNCOMPRESSED : word
      if (size > maxBlock) return `lz4: block of ${size} bytes exceeds the frame's ${maxBlock}`
      if (pos + size + blockChecksum > end) return "lz4: block runs past the input"
      const bad = onBlock(pos, size, uncompressed, maxBlock)
      if (bad !== undefined) return bad
      pos += size + blockChecksum
    }
    if ((flg & FLG_CONTENT_CHECKSUM) !== 0) pos += 4
  }
  if (pos > end) return "lz4: frame runs past the input"
  return undefined
}

const lz4Decompress = (src: Uint8Array, maxBytes: number): Uint8Array | string => {
  // Pass 1: an upper bound of the output (a compressed block expands at most ~255-fold).
  let bound = 0
  const invalid = walkLz4(src, (_start, size, uncompressed, maxBlock) => {
    bound += uncompressed ? size : Math.min(maxBlock, size * 255 + 64)
    return undefined
  })
  if (invalid !== undefined) return invalid
  // Pass 2: decode into one buffer (dependent blocks may refer to earlier blocks' output).
  // The bound may overestimate, so it is capped by maxBytes and overflow is checked instead.
  const limited = bound > maxBytes
  const out = new Uint8Array(limited ? maxBytes : bound)
  const overflow = () => (limited ? `lz4: decompressed size exceeds the limit of ${maxBytes} bytes` : "lz4: corrupt block")
  let at = 0
  const bad = walkLz4(src, (start, size, uncompressed, maxBlock) => {
    if (uncompressed) {
      if (at + size > out.length) return overflow()
      out.set(src.subarray(start, start + size), at)
      at += size
      return undefined
    }
    // lz4js never fails: writes past `out` are dropped and show as `next` beyond its end.
    const next = lz4js.decompressBlock(src, out, start, size, at)
    if (!(next >= at && next - at <= maxBlock)) return "lz4: corrupt block"
    if (next > out.length) return overflow()
    at = next
    return undefined
  })
  if (bad !== undefined) return bad
  // Keep a small result from pinning a large bound.
  return at * 2 < out.length ? out.slice(0, at) : out.subarray(0, at)
}

/** One LZ4 frame: FLG version 1 + independent blocks, 64 KiB blocks, no checksums. */
const lz4Compress = (src: Uint8Array): Uint8Array => {
  const blocks = Math.max(1, Math.ceil(src.length / LZ4_BLOCK_SIZE))
  const out = new Uint8Array(7 + blocks * (4 + LZ4_BLOCK_SIZE) + 4)
  const view = new DataView(out.buffer)
  view.setUint32(0, LZ4_MAGIC, true)
  out[4] = FLG_VERSION_01 | FLG_BLOCK_INDEPENDENCE
  out[5] = BD_64KB
  out[6] = HC_60_40
  let at = 7
  const scratch = new Uint8Array(LZ4_BLOCK_SIZE + (LZ4_BLOCK_SIZE >> 8) + 16) // worst-case expansion
  const table = (lz4HashTable ??= new Int32Array(1 << LZ4_HASH_BITS))
  for (let from = 0; from < src.length; from += LZ4_BLOCK_SIZE) {
    const size = Math.min(LZ4_BLOCK_SIZE, src.length - from)
    const packed = lz4CompressBlock(src, from, from + size, scratch, table)
    if (packed < size) {
      view.setUint32(at, packed, true)
      out.set(scratch.subarray(0, packed), at + 4)
      at += 4 + packed
    } else {
      view.setUint32(at, (BLOCK_UNCOMPRESSED | size) >>> 0, true)
      out.set(src.subarray(from, from + size), at + 4)
      at += 4 + size
    }
  }
  view.setUint32(at, 0, true) // EndMark
  return out.slice(0, at + 4)
}

// Block format rules (lz4_Block_format.md): the last 5 bytes are literals and the last match
// starts at least 12 bytes before the end. lz4js's compressBlock breaks the second rule now
// and then (the reference decoder and lz4-java reject such blocks), hence this compressor.
const LZ4_MIN_MATCH = 4
const LZ4_LAST_LITERALS = 5
const LZ4_MF_LIMIT = 12
const LZ4_HASH_BITS = 16
const LZ4_MAX_DISTANCE = 65535

let lz4HashTable: Int32Array | undefined

const read32 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)

/**
 * Greedy LZ4 block compression of src[start, end) into dst; returns the bytes written.
 * `table` maps a hash of 4 bytes to (position + 1) and may hold stale positions from earlier
 * calls: a candidate is used only if it lies inside this block and its bytes really match.
 */
const lz4CompressBlock = (src: Uint8Array, start: number, end: number, dst: Uint8Array, table: Int32Array): number => {
  let op = 0
  let anchor = start
  const matchLimit = end - LZ4_LAST_LITERALS
  const ipLimit = end - LZ4_MF_LIMIT
  let ip = start
  while (ip <= ipLimit) {
    const seq = read32(src, ip)
    const h = Math.imul(seq, 2654435761) >>> (32 - LZ4_HASH_BITS)
    const ref = table[h]! - 1
    table[h] = ip + 1
    if (ref < start || ref >= ip || ip - ref > LZ4_MAX_DISTANCE || read32(src, ref) !== seq) {
      ip += 1 + ((ip - anchor) >> 6) // skip faster through incompressible data
      continue
    }
    let matchEnd = ip + LZ4_MIN_MATCH
    let r = ref + LZ4_MIN_MATCH
    while (matchEnd < matchLimit && src[matchEnd] === src[r]) {
      matchEnd++
      r++
    }
    const literals = ip - anchor
    const matchCode = matchEnd - ip - LZ4_MIN_MATCH
    dst[op++] = (Math.min(literals, 15) << 4) | Math.min(matchCode, 15)
    op = writeLz4Length(dst, op, literals)
    dst.set(src.subarray(anchor, ip), op)
    op += literals
    const offset = ip - ref
    dst[op++] = offset & 0xff
    dst[op++] = offset >>> 8
    op = writeLz4Length(dst, op, matchCode)
    ip = anchor = matchEnd
  }
  const literals = end - anchor
  dst[op++] = Math.min(literals, 15) << 4
  op = writeLz4Length(dst, op, literals)
  dst.set(src.subarray(anchor, end), op)
  return op + literals
}

/** The extra length bytes of a literal or match length whose 4-bit token field is 15. */
const writeLz4Length = (dst: Uint8Array, op: number, length: number): number => {
  if (length < 15) return op
  let rest = length - 15
  while (rest >= 255) {
    dst[op++] = 255
    rest -= 255
  }
  dst[op++] = rest
  return op
}

// ---------------------------------------------------------------------------------------------
// zstd (https://github.com/facebook/zstd/blob/dev/doc/zstd_compression_format.md)

const ZSTD_MAGIC = 0xfd2fb528
const ZSTD_BLOCK_MAX = 128 * 1024
/** Window accepted even when maxBytes is smaller: level 19 and below use at most 8 MiB. */
const ZSTD_MIN_WINDOW_LIMIT = 8 * 1024 * 1024

const zstdDecompress = (src: Uint8Array, maxBytes: number): Uint8Array | string => {
  const walk = walkZstd(src, maxBytes)
  if (typeof walk === "string") return walk
  if (walk.bound > maxBytes) return `zstd: decompressed size may reach ${walk.bound} bytes, over the limit of ${maxBytes}`
  const out = fzstdDecompress(walk.shrunk ?? src)
  return out.length > maxBytes ? `zstd: decompressed ${out.length} bytes, over the limit of ${maxBytes}` : out
}

interface ZstdWalk {
  /** Upper bound of the decompressed size. */
  readonly bound: number
  /** A copy of the input with smaller window descriptors, when some frame's window could shrink. */
  readonly shrunk: Uint8Array | undefined
}

/**
 * The smallest window descriptor whose window holds `size` bytes. A window at least as large
 * as the frame's whole output decodes it identically (no match reaches before the frame).
 */
const windowDescriptorFor = (size: number): number => {
  for (let exponent = 0; exponent < 32; exponent++) {
    const base = 2 ** (10 + exponent)
    for (let mantissa = 0; mantissa < 8; mantissa++) {
      if (base + (base / 8) * mantissa >= size) return (exponent << 3) | mantissa
    }
  }
  return 0xff
}

/**
 * Walks the frame and block headers of src without decoding: checks that everything fits,
 * that no frame needs a window over the limit, and bounds the output.
 *
 * fzstd allocates a frame's whole window when the frame does not declare its content size
 * (librdkafka and the Java client stream, so theirs never do: 2 MiB at level 3) and shifts
 * the window after every block, which costs ~1 ms for a 1 KB batch. When the frame's output
 * bound is smaller than its window, the window descriptor is rewritten (on a copy) to the
 * smallest window holding that bound.
 */
const walkZstd = (src: Uint8Array, maxBytes: number): ZstdWalk | string => {
  const end = src.length
  const windowLimit = Math.max(maxBytes, ZSTD_MIN_WINDOW_LIMIT)
  let bound = 0
  let shrunk: Uint8Array | undefined
  let pos = 0
  if (end === 0) return "zstd: empty input"
  while (pos < end) {
    if (pos + 4 > end) return "zstd: truncated frame magic"
    const magic = readUint32LE(src, pos)
    if (isSkippableFrame(magic)) {
      if (pos + 8 > end) return "zstd: truncated skippable frame"
      pos += 8 + readUint32LE(src, pos + 4)
      continue
    }
    if (magic !== ZSTD_MAGIC) return `zstd: bad frame magic ${magic.toString(16)}`
    if (pos + 5 > end) return "zstd: truncated frame header"
    const descriptor = src[pos + 4]!
    pos += 5
    if ((descriptor & 0x08) !== 0) return "zstd: reserved frame header bit set"
    const contentSizeFlag = descriptor >> 6
    const singleSegment = (descriptor >> 5) & 1
    const hasChecksum = (descriptor & 0x04) !== 0
    let window = 0
    const windowAt = pos
    if (singleSegment === 0) {
      if (pos + 1 > end) return "zstd: truncated window descriptor"
      const wd = src[pos++]!
      const base = 2 ** (10 + (wd >> 3))
      window = base + (base / 8) * (wd & 7)
    }
    pos += [0, 1, 2, 4][descriptor & 3]!
    const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : 1 << contentSizeFlag
    if (pos + contentSizeBytes > end) return "zstd: truncated frame header"
    let contentSize = -1
    if (contentSizeBytes > 0) {
      contentSize = 0
      for (let i = contentSizeBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + src[pos + i]!
      if (contentSizeFlag === 1) contentSize += 256
    }
    pos += contentSizeBytes
    if (singleSegment === 1) window = contentSize
    if (window > windowLimit) return `zstd: window of ${window} bytes over the limit of ${windowLimit}`
    if (contentSize > maxBytes) return `zstd: frame content size ${contentSize} exceeds the limit of ${maxBytes} bytes`
    const blockMax = Math.min(window, ZSTD_BLOCK_MAX)
    let frameBound = 0
    for (let last = 0; last === 0;) {
      if (pos + 3 > end) return "zstd: truncated block header"
      const header = src[pos]! | (src[pos + 1]! << 8) | (src[pos + 2]! << 16)
      pos += 3
      last = header & 1
      const type = (header >> 1) & 3
      const size = header >>> 3
      if (type === 3) return "zstd: reserved block type"
      if (size > ZSTD_BLOCK_MAX) return `zstd: block of ${size} bytes exceeds ${ZSTD_BLOCK_MAX}`
      pos += type === 1 ? 1 : size // RLE: one byte repeated `size` times
      frameBound += type === 2 ? blockMax : size
      if (pos > end) return "zstd: block runs past the input"
    }
    if (hasChecksum) pos += 4
    bound += contentSize >= 0 ? Math.min(contentSize, frameBound) : frameBound
    if (singleSegment === 0 && contentSize < 0 && frameBound < window) {
      shrunk ??= Uint8Array.from(src)
      shrunk[windowAt] = windowDescriptorFor(frameBound)
    }
  }
  if (pos > end) return "zstd: frame runs past the input"
  return { bound, shrunk }
}
