/**
 * Cuts one connection's TCP byte stream into whole MQTT packets (fixed header included) and hands
 * each to a sink, synchronously, in order. It owns only framing: the fixed header's Remaining
 * Length (MQTT 5 §2.1.4, §1.5.5) and the Maximum Packet Size limit; it never looks inside a packet.
 *
 * Per-connection state is three fields, and a buffer only while a packet is split across chunks.
 * A frame that lies inside one chunk is a zero-copy `subarray` of it; a split frame is assembled
 * into one buffer of exactly its size, allocated once its size is known (never grown, never
 * concatenated per chunk). An oversize packet is refused as soon as its fixed header is complete,
 * before a byte of its body is buffered. A split packet also reserves its size in the listener's
 * budget (RequestBudget, shared by every connection) until it is whole; when the budget cannot
 * hold it the packet is refused (0x97 Quota Exceeded) rather than buffered. Never throws, never
 * allocates per frame on the fast path.
 */
import type { RequestBudget } from "../../net/RequestBudget.js"

/** Receives frames. Return false when the connection was closed: feeding stops at once. */
export interface FrameSink {
  onFrame(frame: Buffer): boolean
}

/** Longest fixed header: one type/flags byte and a 4-byte Remaining Length. */
const MAX_HEADER = 5

/** Reason codes `feed` can return (MQTT 5 §2.4). */
const MALFORMED = 0x81
const PACKET_TOO_LARGE = 0x95
const QUOTA_EXCEEDED = 0x97

/** Result slot for `readLength`: the byte count of the last varint read (no tuple per call). */
let lengthBytes = 0

/**
 * Reads the Remaining Length varint starting at `pos` (the byte after the type byte), stopping at
 * `end`. Returns the value (and sets `lengthBytes`), -1 if the varint is not complete before
 * `end`, -2 if it runs past 4 bytes, which is malformed (§1.5.5: at most 4 bytes).
 */
const readLength = (buf: Buffer, pos: number, end: number): number => {
  let value = 0
  let mul = 1
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return -1
    const b = buf[pos + i]!
    value += (b & 0x7f) * mul
    if ((b & 0x80) === 0) {
      lengthBytes = i + 1
      return value
    }
    mul *= 128
  }
  return -2
}

export class FrameReader {
  /** The partial frame: header bytes while `need` is 0, then a buffer of exactly `need` bytes. */
  private buf: Buffer | null = null
  /** Bytes of the partial frame held in `buf`. */
  private have = 0
  /** Total size of the partial frame, 0 while its fixed header is still incomplete. */
  private need = 0
  /** The `now` given to the `feed` that began the partial frame (for the incomplete-packet timeout). */
  partialSince = 0
  /** Bytes of `budget` reserved for the partial frame. */
  private reserved = 0

  /** `maxPacketSize` counts the whole packet, fixed header included (MQTT 5 §3.1.2.11.4). */
  constructor(
    private readonly maxPacketSize: number,
    private readonly budget: RequestBudget | null = null
  ) {}

  /** True when bytes of an unfinished packet are held (for tests and idle accounting). */
  get pending(): boolean {
    return this.buf !== null
  }

  /**
   * Hot path: frames every complete packet in `chunk` (after any held partial packet) into
   * `sink.onFrame`. `now` (ms) stamps a packet left incomplete (`partialSince`). Returns 0, or a
   * reason code that ends the connection: 0x95 Packet Too Large, 0x81 Malformed Packet (Remaining
   * Length over 4 bytes), 0x97 Quota Exceeded (the budget cannot hold a split packet). After a
   * non-zero result or a sink returning false the reader holds nothing and the rest of the chunk
   * is dropped.
   */
  feed(chunk: Buffer, sink: FrameSink, now = 0): number {
    const end = chunk.length
    let off = 0
    if (this.buf !== null) {
      if (this.need === 0) {
        // The fixed header itself was split: take bytes one by one until the varint is complete.
        const hdr = this.buf
        let total = -1
        while (off < end) {
          hdr[this.have++] = chunk[off++]!
          const len = readLength(hdr, 1, this.have)
          if (len === -2) return this.fail(MALFORMED)
          if (len >= 0) {
            total = 1 + lengthBytes + len
            break
          }
        }
        if (total < 0) return 0
        if (total > this.maxPacketSize) return this.fail(PACKET_TOO_LARGE)
        if (!this.reserve(total)) return this.fail(QUOTA_EXCEEDED)
        const whole = Buffer.allocUnsafe(total)
        hdr.copy(whole, 0, 0, this.have)
        this.buf = whole
        this.need = total
      }
      const n = Math.min(this.need - this.have, end - off)
      chunk.copy(this.buf, this.have, off, off + n)
      this.have += n
      off += n
      if (this.have < this.need) return 0
      const frame = this.buf
      this.buf = null
      this.have = 0
      this.need = 0
      this.unreserve()
      if (!sink.onFrame(frame)) return 0
    }
    while (off < end) {
      const len = readLength(chunk, off + 1, end)
      if (len === -2) return this.fail(MALFORMED)
      if (len === -1) {
        // Fewer than 5 bytes left and the varint is unfinished: keep them for the next chunk.
        const hdr = Buffer.allocUnsafe(MAX_HEADER)
        chunk.copy(hdr, 0, off, end)
        this.buf = hdr
        this.have = end - off
        this.need = 0
        this.partialSince = now
        return 0
      }
      const total = 1 + lengthBytes + len
      if (total > this.maxPacketSize) return this.fail(PACKET_TOO_LARGE)
      if (end - off >= total) {
        const frame = chunk.subarray(off, off + total)
        off += total
        if (!sink.onFrame(frame)) return 0
      } else {
        // Split body: one buffer of the final size, filled as chunks arrive.
        if (!this.reserve(total)) return this.fail(QUOTA_EXCEEDED)
        const whole = Buffer.allocUnsafe(total)
        chunk.copy(whole, 0, off, end)
        this.buf = whole
        this.have = end - off
        this.need = total
        this.partialSince = now
        return 0
      }
    }
    return 0
  }

  /** Drops any partial frame and gives its budget back (the connection closed). */
  discard(): void {
    this.fail(0)
  }

  private reserve(bytes: number): boolean {
    if (this.budget === null) return true
    if (!this.budget.tryReserve(bytes)) return false
    this.reserved = bytes
    return true
  }

  private unreserve(): void {
    if (this.reserved === 0) return
    const bytes = this.reserved
    this.reserved = 0
    this.budget!.release(bytes)
  }

  private fail(reasonCode: number): number {
    this.buf = null
    this.have = 0
    this.need = 0
    this.unreserve()
    return reasonCode
  }
}
