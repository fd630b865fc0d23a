/**
 * Byte-level mutations of valid frames, for the live fuzzer (runFuzz.ts): the kinds of damage a
 * hostile or broken client produces. Each takes a frame (length prefix included) and a random
 * source and returns a new buffer; none of them knows the protocol beyond where its length
 * prefix sits, which the caller says. Plain and fast: the fuzzer runs a million of these.
 */

/** xorshift32: fast, seedable, good enough to pick mutations. */
export class Rng {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9
  }
  next(): number {
    let x = this.s
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.s = x >>> 0
    return this.s
  }
  /** 0 <= n < max */
  int(max: number): number {
    return max <= 0 ? 0 : this.next() % max
  }
  chance(p: number): boolean {
    return this.next() / 4294967296 < p
  }
  pick<A>(list: ReadonlyArray<A>): A {
    return list[this.int(list.length)]!
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff
    return b
  }
}

/** Where a protocol keeps its frame length, so mutations can lie about it. */
export interface Framing {
  readonly name: "mqtt" | "kafka"
  /** Bytes before the body: MQTT's fixed header (type byte and varint), Kafka's int32. */
  headerLength(frame: Buffer): number
  /** The same frame with its declared length replaced (the body left as it is). */
  withDeclaredLength(frame: Buffer, length: number): Buffer
  /** A length beyond any limit (MQTT: 268,435,455; Kafka: 256 MB). */
  readonly huge: ReadonlyArray<number>
}

const varint = (n: number): Buffer => {
  const out: Array<number> = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0 && out.length < 4)
  return Buffer.from(out)
}

export const mqttFraming: Framing = {
  name: "mqtt",
  headerLength: (frame) => {
    let i = 1
    while (i < frame.length && i < 5 && (frame[i]! & 0x80) !== 0) i++
    return Math.min(frame.length, i + 1)
  },
  withDeclaredLength: (frame, length) => Buffer.concat([frame.subarray(0, 1), varint(length), frame.subarray(mqttFraming.headerLength(frame))]),
  huge: [268_435_455, 2_097_152, 1_048_577, 16_384]
}

export const kafkaFraming: Framing = {
  name: "kafka",
  headerLength: (frame) => Math.min(4, frame.length),
  withDeclaredLength: (frame, length) => {
    const b = Buffer.from(frame)
    if (b.length >= 4) b.writeInt32BE(length | 0, 0)
    return b
  },
  huge: [256 * 1024 * 1024, 100 * 1024 * 1024 + 1, 100 * 1024 * 1024 - 1, 2_147_483_647, -1, -2_147_483_648, 50 * 1024 * 1024]
}

/** Ill-formed UTF-8 and code points the protocols forbid, to splice into strings. */
const BAD_UTF8: ReadonlyArray<Buffer> = [
  Buffer.from([0xff]),
  Buffer.from([0xc0, 0x80]), // overlong U+0000
  Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate
  Buffer.from([0xe2, 0x82]), // truncated sequence
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
  Buffer.from([0x00]),
  Buffer.from([0xef, 0xbf, 0xbf]) // U+FFFF, a non-character
]

/** Values that lie as counts or lengths when written over 1, 2 or 4 bytes. */
const LIES_32 = [0x7fffffff, 0xffffffff, 0x80000000, 0x00010000, 0x0000ffff, 1_000_000, 0, 1, 2]
const LIES_16 = [0xffff, 0x7fff, 0x8000, 0, 1, 0x00ff]
const LIES_8 = [0xff, 0x80, 0x7f, 0, 1, 0x0b, 0x26]

export type MutationKind =
  | "flip"
  | "overwrite"
  | "truncate"
  | "lie-length"
  | "huge-length"
  | "bad-utf8"
  | "lie-count"
  | "insert"
  | "delete"
  | "splice"
  | "garbage"

export const MUTATION_KINDS: ReadonlyArray<MutationKind> = [
  "flip",
  "overwrite",
  "truncate",
  "lie-length",
  "huge-length",
  "bad-utf8",
  "lie-count",
  "insert",
  "delete",
  "splice",
  "garbage"
]

/** One mutation of `frame`; `other` is another valid frame, for splices. */
export const mutate = (kind: MutationKind, frame: Buffer, other: Buffer, framing: Framing, rng: Rng): Buffer => {
  const n = frame.length
  const head = framing.headerLength(frame)
  /** A position in the body, or anywhere when there is no body. */
  const bodyAt = () => (n > head ? head + rng.int(n - head) : rng.int(Math.max(1, n)))
  switch (kind) {
    case "flip": {
      const b = Buffer.from(frame)
      for (let i = 1 + rng.int(3); i > 0 && n > 0; i--) b[rng.int(n)]! ^= 1 << rng.int(8)
      return b
    }
    case "overwrite": {
      const b = Buffer.from(frame)
      for (let i = 1 + rng.int(4); i > 0 && n > 0; i--) b[bodyAt()] = rng.next() & 0xff
      return b
    }
    case "truncate":
      return frame.subarray(0, rng.int(n))
    case "lie-length": {
      const body = n - head
      const length = Math.max(0, body + rng.pick([-3, -2, -1, 1, 2, 3, 17, 1000, -body]))
      return framing.withDeclaredLength(frame, length)
    }
    case "huge-length":
      return framing.withDeclaredLength(frame.subarray(0, Math.min(n, head + rng.int(64))), rng.pick(framing.huge))
    case "bad-utf8": {
      const at = bodyAt()
      const bad = rng.pick(BAD_UTF8)
      // Overwrite in place (lengths stay true) or insert (the string's length prefix now lies).
      if (rng.chance(0.5)) {
        const b = Buffer.from(frame)
        bad.copy(b, at, 0, Math.min(bad.length, n - at))
        return b
      }
      return Buffer.concat([frame.subarray(0, at), bad, frame.subarray(at)])
    }
    case "lie-count": {
      const b = Buffer.from(frame)
      const width = rng.pick([1, 2, 4])
      const at = bodyAt()
      if (at + width > n) return b
      if (width === 4) b.writeUInt32BE(rng.pick(LIES_32) >>> 0, at)
      else if (width === 2) b.writeUInt16BE(rng.pick(LIES_16), at)
      else b[at] = rng.pick(LIES_8)
      return b
    }
    case "insert": {
      const at = bodyAt()
      return Buffer.concat([frame.subarray(0, at), rng.bytes(1 + rng.int(16)), frame.subarray(at)])
    }
    case "delete": {
      const at = bodyAt()
      return Buffer.concat([frame.subarray(0, at), frame.subarray(Math.min(n, at + 1 + rng.int(8)))])
    }
    case "splice": {
      const a = rng.int(n + 1)
      return Buffer.concat([frame.subarray(0, a), other.subarray(rng.int(other.length + 1))])
    }
    case "garbage":
      return rng.bytes(1 + rng.int(64))
  }
}
