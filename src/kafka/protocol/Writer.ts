/**
 * Writes Kafka protocol primitives into a list of Buffer chunks that a socket can take as they
 * are (`writev`, or one `Buffer.concat`). Owns buffer growth and the zero-copy rule for large
 * payloads: record batches (and any bytes of at least `LARGE_BYTES`) are not copied but become
 * chunks of their own between slices of the writer's buffer, so a Fetch response over many
 * partitions never copies its batches. Small fields are copied into one growing buffer.
 *
 * With `framed`, the first 4 bytes are reserved for the Kafka size prefix and `finish` fills
 * them with the byte count of everything after them. Writing null into a field the schema says
 * is not nullable is a caller bug and throws (the codec's only throw on the encode side).
 */

const TWO_32 = 4294967296
/** Payloads at least this big are passed through as chunks instead of copied. */
export const LARGE_BYTES = 1024

export class Writer {
  private buf: Buffer
  private pos: number
  /** Start of the part of `buf` not yet sealed into `chunks`. */
  private segStart = 0
  private readonly chunks: Array<Buffer> = []
  private size = 0

  constructor(
    initialSize = 256,
    private readonly framed = false
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(initialSize, 16))
    this.pos = framed ? 4 : 0
  }

  /** Bytes written so far (the size prefix included when framed). */
  get length(): number {
    return this.size + (this.pos - this.segStart)
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    // Grow: sealed chunks keep pointing at the old buffer, so only the open segment moves.
    const open = this.pos - this.segStart
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, open + n + 256))
    this.buf.copy(next, 0, this.segStart, this.pos)
    this.buf = next
    this.segStart = 0
    this.pos = open
  }

  // Integers are stored byte by byte: Uint8Array stores wrap modulo 256, and this skips the
  // range checks of Buffer#writeInt32BE & co (measured ~2x faster on the Fetch encode path).

  int8(v: number): this {
    this.ensure(1)
    this.buf[this.pos++] = v
    return this
  }

  int16(v: number): this {
    this.ensure(2)
    const b = this.buf
    const p = this.pos
    b[p] = v >>> 8
    b[p + 1] = v
    this.pos = p + 2
    return this
  }

  int32(v: number): this {
    this.ensure(4)
    const b = this.buf
    const p = this.pos
    b[p] = v >>> 24
    b[p + 1] = v >>> 16
    b[p + 2] = v >>> 8
    b[p + 3] = v
    this.pos = p + 4
    return this
  }

  uint32(v: number): this {
    return this.int32(v)
  }

  /** Two 32-bit halves, no BigInt: exact for |v| < 2^53 (so -1 is eight 0xff bytes). */
  int64(v: number): this {
    this.ensure(8)
    const hi = Math.floor(v / TWO_32)
    const lo = v - hi * TWO_32
    const b = this.buf
    const p = this.pos
    b[p] = hi >>> 24
    b[p + 1] = hi >>> 16
    b[p + 2] = hi >>> 8
    b[p + 3] = hi
    b[p + 4] = lo >>> 24
    b[p + 5] = lo >>> 16
    b[p + 6] = lo >>> 8
    b[p + 7] = lo
    this.pos = p + 8
    return this
  }

  bool(v: boolean): this {
    this.ensure(1)
    this.buf[this.pos++] = v ? 1 : 0
    return this
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53. */
  uvarint(v: number): this {
    this.ensure(10)
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
    }
    this.buf[this.pos++] = v
    return this
  }

  /** Zigzag varint (int32). */
  varint(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1)
  }

  /** Zigzag varlong (int64 as a number, exact for |v| <= 2^52: zigzag doubles it). */
  varlong(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1)
  }

  uuid(v: Uint8Array): this {
    if (v.length !== 16) throw new Error(`a UUID is 16 bytes, got ${v.length}`)
    this.ensure(16)
    this.buf.set(v, this.pos)
    this.pos += 16
    return this
  }

  /**
   * UTF-8 byte length of `s`, counted by hand for short ASCII strings (names, ids): cheaper than
   * Buffer.byteLength's native call. Returns -1 when `s` has non-ASCII characters.
   */
  private static asciiLength(s: string): number {
    if (s.length > 64) return -1
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1
    return s.length
  }

  /** Writes `s` (its length prefix already written), `len` UTF-8 bytes. */
  private utf8(s: string, len: number, ascii: boolean): void {
    this.ensure(len)
    if (ascii) {
      const b = this.buf
      const p = this.pos
      for (let i = 0; i < len; i++) b[p + i] = s.charCodeAt(i)
    } else {
      this.buf.write(s, this.pos, len, "utf8")
    }
    this.pos += len
  }

  string(s: string): this {
    const ascii = Writer.asciiLength(s)
    const len = ascii >= 0 ? ascii : Buffer.byteLength(s, "utf8")
    if (len > 0x7fff) throw new Error(`string of ${len} bytes exceeds int16 length`)
    this.int16(len)
    this.utf8(s, len, ascii >= 0)
    return this
  }

  nullableString(s: string | null): this {
    return s === null ? this.int16(-1) : this.string(s)
  }

  compactString(s: string): this {
    const ascii = Writer.asciiLength(s)
    const len = ascii >= 0 ? ascii : Buffer.byteLength(s, "utf8")
    this.uvarint(len + 1)
    this.utf8(s, len, ascii >= 0)
    return this
  }

  compactNullableString(s: string | null): this {
    return s === null ? this.uvarint(0) : this.compactString(s)
  }

  bytes(b: Uint8Array): this {
    this.int32(b.length)
    return this.raw(b)
  }

  nullableBytes(b: Uint8Array | null): this {
    return b === null ? this.int32(-1) : this.bytes(b)
  }

  compactBytes(b: Uint8Array): this {
    this.uvarint(b.length + 1)
    return this.raw(b)
  }

  compactNullableBytes(b: Uint8Array | null): this {
    return b === null ? this.uvarint(0) : this.compactBytes(b)
  }

  /**
   * Hot path: RECORDS (nullable bytes) from one buffer or several stored batches, written with
   * one length prefix and passed through uncopied when large.
   */
  records(records: Uint8Array | ReadonlyArray<Uint8Array> | null, compact: boolean): this {
    if (records === null) return compact ? this.uvarint(0) : this.int32(-1)
    if (records instanceof Uint8Array) {
      if (compact) this.uvarint(records.length + 1)
      else this.int32(records.length)
      return this.raw(records)
    }
    let len = 0
    for (let i = 0; i < records.length; i++) len += records[i]!.length
    if (compact) this.uvarint(len + 1)
    else this.int32(len)
    for (let i = 0; i < records.length; i++) this.raw(records[i]!)
    return this
  }

  /** ARRAY length (int32), -1 for null. */
  arrayLength(n: number): this {
    return this.int32(n)
  }

  /** COMPACT_ARRAY length: N + 1, 0 for null (pass -1). */
  compactArrayLength(n: number): this {
    return this.uvarint(n + 1)
  }

  /** An empty TAG_BUFFER: this codec writes no tagged fields. */
  emptyTaggedFields(): this {
    return this.uvarint(0)
  }

  /** Appends bytes as they are: copied when small, a chunk of their own when large. */
  raw(b: Uint8Array): this {
    if (b.length < LARGE_BYTES) {
      this.ensure(b.length)
      this.buf.set(b, this.pos)
      this.pos += b.length
      return this
    }
    this.seal()
    const chunk = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length)
    this.chunks.push(chunk)
    this.size += chunk.length
    return this
  }

  private seal(): void {
    if (this.pos === this.segStart) return
    this.chunks.push(this.buf.subarray(this.segStart, this.pos))
    this.size += this.pos - this.segStart
    this.segStart = this.pos
  }

  /**
   * The chunks, in order. When framed, the first chunk starts with the int32 size of what
   * follows. The writer must not be used afterwards.
   */
  finish(): Array<Buffer> {
    this.seal()
    if (this.framed) {
      // The first chunk is always the writer's own buffer: the prefix was reserved there.
      this.chunks[0]!.writeInt32BE(this.size - 4, 0)
    }
    return this.chunks
  }

  /** All chunks as one Buffer (one copy when there are several). */
  finishConcat(): Buffer {
    const chunks = this.finish()
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size)
  }
}
