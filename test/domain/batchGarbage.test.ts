/**
 * Record batches as a hostile producer could send them: a valid batch, compressed with each codec
 * we write, with bytes overwritten anywhere after the header and its CRC-32C recomputed (so the
 * garbage gets past the checksum into the decompressors and the record reader), or random bytes
 * with a plausible header. decodeBatch returns records or a string; it never throws, and what it
 * returns for an untouched batch is the records that went in.
 */
import { crc32c } from "@node-rs/crc32"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { compress, CompressionCodec } from "../../domain/message/compression.js"
import { BATCH_HEADER_SIZE, decodeBatch, encodeBatch } from "../../domain/message/RecordBatch.js"

const recordArb = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 8 }), value: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }) }), { maxLength: 2 }),
  timestamp: fc.integer({ min: 0, max: 2 ** 42 })
})
const codecs = fc.constantFrom(CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4)

/** `plain` with its records section compressed by `codec`, header fields and CRC made consistent. */
const compressed = (plain: Uint8Array, codec: number): Uint8Array => {
  const section = compress(codec, plain.subarray(BATCH_HEADER_SIZE))
  if (typeof section === "string") throw new Error(section)
  const out = new Uint8Array(BATCH_HEADER_SIZE + section.length)
  out.set(plain.subarray(0, BATCH_HEADER_SIZE))
  out.set(section, BATCH_HEADER_SIZE)
  const view = new DataView(out.buffer)
  view.setInt32(8, out.length - 12)
  view.setInt16(21, (view.getInt16(21) & ~7) | codec)
  return resealed(out)
}

const resealed = (batch: Uint8Array): Uint8Array => {
  new DataView(batch.buffer, batch.byteOffset).setUint32(17, crc32c(batch.subarray(21)))
  return batch
}

const values = (out: ReturnType<typeof decodeBatch>) => {
  if (typeof out === "string") throw new Error(out)
  return out.map((r) => [r.offset, r.key && Buffer.from(r.key).toString("hex"), r.value && Buffer.from(r.value).toString("hex")])
}

describe("record batches from a hostile producer", () => {
  it.prop(
    "compressed with any codec, a batch decodes to its records; overwritten and resealed, it never throws",
    [fc.array(recordArb, { minLength: 1, maxLength: 12 }), codecs, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })],
    ([records, codec, edits]) => {
      const batch = compressed(encodeBatch(5, records), codec)
      expect(values(decodeBatch(batch))).toEqual(
        records.map((r, i) => [5 + i, r.key && Buffer.from(r.key).toString("hex"), r.value && Buffer.from(r.value).toString("hex")])
      )
      const bad = Uint8Array.from(batch)
      // Header fields from attributes on (codec, counts, timestamps) and the records section.
      for (const [at, byte] of edits) bad[21 + (at % (bad.length - 21))] = byte
      const out = decodeBatch(resealed(bad))
      expect(typeof out === "string" || Array.isArray(out)).toBe(true)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "random bytes behind a plausible header never throw",
    [fc.uint8Array({ minLength: BATCH_HEADER_SIZE, maxLength: 400 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: -1, max: 1000 })],
    ([raw, codec, count]) => {
      const batch = Uint8Array.from(raw)
      const view = new DataView(batch.buffer)
      view.setInt32(8, batch.length - 12)
      batch[16] = 2 // magic
      view.setInt16(21, codec)
      view.setInt32(57, count)
      const out = decodeBatch(resealed(batch))
      expect(typeof out === "string" || Array.isArray(out)).toBe(true)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})
