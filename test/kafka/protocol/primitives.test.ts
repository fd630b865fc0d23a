import { describe, expect, it } from "vitest"
import { DecodeFailure, Reader } from "../../../src/kafka/protocol/Reader.js"
import { field, list, message, structs, T } from "../../../src/kafka/protocol/schema.js"
import { compileReader, compileWriter, readerSource } from "../../../src/kafka/protocol/struct.js"
import { LARGE_BYTES, Writer } from "../../../src/kafka/protocol/Writer.js"

const bytesOf = (write: (w: Writer) => void): Buffer => {
  const w = new Writer(16)
  write(w)
  return w.finishConcat()
}

const failure = (read: () => unknown): string => {
  try {
    read()
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeFailure)
    return (e as DecodeFailure).reason
  }
  throw new Error("expected a DecodeFailure")
}

describe("fixed-width integers", () => {
  it("round-trip at their limits, big-endian", () => {
    const buf = bytesOf((w) =>
      w.int8(-128).int8(127).int16(-32768).int16(32767).int32(-2147483648).int32(2147483647).uint32(0xffffffff)
    )
    expect(buf.toString("hex")).toBe("807f80007fff800000007fffffffffffffff")
    const r = new Reader(buf)
    expect([r.int8(), r.int8(), r.int16(), r.int16(), r.int32(), r.int32(), r.uint32()]).toEqual([
      -128, 127, -32768, 32767, -2147483648, 2147483647, 0xffffffff
    ])
    expect(r.remaining).toBe(0)
  })

  it("int64 -1 is eight 0xff bytes; large and negative offsets survive", () => {
    expect(bytesOf((w) => w.int64(-1)).toString("hex")).toBe("ffffffffffffffff")
    expect(bytesOf((w) => w.int64(0)).toString("hex")).toBe("0000000000000000")
    expect(bytesOf((w) => w.int64(2 ** 32)).toString("hex")).toBe("0000000100000000")
    const values = [0, 1, -1, -2, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1_700_000_000_000]
    const buf = bytesOf((w) => values.forEach((v) => w.int64(v)))
    values.forEach((v, i) => expect(buf.readBigInt64BE(i * 8)).toBe(BigInt(v)))
    const r = new Reader(buf)
    expect(values.map(() => r.int64())).toEqual(values)
  })

  it("booleans read any non-zero byte as true", () => {
    const r = new Reader(Buffer.from([0, 1, 2]))
    expect([r.bool(), r.bool(), r.bool()]).toEqual([false, true, true])
    expect(bytesOf((w) => w.bool(true).bool(false))).toEqual(Buffer.from([1, 0]))
  })
})

describe("varints", () => {
  it("zigzag varints match the protobuf encoding, negatives included", () => {
    const cases: Array<[number, string]> = [
      [0, "00"],
      [-1, "01"],
      [1, "02"],
      [-2, "03"],
      [63, "7e"],
      [-64, "7f"],
      [64, "8001"],
      [300, "d804"],
      [2147483647, "feffffff0f"],
      [-2147483648, "ffffffff0f"]
    ]
    for (const [value, hex] of cases) {
      expect(bytesOf((w) => w.varint(value)).toString("hex")).toBe(hex)
      expect(new Reader(Buffer.from(hex, "hex")).varint()).toBe(value)
    }
  })

  it("varlongs carry values up to 2^52 both ways (zigzag doubles them)", () => {
    for (const v of [0, -1, 1, 2 ** 40, -(2 ** 40), 2 ** 52 - 1, -(2 ** 52)]) {
      expect(new Reader(bytesOf((w) => w.varlong(v))).varlong()).toBe(v)
    }
  })

  it("unsigned varints: 0, 127, 128, 2^32-1", () => {
    expect(bytesOf((w) => w.uvarint(0).uvarint(127).uvarint(128)).toString("hex")).toBe("007f8001")
    expect(new Reader(bytesOf((w) => w.uvarint(0xffffffff))).uvarint()).toBe(0xffffffff)
  })

  it("a varint that never ends or runs past 5 bytes is malformed", () => {
    expect(failure(() => new Reader(Buffer.from([0x80, 0x80])).uvarint())).toMatch(/truncated/)
    expect(failure(() => new Reader(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).uvarint())).toMatch(/5 bytes/)
    expect(failure(() => new Reader(Buffer.alloc(11, 0x80)).varlong())).toMatch(/10 bytes/)
  })
})

describe("strings and bytes", () => {
  it("classic strings: int16 length, -1 for null, UTF-8 bytes counted", () => {
    expect(bytesOf((w) => w.string("hé")).toString("hex")).toBe("000368c3a9")
    expect(bytesOf((w) => w.nullableString(null)).toString("hex")).toBe("ffff")
    expect(bytesOf((w) => w.string("")).toString("hex")).toBe("0000")
    const r = new Reader(Buffer.from("000368c3a9ffff0000", "hex"))
    expect([r.string(), r.nullableString(), r.nullableString()]).toEqual(["hé", null, ""])
  })

  it("a null in a non-nullable string is malformed, as Kafka rejects it", () => {
    expect(failure(() => new Reader(Buffer.from("ffff", "hex")).string())).toMatch(/null/)
    expect(failure(() => new Reader(Buffer.from("fffe", "hex")).nullableString())).toMatch(/negative/)
  })

  it("compact strings: unsigned varint length + 1, 0 for null", () => {
    expect(bytesOf((w) => w.compactString("abc")).toString("hex")).toBe("04616263")
    expect(bytesOf((w) => w.compactString("")).toString("hex")).toBe("01")
    expect(bytesOf((w) => w.compactNullableString(null)).toString("hex")).toBe("00")
    const r = new Reader(Buffer.from("0461626301" + "00", "hex"))
    expect([r.compactString(), r.compactString(), r.compactNullableString()]).toEqual(["abc", "", null])
    expect(failure(() => new Reader(Buffer.from("00", "hex")).compactString())).toMatch(/null/)
  })

  it("bytes are copied out of the input; nullable and compact forms", () => {
    const input = Buffer.from("00000002abcd" + "ffffffff" + "03eeff" + "00", "hex")
    const r = new Reader(input)
    const b = r.bytes()
    expect(b.toString("hex")).toBe("abcd")
    input[4] = 0
    expect(b.toString("hex")).toBe("abcd")
    expect(r.nullableBytes()).toBeNull()
    expect(r.compactBytes().toString("hex")).toBe("eeff")
    expect(r.compactNullableBytes()).toBeNull()
    expect(bytesOf((w) => w.bytes(Buffer.from([1, 2])).nullableBytes(null).compactBytes(Buffer.from([3]))).toString("hex")).toBe(
      "000000020102ffffffff0203"
    )
  })

  it("records are a view into the frame, never a copy; -1 is null", () => {
    const frame = Buffer.from("00000003010203ffffffff", "hex")
    const r = new Reader(frame)
    const view = r.recordsView(false)!
    expect(view.toString("hex")).toBe("010203")
    expect(view.buffer).toBe(frame.buffer)
    frame[4] = 9
    expect(view[0]).toBe(9)
    expect(r.recordsView(false)).toBeNull()
    expect(new Reader(Buffer.from("00", "hex")).recordsView(true)).toBeNull()
  })

  it("a length that runs past the end is malformed, not a read past the buffer", () => {
    expect(failure(() => new Reader(Buffer.from("0005616263", "hex")).string())).toMatch(/truncated string/)
    expect(failure(() => new Reader(Buffer.from("00000010aa", "hex")).bytes())).toMatch(/truncated bytes/)
    expect(failure(() => new Reader(Buffer.from("7fffffff", "hex")).recordsView(false))).toMatch(/truncated records/)
    expect(failure(() => new Reader(Buffer.from("00", "hex")).int16())).toMatch(/truncated int16/)
    expect(failure(() => new Reader(Buffer.alloc(7)).int64())).toMatch(/truncated int64/)
  })

  it("a reader never looks past its end, even inside a larger buffer", () => {
    const r = new Reader(Buffer.from("0000000100000002", "hex"), 0, 4)
    expect(r.int32()).toBe(1)
    expect(failure(() => r.int32())).toMatch(/truncated/)
  })

  it("UUIDs are 16 raw bytes", () => {
    const id = Buffer.from("00112233445566778899aabbccddeeff", "hex")
    expect(new Reader(bytesOf((w) => w.uuid(id))).uuid()).toEqual(id)
  })
})

describe("arrays and tagged fields", () => {
  it("classic arrays: int32 count, -1 for null, empty is 0", () => {
    const buf = bytesOf((w) => w.arrayLength(2).int32(7).int32(8).arrayLength(-1).arrayLength(0))
    const r = new Reader(buf)
    expect(r.array((x) => x.int32())).toEqual([7, 8])
    expect(r.nullableArray((x) => x.int32())).toBeNull()
    expect(r.nullableArray((x) => x.int32())).toEqual([])
  })

  it("compact arrays: N + 1, 0 for null", () => {
    const buf = bytesOf((w) => w.compactArrayLength(1).int8(5).compactArrayLength(-1).compactArrayLength(0))
    expect(buf.toString("hex")).toBe("02050001")
    const r = new Reader(buf)
    expect(r.compactArray((x) => x.int8())).toEqual([5])
    expect(r.compactNullableArray((x) => x.int8())).toBeNull()
    expect(r.compactArray((x) => x.int8())).toEqual([])
  })

  it("null where an array is not nullable, or a count the bytes cannot hold, is malformed", () => {
    expect(failure(() => new Reader(Buffer.from("ffffffff", "hex")).array((x) => x.int8()))).toMatch(/null/)
    expect(failure(() => new Reader(Buffer.from("7fffffff00", "hex")).array((x) => x.int8()))).toMatch(/array of 2147483647/)
    expect(failure(() => new Reader(Buffer.from("fffffffe", "hex")).nullableArray((x) => x.int8()))).toMatch(/negative/)
  })

  it("tagged fields are skipped whatever they hold; written as one empty buffer", () => {
    // two fields: tag 0 with 2 bytes, tag 5 with 1 byte, then an int8 after the buffer
    const r = new Reader(Buffer.from("02" + "0002aabb" + "0501cc" + "2a", "hex"))
    r.skipTaggedFields()
    expect(r.int8()).toBe(42)
    expect(bytesOf((w) => w.emptyTaggedFields()).toString("hex")).toBe("00")
    expect(failure(() => new Reader(Buffer.from("01000a00", "hex")).skipTaggedFields())).toMatch(/truncated/)
  })
})

describe("Writer chunks", () => {
  it("grows past its initial size without losing bytes", () => {
    const w = new Writer(16)
    for (let i = 0; i < 1000; i++) w.int32(i)
    const buf = w.finishConcat()
    expect(buf.length).toBe(4000)
    expect(buf.readInt32BE(999 * 4)).toBe(999)
  })

  it("passes large payloads through as their own chunks and fills the size prefix", () => {
    const big = Buffer.alloc(LARGE_BYTES * 2, 7)
    const w = new Writer(16, true)
    w.int32(1)
    w.records([big, big], false)
    w.int16(2)
    const chunks = w.finish()
    expect(chunks.length).toBe(4)
    expect(chunks[1]).toBe(big)
    expect(chunks[2]).toBe(big)
    const all = Buffer.concat(chunks)
    expect(all.readInt32BE(0)).toBe(all.length - 4)
    expect(all.readInt32BE(8)).toBe(big.length * 2)
    expect(all.readInt16BE(all.length - 2)).toBe(2)
  })

  it("copies small payloads into its own buffer (one chunk)", () => {
    const w = new Writer(16, true)
    w.records(Buffer.from([1, 2, 3]), false)
    const chunks = w.finish()
    expect(chunks.length).toBe(1)
    expect(chunks[0]!.toString("hex")).toBe("0000000700000003010203")
  })

  it("sealed chunks survive a later growth of the buffer", () => {
    const big = Buffer.alloc(LARGE_BYTES, 1)
    const w = new Writer(16)
    w.int32(0x11223344)
    w.raw(big)
    for (let i = 0; i < 100; i++) w.int32(i)
    const all = Buffer.concat(w.finish())
    expect(all.readInt32BE(0)).toBe(0x11223344)
    expect(all.readInt32BE(4 + LARGE_BYTES + 99 * 4)).toBe(99)
  })
})

describe("compiled struct codecs", () => {
  const schema = message("Sample", [
    field("id", T.Int32, "0+"),
    field("name", T.String, "0+"),
    field("label", T.String, "1+", { nullable: "1+", default: null }),
    list("ids", T.Int32, "0+", { nullable: "1+" }),
    structs("items", "2+", [field("n", T.Int64, "0+"), field("data", T.Bytes, "0+")])
  ])

  it("write then read gives the value back, version by version, defaults for absent fields", () => {
    const value = { id: 7, name: "n", label: "l", ids: [1, 2], items: [{ n: -1, data: Buffer.from([9]) }] }
    for (const version of [0, 1, 2]) {
      for (const flexible of [false, true]) {
        const w = new Writer(8)
        compileWriter(schema.fields, version, flexible)(w, value)
        const r = new Reader(w.finishConcat())
        const back = compileReader(schema.fields, version, flexible)(r)
        expect(r.remaining).toBe(0)
        expect(back).toEqual({
          id: 7,
          name: "n",
          label: version >= 1 ? "l" : null,
          ids: [1, 2],
          items: version >= 2 ? [{ n: -1, data: Buffer.from([9]) }] : []
        })
      }
    }
  })

  it("null in a non-nullable field is a caller bug on encode: it throws instead of writing -1", () => {
    expect(() => compileWriter(schema.fields, 0, false)(new Writer(), { id: 1, name: null })).toThrow(/name is not nullable in version 0/)
    expect(() => compileWriter(schema.fields, 0, false)(new Writer(), { id: 1, name: "x", ids: null })).toThrow(/ids is not nullable/)
    const w = new Writer()
    compileWriter(schema.fields, 1, false)(w, { id: 1, name: "x", ids: null })
    expect(w.finishConcat().subarray(-4).toString("hex")).toBe("ffffffff")
  })

  it("decoded structs of a kind share one shape: every field present, in schema order", () => {
    const w = new Writer()
    compileWriter(schema.fields, 0, false)(w, { id: 1, name: "x", ids: [] })
    const back = compileReader(schema.fields, 0, false)(new Reader(w.finishConcat()))
    expect(Object.keys(back)).toEqual(["id", "name", "label", "ids", "items"])
  })

  it("the generated source is inspectable and names only schema fields", () => {
    const src = readerSource(schema.fields, 2, true)
    expect(src).toContain(`"items": f4`)
    expect(src).toContain("r.skipTaggedFields()")
  })
})
