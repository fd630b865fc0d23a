/**
 * RecordBatch v2 against fixtures written field by field from the Kafka spec
 * (https://kafka.apache.org/documentation/#recordbatch), a round-trip property, and the
 * failures decodeBatch must report (CRC, magic, truncation, undecompressable records).
 */
import { describe, expect, it } from "@effect/vitest"
import { crc32c } from "@node-rs/crc32"
import { FastCheck as fc } from "effect"
import type { LogRecord, StoredRecord } from "../../domain/message/LogRecord.js"
import {
  batchBaseOffset,
  batchLastOffset,
  batchRecordCount,
  decodeBatch,
  encodeBatch,
  setBaseOffset,
  setLogAppendTime,
  sharedHeader,
  validateBatch
} from "../../domain/message/RecordBatch.js"

const utf8 = new TextEncoder()
const T = 1700000000000 // 0x0000018BCFE56800

const decoded = (bytes: Uint8Array): ReadonlyArray<StoredRecord> => {
  const out = decodeBatch(bytes)
  if (typeof out === "string") throw new Error(out)
  return out
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

/** One record, key "k", value "hi", at offset 0. */
const fixtureOne = Uint8Array.from([
  0, 0, 0, 0, 0, 0, 0, 0, //                baseOffset 0
  0, 0, 0, 59, //                           batchLength: 71 - 12
  0, 0, 0, 0, //                            partitionLeaderEpoch 0
  2, //                                     magic
  0xcb, 0xf3, 0x29, 0xe0, //                CRC-32C of the bytes from attributes on
  0, 0, //                                  attributes: no compression, CreateTime
  0, 0, 0, 0, //                            lastOffsetDelta 0
  0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0, // baseTimestamp T
  0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0, // maxTimestamp T
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producerId -1
  0xff, 0xff, //                            producerEpoch -1
  0xff, 0xff, 0xff, 0xff, //                baseSequence -1
  0, 0, 0, 1, //                            record count 1
  0x12, //                                  record length 9 (zigzag 18)
  0, //                                     record attributes
  0, //                                     timestampDelta 0
  0, //                                     offsetDelta 0
  0x02, 0x6b, //                            key length 1, "k"
  0x04, 0x68, 0x69, //                      value length 2, "hi"
  0 //                                      header count 0
])

/**
 * Two records at offsets 5 and 6: a null key with a header whose value is null; then a
 * timestamp 10 ms before the base (negative delta) and a 64-byte value (two-byte varints).
 */
const fixtureTwo = Uint8Array.from([
  0, 0, 0, 0, 0, 0, 0, 5, //                baseOffset 5
  0, 0, 0, 0x87, //                         batchLength 135 (147 - 12)
  0, 0, 0, 0, //                            partitionLeaderEpoch
  2, //                                     magic
  0x8e, 0x37, 0xbe, 0x51, //                CRC-32C
  0, 0, //                                  attributes
  0, 0, 0, 1, //                            lastOffsetDelta 1
  0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0, // baseTimestamp T (the first record's)
  0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0, // maxTimestamp T
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff,
  0xff, 0xff, 0xff, 0xff,
  0, 0, 0, 2, //                            record count 2
  0x14, //                                  record 0: length 10
  0, 0, 0, //                               attributes, timestampDelta 0, offsetDelta 0
  0x01, //                                  key length -1: null
  0x02, 0x61, //                            value "a"
  0x02, //                                  1 header
  0x02, 0x68, //                            header key "h"
  0x01, //                                  header value length -1: null
  0x92, 0x01, //                            record 1: length 73 (zigzag 146, two bytes)
  0, //                                     attributes
  0x13, //                                  timestampDelta -10 (zigzag 19)
  0x02, //                                  offsetDelta 1
  0x04, 0x6b, 0x6b, //                      key "kk"
  0x80, 0x01, //                            value length 64 (zigzag 128, two bytes)
  ...new Array<number>(64).fill(0x76), //   value
  0 //                                      no headers
])

const recordsTwo: ReadonlyArray<LogRecord> = [
  { key: null, value: utf8.encode("a"), headers: [{ key: "h", value: null }], timestamp: T },
  { key: utf8.encode("kk"), value: new Uint8Array(64).fill(0x76), headers: [], timestamp: T - 10 }
]

describe("RecordBatch", () => {
  it("uses CRC-32C (Castagnoli): check value of \"123456789\" is 0xE3069283", () => {
    expect(crc32c(utf8.encode("123456789"))).toBe(0xe3069283)
  })

  it("encodes one record exactly as the spec lays it out", () => {
    const bytes = encodeBatch(0, [{ key: utf8.encode("k"), value: utf8.encode("hi"), headers: [], timestamp: T }])
    expect(hex(bytes)).toBe(hex(fixtureOne))
    expect(crc32c(fixtureOne.subarray(21))).toBe(0xcbf329e0)
  })

  it("encodes null keys, null header values, negative deltas and multi-byte varints", () => {
    expect(hex(encodeBatch(5, recordsTwo))).toBe(hex(fixtureTwo))
  })

  it("decodes the fixtures", () => {
    const one = decoded(fixtureOne)
    expect(one).toHaveLength(1)
    expect(one[0]!.offset).toBe(0)
    expect(Buffer.from(one[0]!.key!).toString()).toBe("k")
    expect(Buffer.from(one[0]!.value!).toString()).toBe("hi")
    expect(one[0]!.headers).toEqual([])
    expect(one[0]!.timestamp).toBe(T)

    const two = decoded(fixtureTwo)
    expect(two.map((r) => r.offset)).toEqual([5, 6])
    expect(two[0]!.key).toBeNull()
    expect(two[0]!.headers).toEqual([{ key: "h", value: null }])
    expect(two[1]!.timestamp).toBe(T - 10)
    expect(Array.from(two[1]!.value!)).toEqual(new Array(64).fill(0x76))
  })

  it("reads and patches the header offsets; the CRC does not cover baseOffset", () => {
    const bytes = Uint8Array.from(fixtureTwo)
    expect(batchBaseOffset(bytes)).toBe(5)
    expect(batchLastOffset(bytes)).toBe(6)
    expect(batchRecordCount(bytes)).toBe(2)
    setBaseOffset(bytes, 2 ** 40 + 7)
    expect(batchBaseOffset(bytes)).toBe(2 ** 40 + 7)
    expect(batchLastOffset(bytes)).toBe(2 ** 40 + 8)
    expect(validateBatch(bytes)).toBeUndefined()
    expect(decoded(bytes).map((r) => r.offset)).toEqual([2 ** 40 + 7, 2 ** 40 + 8])
    expect(hex(bytes.subarray(8))).toBe(hex(fixtureTwo.subarray(8)))
  })

  it("detects corruption anywhere under the CRC", () => {
    for (const at of [21, 30, 61, 70, fixtureOne.length - 1]) {
      const bytes = Uint8Array.from(fixtureOne)
      bytes[at] ^= 0x01
      expect(decodeBatch(bytes)).toMatch(/CRC-32C mismatch/)
    }
  })

  it("rejects another magic, truncation, trailing bytes and compression", () => {
    const magic1 = Uint8Array.from(fixtureOne)
    magic1[16] = 1
    expect(decodeBatch(magic1)).toMatch(/magic 1/)
    expect(decodeBatch(fixtureOne.subarray(0, 40))).toMatch(/truncated/)
    expect(decodeBatch(fixtureOne.subarray(0, fixtureOne.length - 1))).toMatch(/truncated/)
    expect(decodeBatch(Uint8Array.from([...fixtureOne, 0]))).toMatch(/trailing/)

    // Flagged gzip (codec 1) with a valid CRC but plain records: validation checks framing
    // and CRC only; decoding fails to decompress (compression.test.ts covers real batches).
    const gzip = Uint8Array.from(fixtureOne)
    gzip[22] = 1
    new DataView(gzip.buffer).setUint32(17, crc32c(gzip.subarray(21)))
    expect(validateBatch(gzip)).toBeUndefined()
    expect(decodeBatch(gzip)).toMatch(/^compressed record batch: corrupt gzip data/)
  })

  it("rejects a record whose length disagrees with its contents, CRC notwithstanding", () => {
    const bad = Uint8Array.from(fixtureOne)
    bad[61] = 0x10 // record length 8 instead of 9
    new DataView(bad.buffer).setUint32(17, crc32c(bad.subarray(21)))
    expect(typeof decodeBatch(bad)).toBe("string")
  })

  it("writes a shared (pre-encoded) header byte for byte like a plain one", () => {
    const plain = { key: "mqtt.topic", value: utf8.encode("a/b/ç") }
    const long = { key: "k".repeat(200), value: new Uint8Array(300).fill(7) } // multi-byte varints, `set` path
    const noValue = { key: "flag", value: null }
    const records = (hs: ReadonlyArray<{ key: string; value: Uint8Array | null }>): Array<LogRecord> => [
      { key: utf8.encode("a/b/ç"), value: utf8.encode("v"), headers: hs, timestamp: T }
    ]
    const expected = encodeBatch(5, records([plain, long, noValue]))
    const shared = [plain, long, noValue].map((h) => sharedHeader(h.key, h.value))
    expect(hex(encodeBatch(5, records(shared)))).toBe(hex(expected))
    expect(decoded(expected)[0]!.headers.map((h) => h.key)).toEqual(["mqtt.topic", "k".repeat(200), "flag"])
  })

  it("stamps LogAppendTime in place: attribute bit 3, maxTimestamp, a CRC that still verifies", () => {
    const bytes = encodeBatch(0, [
      { key: null, value: utf8.encode("a"), headers: [], timestamp: T },
      { key: null, value: utf8.encode("b"), headers: [], timestamp: T + 7 }
    ])
    setLogAppendTime(bytes, T + 60_000)
    expect(validateBatch(bytes)).toBeUndefined()
    expect(decoded(bytes).map((r) => r.timestamp)).toEqual([T + 60_000, T + 60_000])
  })

  it("refuses to encode an empty batch", () => {
    expect(() => encodeBatch(0, [])).toThrow(RangeError)
  })

  const bytesArb = fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null })
  const recordArb = fc.record({
    key: bytesArb,
    value: bytesArb,
    headers: fc.array(fc.record({ key: fc.fullUnicodeString({ maxLength: 20 }), value: bytesArb }), { maxLength: 4 }),
    timestamp: fc.integer({ min: -1, max: 2 ** 45 })
  })

  it.prop(
    "decode(encode(records)) gives the records back with consecutive offsets",
    [fc.integer({ min: 0, max: 2 ** 52 }), fc.array(recordArb, { minLength: 1, maxLength: 40 })],
    ([baseOffset, records]) => {
      const bytes = encodeBatch(baseOffset, records)
      expect(validateBatch(bytes)).toBeUndefined()
      expect(batchBaseOffset(bytes)).toBe(baseOffset)
      expect(batchLastOffset(bytes)).toBe(baseOffset + records.length - 1)
      const out = decoded(bytes)
      expect(out.map((r) => ({ ...r, key: r.key && Array.from(r.key), value: r.value && Array.from(r.value), headers: r.headers.map((h) => ({ key: h.key, value: h.value && Array.from(h.value) })) }))).toEqual(
        records.map((r, i) => ({
          offset: baseOffset + i,
          key: r.key && Array.from(r.key),
          value: r.value && Array.from(r.value),
          headers: r.headers.map((h) => ({ key: h.key, value: h.value && Array.from(h.value) })),
          timestamp: r.timestamp
        }))
      )
    }
  )
})
