/**
 * Record-batch compression against real producer output: batches captured from librdkafka
 * (kcat, test/fixtures/kafka/capture-librdkafka.mjs), batches built by kafkajs's own encoder,
 * and one corpus compressed by the reference gzip/lz4/zstd CLIs
 * (test/fixtures/kafka/make-cli-fixtures.sh). Also: compress/decompress round trips, the
 * xerial snappy framing, output limits, and corrupt input giving a string, never a throw.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { crc32c } from "@node-rs/crc32"
import { FastCheck as fc } from "effect"
import * as snappyjs from "snappyjs"
import { codecName, compress, CompressionCodec, decompress } from "../../domain/message/compression.js"
import type { StoredRecord } from "../../domain/message/LogRecord.js"
import { BATCH_HEADER_SIZE, decodeBatch, encodeBatch, validateBatch } from "../../domain/message/RecordBatch.js"

const require = createRequire(import.meta.url)
const FIXTURES = new URL("../fixtures/kafka/", import.meta.url)
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, FIXTURES)))
const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString("utf8"))

const ok = <A>(result: A | string): A => {
  if (typeof result === "string") throw new Error(result)
  return result
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0)

const hasTool = (tool: string): boolean => {
  try {
    execFileSync("which", [tool], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Rewrites a batch's records section, attributes and length, and recomputes the CRC. */
const withRecordsSection = (batch: Uint8Array, codec: number, section: Uint8Array): Uint8Array => {
  const out = new Uint8Array(BATCH_HEADER_SIZE + section.length)
  out.set(batch.subarray(0, BATCH_HEADER_SIZE))
  out.set(section, BATCH_HEADER_SIZE)
  const view = new DataView(out.buffer)
  view.setInt32(8, out.length - 12)
  view.setInt16(21, (view.getInt16(21) & ~7) | codec)
  view.setUint32(17, crc32c(out.subarray(21)))
  return out
}

const LIBRDKAFKA = JSON.parse(readFileSync(new URL("librdkafka-records.json", FIXTURES), "utf8")) as {
  records: Array<{ key: string; value: string }>
  headers: Array<{ key: string; value: string }>
}

const expectLibrdkafkaRecords = (records: ReadonlyArray<StoredRecord>) => {
  expect(records.map((r) => ({ offset: r.offset, key: text(r.key), value: text(r.value) }))).toEqual(
    LIBRDKAFKA.records.map((r, i) => ({ offset: i, key: r.key, value: r.value }))
  )
  for (const r of records) {
    expect(r.headers.map((h) => ({ key: h.key, value: text(h.value) }))).toEqual(LIBRDKAFKA.headers)
  }
}

describe("librdkafka batches (kcat -z <codec>)", () => {
  const codecs = [["none", 0], ["gzip", 1], ["snappy", 2], ["lz4", 3], ["zstd", 4]] as const
  for (const [name, codec] of codecs) {
    it(`decodes a ${name} batch`, () => {
      const batch = fixture(`librdkafka-${name}.bin`)
      expect(new DataView(batch.buffer, batch.byteOffset).getInt16(21) & 7).toBe(codec)
      expect(validateBatch(batch)).toBeUndefined()
      expectLibrdkafkaRecords(ok(decodeBatch(batch)))
    })
  }

  it("decompresses to the same records section as the uncompressed batch", () => {
    const plain = fixture("librdkafka-none.bin").subarray(BATCH_HEADER_SIZE)
    for (const [name, codec] of codecs.slice(1)) {
      sameBytes(ok(decompress(codec, fixture(`librdkafka-${name}.bin`).subarray(BATCH_HEADER_SIZE))), plain)
    }
  })

  it("checks the CRC of the stored bytes before decompressing", () => {
    for (const [name] of codecs.slice(1)) {
      const batch = Uint8Array.from(fixture(`librdkafka-${name}.bin`))
      batch[BATCH_HEADER_SIZE + 5]! ^= 0x10
      expect(validateBatch(batch)).toMatch(/CRC-32C mismatch/)
      expect(decodeBatch(batch)).toMatch(/CRC-32C mismatch/)
    }
  })
})

describe("xerial snappy framing (Java client, kafkajs-snappy)", () => {
  const rawBlock = fixture("librdkafka-snappy.bin").subarray(BATCH_HEADER_SIZE)
  const xerial = (...blocks: Array<Uint8Array>): Uint8Array => {
    const header = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]
    const parts = blocks.flatMap((b) => {
      const len = Buffer.alloc(4)
      len.writeInt32BE(b.length)
      return [len, Buffer.from(b)]
    })
    return new Uint8Array(Buffer.concat([Buffer.from(header), ...parts]))
  }

  it("reads one chunk and several chunks, as snappy-java writes them", () => {
    const plain = fixture("librdkafka-none.bin").subarray(BATCH_HEADER_SIZE)
    sameBytes(ok(decompress(CompressionCodec.Snappy, xerial(rawBlock))), plain)
    const tail = new TextEncoder().encode("and a second chunk ".repeat(30))
    sameBytes(
      ok(decompress(CompressionCodec.Snappy, xerial(rawBlock, snappyjs.compress(tail)))),
      Buffer.concat([plain, tail])
    )
    const batch = withRecordsSection(fixture("librdkafka-snappy.bin"), CompressionCodec.Snappy, xerial(rawBlock))
    expectLibrdkafkaRecords(ok(decodeBatch(batch)))
  })

  it("compress writes xerial framing in 32 KiB chunks that snappyjs decodes independently", () => {
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => `line ${i} ${i % 7}\n`).join(""))
    const framed = ok(compress(CompressionCodec.Snappy, data))
    expect(Buffer.from(framed.subarray(0, 16)).toString("hex")).toBe("82534e415050590000000001" + "00000001")
    const chunks: Array<Uint8Array> = []
    for (let at = 16; at < framed.length && chunks.length < 100;) {
      const size = Buffer.from(framed).readInt32BE(at)
      chunks.push(snappyjs.uncompress(framed.slice(at + 4, at + 4 + size)))
      at += 4 + size
    }
    expect(chunks.length).toBe(Math.ceil(data.length / 32768))
    sameBytes(Buffer.concat(chunks), data)
  })

  it("decodes whatever snappyjs encodes (raw blocks)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 8 }), (bytes, repeat) => {
        const data = Buffer.concat(Array.from({ length: repeat }, () => Buffer.from(bytes)))
        sameBytes(ok(decompress(CompressionCodec.Snappy, snappyjs.compress(data))), data)
      }),
      { numRuns: 200 }
    )
  })

  it("rejects a 4-byte literal length >= 2^31 at once (snappyjs loops for minutes on it)", () => {
    const bad = Uint8Array.from([100, 0xfc, 0x00, 0x00, 0x00, 0x80, 1, 2, 3, 4, 5, 6, 7, 8])
    const started = performance.now()
    expect(decompress(CompressionCodec.Snappy, bad)).toMatch(/snappy: literal/)
    expect(performance.now() - started).toBeLessThan(100)
  })
})

describe("reference CLI output (gzip, lz4, zstd)", () => {
  const corpus = gunzipSync(fixture("corpus.txt.gz"))
  const files = [
    ["corpus.txt.gz", CompressionCodec.Gzip, "gzip -9"],
    ["corpus.lz4", CompressionCodec.Lz4, "lz4: independent blocks, content checksum"],
    ["corpus.B4-linked-checksums-size.lz4", CompressionCodec.Lz4, "lz4 -B4 -BD -BX --content-size: linked 64 KiB blocks"],
    ["corpus.zst", CompressionCodec.Zstd, "zstd -3: single segment with content size"],
    ["corpus.stream.zst", CompressionCodec.Zstd, "zstd -19 from stdin: 8 MiB window, no content size"]
  ] as const
  for (const [file, codec, what] of files) {
    it(`decodes ${what}`, () => {
      expect(corpus.length).toBeGreaterThan(100_000)
      sameBytes(ok(decompress(codec, fixture(file))), corpus)
    })
  }

  it("decodes concatenated frames and skips skippable frames (zstd and lz4)", () => {
    const skippable = Uint8Array.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9])
    const twice = Buffer.concat([corpus, corpus])
    for (const [codec, a, b] of [
      [CompressionCodec.Zstd, "corpus.stream.zst", "corpus.zst"],
      [CompressionCodec.Lz4, "corpus.lz4", "corpus.B4-linked-checksums-size.lz4"]
    ] as const) {
      sameBytes(ok(decompress(codec, Buffer.concat([skippable, fixture(a), skippable, fixture(b)]))), twice)
    }
  })

  it.skipIf(!hasTool("lz4"))("lz4 -d reads what compress(lz4) writes", () => {
    const dir = mkdtempSync(join(tmpdir(), "lz4-"))
    try {
      let seed = 1
      const lowEntropy = Buffer.alloc(70_000).map(() => 97 + ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 29))
      const inputs = [
        Buffer.concat([corpus, corpus.subarray(0, 70_000)]), // three 64 KiB blocks and a bit
        lowEntropy,
        Buffer.alloc(100_000, 0x7a),
        corpus.subarray(0, 13),
        corpus.subarray(0, 12)
      ]
      for (const data of inputs) {
        writeFileSync(join(dir, "data.lz4"), ok(compress(CompressionCodec.Lz4, data)))
        execFileSync("lz4", ["-d", "-q", "-f", join(dir, "data.lz4"), join(dir, "data")], { timeout: 10_000 })
        sameBytes(readFileSync(join(dir, "data")), data)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("kafkajs batches (its own RecordBatch and gzip encoders)", () => {
  const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0") as {
    RecordBatch: (args: Record<string, unknown>) => Promise<{ buffer: Buffer }>
  }
  const Record = require("kafkajs/src/protocol/recordBatch/record/v0") as (args: Record<string, unknown>) => unknown
  const Long = require("kafkajs/src/utils/long") as { fromInt: (n: number) => unknown }
  const T = 1700000000000

  const kafkajsBatch = async (compression: number) => {
    const records = Array.from({ length: 50 }, (_, i) =>
      Record({
        offsetDelta: i,
        timestampDelta: i * 3,
        key: Buffer.from(`key-${i}`),
        value: Buffer.from(`value ${i} `.repeat(i + 1)),
        headers: i % 2 === 0 ? { even: Buffer.from("yes"), n: Buffer.from(String(i)) } : {}
      })
    )
    const encoded = await RecordBatch({
      compression,
      firstOffset: Long.fromInt(1000),
      firstTimestamp: T,
      maxTimestamp: T + 147,
      lastOffsetDelta: 49,
      records
    })
    return new Uint8Array(encoded.buffer)
  }

  for (const [compression, name] of [[0, "uncompressed"], [1, "gzip"]] as const) {
    it(`decodes a ${name} batch`, async () => {
      const batch = await kafkajsBatch(compression)
      expect(validateBatch(batch)).toBeUndefined()
      const records = ok(decodeBatch(batch))
      expect(records.length).toBe(50)
      records.forEach((r, i) => {
        expect(r.offset).toBe(1000 + i)
        expect(r.timestamp).toBe(T + i * 3)
        expect(text(r.key)).toBe(`key-${i}`)
        expect(text(r.value)).toBe(`value ${i} `.repeat(i + 1))
        expect(r.headers.map((h) => [h.key, text(h.value)])).toEqual(i % 2 === 0 ? [["even", "yes"], ["n", String(i)]] : [])
      })
    })
  }
})

describe("compress / decompress", () => {
  const roundTripCodecs = [CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4]

  it.prop(
    "round-trips any bytes through gzip, snappy and lz4",
    [fc.uint8Array({ maxLength: 4000 }), fc.integer({ min: 1, max: 40 })],
    ([bytes, repeat]) => {
      const data = Buffer.concat(Array.from({ length: repeat }, () => Buffer.from(bytes)))
      for (const codec of roundTripCodecs) sameBytes(ok(decompress(codec, ok(compress(codec, data)))), data)
    },
    { fastCheck: { numRuns: 60 } }
  )

  it("round-trips multi-block inputs, compressible and not", () => {
    let seed = 7
    const noise = Buffer.alloc(200_000, 0).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24)
    const repetitive = Buffer.from("abcdefgh".repeat(40_000))
    for (const data of [noise, repetitive, Buffer.alloc(0)]) {
      for (const codec of roundTripCodecs) sameBytes(ok(decompress(codec, ok(compress(codec, data)))), data)
    }
    expect(ok(compress(CompressionCodec.Lz4, repetitive)).length).toBeLessThan(repetitive.length / 50)
  })

  it("says zstd and unknown codecs cannot compress, and unknown codecs cannot decompress", () => {
    expect(compress(CompressionCodec.Zstd, Buffer.from("x"))).toMatch(/zstd/)
    expect(compress(5, Buffer.from("x"))).toMatch(/unknown compression codec 5/)
    expect(decompress(7, Buffer.from("x"))).toMatch(/unknown compression codec 7/)
    expect(codecName(3)).toBe("lz4")
    expect(codecName(6)).toBe("codec 6")
  })

  it("decodes batches it compressed, and reports a compressed batch that does not decompress", () => {
    const records = Array.from({ length: 30 }, (_, i) => ({
      key: Buffer.from(`k${i}`),
      value: Buffer.from(`payload ${i} `.repeat(20)),
      headers: [{ key: "h", value: Buffer.from(String(i)) }],
      timestamp: 1700000000000 + i
    }))
    const plain = encodeBatch(42, records)
    const section = plain.subarray(BATCH_HEADER_SIZE)
    for (const codec of [CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4]) {
      const batch = withRecordsSection(plain, codec, ok(compress(codec, section)))
      expect(batch.length).toBeLessThan(plain.length)
      expect(validateBatch(batch)).toBeUndefined()
      const out = ok(decodeBatch(batch))
      expect(out.map((r) => [r.offset, text(r.value)])).toEqual(records.map((r, i) => [42 + i, text(r.value)]))
      // valid CRC, but the records section is not in this codec's format
      const wrong = withRecordsSection(plain, codec, section)
      expect(validateBatch(wrong)).toBeUndefined()
      expect(decodeBatch(wrong)).toMatch(new RegExp(`^compressed record batch: .*${codecName(codec)}`))
    }
    expect(decodeBatch(withRecordsSection(plain, 6, section))).toMatch(/unknown compression codec 6/)
    // zstd data whose frame is fine but holds one record fewer than the header says
    const zstdBatch = Uint8Array.from(fixture("librdkafka-zstd.bin"))
    new DataView(zstdBatch.buffer).setInt32(57, 5)
    new DataView(zstdBatch.buffer).setUint32(17, crc32c(zstdBatch.subarray(21)))
    expect(typeof decodeBatch(zstdBatch)).toBe("string")
  })
})

describe("bad input", () => {
  const samples = [
    [CompressionCodec.Gzip, fixture("librdkafka-gzip.bin").subarray(BATCH_HEADER_SIZE)],
    [CompressionCodec.Snappy, fixture("librdkafka-snappy.bin").subarray(BATCH_HEADER_SIZE)],
    [CompressionCodec.Lz4, fixture("librdkafka-lz4.bin").subarray(BATCH_HEADER_SIZE)],
    [CompressionCodec.Zstd, fixture("librdkafka-zstd.bin").subarray(BATCH_HEADER_SIZE)],
    [CompressionCodec.Snappy, ok(compress(CompressionCodec.Snappy, fixture("librdkafka-none.bin")))],
    [CompressionCodec.Lz4, fixture("corpus.B4-linked-checksums-size.lz4").subarray(0, 3000)]
  ] as const

  it("truncation and garbage give a string", () => {
    for (const [codec, data] of samples) {
      expect(decompress(codec, new Uint8Array(0)), codecName(codec)).toBeTypeOf("string")
      expect(decompress(codec, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9])), codecName(codec)).toBeTypeOf("string")
      for (const cut of [1, 5, 9, Math.floor(data.length / 2), data.length - 1]) {
        expect(decompress(codec, data.subarray(0, cut)), `${codecName(codec)} cut at ${cut}`).toBeTypeOf("string")
      }
    }
  })

  it("a flipped bit anywhere never throws and never hangs", () => {
    const started = performance.now()
    let errors = 0
    for (const [codec, data] of samples) {
      for (let at = 0; at < Math.min(data.length, 400); at++) {
        for (const bit of [0x01, 0x80]) {
          const bad = Uint8Array.from(data)
          bad[at]! ^= bit
          if (typeof decompress(codec, bad) === "string") errors++
        }
      }
    }
    expect(errors).toBeGreaterThan(500) // most flips are caught (gzip and snappy-block errors, headers)
    expect(performance.now() - started).toBeLessThan(15_000)
  })

  it("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 600 }), (codec, bytes) => {
        const out = decompress(codec, bytes)
        expect(typeof out === "string" || out instanceof Uint8Array).toBe(true)
      }),
      { numRuns: 2000 }
    )
    // the same with each codec's magic in front, so the random part reaches the block decoders
    const magics: Record<number, Array<number>> = {
      1: [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
      2: [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1],
      3: [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82],
      4: [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]
    }
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 600 }), (codec, bytes) => {
        const out = decompress(codec, Uint8Array.from([...magics[codec]!, ...bytes]))
        expect(typeof out === "string" || out instanceof Uint8Array).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })

  it("output over maxBytes is refused before it is produced", () => {
    const big = Buffer.alloc(1_000_000, 0x61)
    for (const codec of [CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4]) {
      const packed = ok(compress(codec, big))
      expect(packed.length).toBeLessThan(50_000)
      expect(decompress(codec, packed, 100_000), codecName(codec)).toBeTypeOf("string")
      expect(ok(decompress(codec, packed, 1_000_000)).length).toBe(1_000_000)
    }
    // raw snappy declaring 2^32 - 1 bytes
    expect(decompress(CompressionCodec.Snappy, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0]))).toMatch(/limit/)
    // zstd frame declaring 2^40 bytes of content (8-byte content size), and one with a 2 GiB window
    const fcs = [0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]
    expect(decompress(CompressionCodec.Zstd, Uint8Array.from(fcs))).toMatch(/content size/)
    expect(decompress(CompressionCodec.Zstd, Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 1, 0, 0]))).toMatch(/window/)
    // the CLI corpus (113 KB) against a 50 KB limit
    expect(decompress(CompressionCodec.Zstd, fixture("corpus.zst"), 50_000)).toMatch(/limit/)
    expect(decompress(CompressionCodec.Lz4, fixture("corpus.lz4"), 50_000)).toMatch(/limit/)
  })
})
