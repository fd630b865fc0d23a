import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as mqttPacket from "mqtt-packet"
import { FrameReader, type FrameSink } from "../../src/mqtt/codec/FrameReader.js"

/**
 * Collects the frames as hex (a frame may be a view of a chunk the test then reuses; and deep
 * equality on long Buffers is element by element, far too slow for thousands of split points).
 */
class Collect implements FrameSink {
  frames: Array<string> = []
  constructor(private readonly stopAfter = Infinity) {}
  onFrame(frame: Buffer): boolean {
    this.frames.push(frame.toString("hex"))
    return this.frames.length < this.stopAfter
  }
}

const hex = (bufs: ReadonlyArray<Buffer>) => bufs.map((b) => b.toString("hex"))

const publish = (topic: string, size: number, qos: 0 | 1 = 1) =>
  mqttPacket.generate({
    cmd: "publish",
    topic,
    payload: Buffer.alloc(size, 0x61),
    qos,
    dup: false,
    retain: false,
    ...(qos > 0 ? { messageId: 7 } : {})
  })

// One- and two-byte packets, 1-, 2- and 3-byte remaining lengths.
const packets = [
  Buffer.from([0xc0, 0x00]), // PINGREQ
  publish("a/b", 10),
  Buffer.from([0x40, 0x02, 0x00, 0x07]), // PUBACK
  publish("long/one", 300), // 2-byte remaining length
  Buffer.from([0xc0, 0x00]),
  publish("x", 0, 0),
  publish("huge", 17_000) // 3-byte remaining length
]
const stream = Buffer.concat(packets)
const expected = hex(packets)

const feedAll = (reader: FrameReader, chunks: ReadonlyArray<Buffer>, sink: FrameSink): number => {
  for (const c of chunks) {
    const r = reader.feed(c, sink)
    if (r !== 0) return r
  }
  return 0
}

describe("FrameReader", () => {
  it("frames many packets from one chunk as views of it", () => {
    const reader = new FrameReader(1 << 20)
    const views: Array<Buffer> = []
    expect(reader.feed(stream, { onFrame: (f) => (views.push(f), true) })).toBe(0)
    expect(hex(views)).toEqual(expected)
    for (const v of views) expect(v.buffer).toBe(stream.buffer) // zero-copy
    expect(reader.pending).toBe(false)
  })

  it("frames the same packets at every split point", () => {
    for (let i = 0; i <= stream.length; i++) {
      const reader = new FrameReader(1 << 20)
      const sink = new Collect()
      expect(feedAll(reader, [stream.subarray(0, i), stream.subarray(i)], sink)).toBe(0)
      expect(sink.frames).toEqual(expected)
      expect(reader.pending).toBe(false)
    }
  })

  it("frames the same packets at every pair of split points", () => {
    // Smaller packets (still a 2-byte remaining length), to keep the pairs in the thousands.
    const few = [packets[0]!, packets[1]!, packets[2]!, publish("mid", 130), packets[5]!, packets[0]!]
    const small = Buffer.concat(few)
    for (let i = 0; i <= small.length; i++) {
      for (let j = i; j <= small.length; j++) {
        const reader = new FrameReader(1 << 20)
        const sink = new Collect()
        const r = feedAll(reader, [small.subarray(0, i), small.subarray(i, j), small.subarray(j)], sink)
        expect(r).toBe(0)
        expect(sink.frames).toEqual(hex(few))
      }
    }
  })

  it("frames a stream fed one byte at a time", () => {
    const reader = new FrameReader(1 << 20)
    const sink = new Collect()
    for (let i = 0; i < stream.length; i++) expect(reader.feed(stream.subarray(i, i + 1), sink)).toBe(0)
    expect(sink.frames).toEqual(expected)
  })

  it.prop("frames the same packets for random chunkings", [fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 30 })], ([sizes]) => {
    const chunks: Array<Buffer> = []
    let off = 0
    for (const s of sizes) {
      if (off >= stream.length) break
      chunks.push(stream.subarray(off, off + s))
      off += s
    }
    chunks.push(stream.subarray(off))
    const reader = new FrameReader(1 << 20)
    const sink = new Collect()
    expect(feedAll(reader, chunks, sink)).toBe(0)
    expect(sink.frames).toEqual(expected)
  })

  it("stops when the sink returns false", () => {
    const reader = new FrameReader(1 << 20)
    const sink = new Collect(2)
    expect(reader.feed(stream, sink)).toBe(0)
    expect(sink.frames).toEqual(expected.slice(0, 2))
    expect(reader.pending).toBe(false)
  })

  it("stops when the sink returns false on a frame assembled across chunks", () => {
    const reader = new FrameReader(1 << 20)
    const sink = new Collect(1)
    const first = packets[1]!
    expect(reader.feed(first.subarray(0, 5), sink)).toBe(0)
    expect(reader.feed(Buffer.concat([first.subarray(5), packets[2]!]), sink)).toBe(0)
    expect(sink.frames).toEqual(hex([first]))
  })

  it("accepts a packet of exactly maxPacketSize", () => {
    const p = packets[3]!
    const sink = new Collect()
    expect(new FrameReader(p.length).feed(p, sink)).toBe(0)
    expect(sink.frames).toEqual(hex([p]))
  })

  it("refuses an oversize packet from its fixed header alone, before the body arrives [0x95]", () => {
    const p = packets[3]! // 300-byte payload, 2-byte remaining length
    const sink = new Collect()
    const reader = new FrameReader(p.length - 1)
    expect(reader.feed(p.subarray(0, 3), sink)).toBe(0x95) // type byte + 2 length bytes, no body
    expect(sink.frames).toEqual([])
    expect(reader.pending).toBe(false)
  })

  it("refuses an oversize packet whose remaining length is split across chunks", () => {
    // Remaining length 268,435,455 (0xff 0xff 0xff 0x7f): the largest MQTT allows.
    const reader = new FrameReader(1 << 20)
    const sink = new Collect()
    expect(reader.feed(Buffer.from([0x30, 0xff]), sink)).toBe(0)
    expect(reader.feed(Buffer.from([0xff]), sink)).toBe(0)
    expect(reader.feed(Buffer.from([0xff, 0x7f]), sink)).toBe(0x95)
    expect(reader.pending).toBe(false)
  })

  it("refuses an oversize packet after complete ones in the same chunk", () => {
    const reader = new FrameReader(100)
    const sink = new Collect()
    expect(reader.feed(Buffer.concat([packets[0]!, packets[1]!, packets[3]!.subarray(0, 3)]), sink)).toBe(0x95)
    expect(sink.frames).toEqual(hex([packets[0]!, packets[1]!]))
  })

  it("refuses a remaining length longer than 4 bytes [0x81]", () => {
    const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])
    expect(new FrameReader(1 << 30).feed(bad, new Collect())).toBe(0x81)
    for (let i = 1; i < bad.length; i++) {
      const reader = new FrameReader(1 << 30)
      const sink = new Collect()
      expect(feedAll(reader, [bad.subarray(0, i), bad.subarray(i)], sink)).toBe(0x81)
      expect(reader.pending).toBe(false)
    }
  })

  it("keeps nothing between packets, and holds a partial one until it completes", () => {
    const reader = new FrameReader(1 << 20)
    const sink = new Collect()
    reader.feed(packets[0]!, sink)
    expect(reader.pending).toBe(false)
    reader.feed(packets[1]!.subarray(0, 1), sink)
    expect(reader.pending).toBe(true)
    reader.feed(packets[1]!.subarray(1), sink)
    expect(reader.pending).toBe(false)
    expect(sink.frames).toEqual(hex([packets[0]!, packets[1]!]))
  })
})
