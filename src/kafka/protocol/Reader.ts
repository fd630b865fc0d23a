/**
 * Reads Kafka protocol primitives (https://kafka.apache.org/protocol#protocol_types) from one
 * Buffer, front to back. Owns bounds checking: every read checks that its bytes lie before `end`,
 * so a truncated or lying request can never read outside its frame or allocate from a forged
 * length. A failed check throws a `DecodeFailure` (a plain object, no stack trace captured),
 * which `decodeRequest` catches and turns into a decode error value; nothing else is thrown.
 *
 * Numbers: int64/varlong come back as JS numbers (int64 exact below 2^53, varlong to 2^52:
 * offsets, timestamps and producer ids in practice, and -1). Bytes come back as copies (safe to
 * keep); `recordsView` returns a zero-copy view of the frame for record batches, the one field on
 * the hot path.
 */

/** Thrown by `Reader` when the input is malformed; caught at the codec boundary, never escapes. */
export class DecodeFailure {
  readonly _tag = "DecodeFailure"
  constructor(readonly reason: string) {}
}

const TWO_32 = 4294967296
const EMPTY = Buffer.alloc(0)

export class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
    readonly end = buf.length
  ) {}

  get remaining(): number {
    return this.end - this.pos
  }

  /** Claims `n` bytes and returns where they start; fails if they run past `end`. */
  private take(n: number, what: string): number {
    const at = this.pos
    if (n < 0 || at + n > this.end) throw new DecodeFailure(`truncated ${what} at byte ${at}`)
    this.pos = at + n
    return at
  }

  // Integers are assembled byte by byte, skipping Buffer#readInt32BE's own bounds checks (take()
  // already did them).

  int8(): number {
    return (this.buf[this.take(1, "int8")]! << 24) >> 24
  }

  int16(): number {
    const p = this.take(2, "int16")
    const b = this.buf
    return ((b[p]! << 24) | (b[p + 1]! << 16)) >> 16
  }

  int32(): number {
    const p = this.take(4, "int32")
    const b = this.buf
    return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!
  }

  uint32(): number {
    return this.int32() >>> 0
  }

  /** Two 32-bit halves, no BigInt: exact for |n| < 2^53. */
  int64(): number {
    const p = this.take(8, "int64")
    const b = this.buf
    const hi = (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!
    const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0
    return hi * TWO_32 + lo
  }

  bool(): boolean {
    return this.buf[this.take(1, "boolean")] !== 0
  }

  /** Unsigned LEB128, at most 5 bytes (32 bits). */
  uvarint(): number {
    let value = 0
    let mul = 1
    for (let i = 0; i < 5; i++) {
      const b = this.buf[this.take(1, "varint")]!
      value += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (value > 0xffffffff) throw new DecodeFailure("unsigned varint exceeds 32 bits")
        return value
      }
      mul *= 128
    }
    throw new DecodeFailure("unsigned varint longer than 5 bytes")
  }

  /** Zigzag varint (int32). */
  varint(): number {
    const u = this.uvarint()
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2
  }

  /** Zigzag varlong (int64 as a number, exact for |n| <= 2^52: zigzag doubles it), at most 10 bytes. */
  varlong(): number {
    let value = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.take(1, "varlong")]!
      value += (b & 0x7f) * mul
      if ((b & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2
      mul *= 128
    }
    throw new DecodeFailure("varlong longer than 10 bytes")
  }

  uuid(): Buffer {
    const at = this.take(16, "uuid")
    return Buffer.from(this.buf.subarray(at, at + 16))
  }

  private utf8(len: number): string {
    const at = this.take(len, "string")
    return this.buf.toString("utf8", at, at + len)
  }

  /** STRING: int16 length, then UTF-8. */
  string(): string {
    const len = this.int16()
    if (len < 0) throw new DecodeFailure("null in a non-nullable string")
    return this.utf8(len)
  }

  /** NULLABLE_STRING: int16 length, -1 = null. */
  nullableString(): string | null {
    const len = this.int16()
    if (len === -1) return null
    if (len < 0) throw new DecodeFailure(`negative string length ${len}`)
    return this.utf8(len)
  }

  /** COMPACT_STRING: unsigned varint length + 1. */
  compactString(): string {
    const n = this.uvarint()
    if (n === 0) throw new DecodeFailure("null in a non-nullable compact string")
    return this.utf8(n - 1)
  }

  /** COMPACT_NULLABLE_STRING: unsigned varint length + 1, 0 = null. */
  compactNullableString(): string | null {
    const n = this.uvarint()
    return n === 0 ? null : this.utf8(n - 1)
  }

  private copy(len: number): Buffer {
    if (len === 0) return EMPTY
    const at = this.take(len, "bytes")
    return Buffer.from(this.buf.subarray(at, at + len))
  }

  private view(len: number): Buffer {
    const at = this.take(len, "records")
    return this.buf.subarray(at, at + len)
  }

  /** BYTES: int32 length, then the bytes (copied). */
  bytes(): Buffer {
    const len = this.int32()
    if (len < 0) throw new DecodeFailure("null in non-nullable bytes")
    return this.copy(len)
  }

  nullableBytes(): Buffer | null {
    const len = this.int32()
    if (len === -1) return null
    if (len < 0) throw new DecodeFailure(`negative bytes length ${len}`)
    return this.copy(len)
  }

  compactBytes(): Buffer {
    const n = this.uvarint()
    if (n === 0) throw new DecodeFailure("null in non-nullable compact bytes")
    return this.copy(n - 1)
  }

  compactNullableBytes(): Buffer | null {
    const n = this.uvarint()
    return n === 0 ? null : this.copy(n - 1)
  }

  /**
   * Hot path: RECORDS as nullable bytes (int32 length, -1 = null), returned as a view into the
   * frame, never copied or parsed. `compact` selects the flexible-version encoding.
   */
  recordsView(compact: boolean): Buffer | null {
    if (compact) {
      const n = this.uvarint()
      return n === 0 ? null : this.view(n - 1)
    }
    const len = this.int32()
    if (len === -1) return null
    if (len < 0) throw new DecodeFailure(`negative records length ${len}`)
    return this.view(len)
  }

  /**
   * ARRAY length: int32, -1 = null (returned as -1). A count larger than the bytes left cannot be
   * honest (every element takes at least one byte), so it fails before anything is allocated.
   */
  arrayLength(nullable: boolean): number {
    const n = this.int32()
    return this.checkCount(n, nullable)
  }

  /** COMPACT_ARRAY length: unsigned varint N + 1, 0 = null (returned as -1). */
  compactArrayLength(nullable: boolean): number {
    return this.checkCount(this.uvarint() - 1, nullable)
  }

  private checkCount(n: number, nullable: boolean): number {
    if (n === -1) {
      if (!nullable) throw new DecodeFailure("null in a non-nullable array")
      return -1
    }
    if (n < 0) throw new DecodeFailure(`negative array length ${n}`)
    if (n > this.end - this.pos) throw new DecodeFailure(`array of ${n} elements in ${this.end - this.pos} bytes`)
    return n
  }

  /** ARRAY of elements read by `read`. */
  array<T>(read: (r: Reader) => T): Array<T> {
    return this.elements(this.arrayLength(false), read)!
  }

  nullableArray<T>(read: (r: Reader) => T): Array<T> | null {
    return this.elements(this.arrayLength(true), read)
  }

  compactArray<T>(read: (r: Reader) => T): Array<T> {
    return this.elements(this.compactArrayLength(false), read)!
  }

  compactNullableArray<T>(read: (r: Reader) => T): Array<T> | null {
    return this.elements(this.compactArrayLength(true), read)
  }

  private elements<T>(n: number, read: (r: Reader) => T): Array<T> | null {
    if (n === -1) return null
    const out = new Array<T>(n)
    for (let i = 0; i < n; i++) out[i] = read(this)
    return out
  }

  /** TAG_BUFFER (KIP-482): this codec declares no tagged fields, so all of them are skipped. */
  skipTaggedFields(): void {
    const count = this.uvarint()
    if (count > this.end - this.pos) throw new DecodeFailure(`${count} tagged fields in ${this.end - this.pos} bytes`)
    for (let i = 0; i < count; i++) {
      this.uvarint() // tag
      this.take(this.uvarint(), "tagged field")
    }
  }
}
