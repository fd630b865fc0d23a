/**
 * The one interpreter of `schema.ts` tables: reads a message body into a plain object and writes
 * a plain object as a message body, for a given version. A field the version does not carry is
 * not read (the reader fills in its default, so decoded objects have every field) and not
 * written. Flexible versions (KIP-482) switch strings, bytes, records and arrays to their compact
 * forms and end every struct with a tagged-field buffer.
 *
 * Plain synchronous loops, one switch per field; no Effect, no closures per field. Malformed
 * input surfaces as a `DecodeFailure` thrown by `Reader`, caught by the caller.
 */
import { DecodeFailure, type Reader } from "./Reader.js"
import { defaultOf, type Field, type FieldType, T } from "./schema.js"
import type { Writer } from "./Writer.js"

const isNullable = (f: Field, version: number): boolean => version >= f.nullableMin && version <= f.nullableMax

const readPrimitive = (r: Reader, type: FieldType, nullable: boolean, flexible: boolean): unknown => {
  switch (type) {
    case T.Int8:
      return r.int8()
    case T.Int16:
      return r.int16()
    case T.Int32:
      return r.int32()
    case T.Int64:
      return r.int64()
    case T.UInt32:
      return r.uint32()
    case T.Bool:
      return r.bool()
    case T.String:
      if (flexible) return nullable ? r.compactNullableString() : r.compactString()
      return nullable ? r.nullableString() : r.string()
    case T.Bytes:
      if (flexible) return nullable ? r.compactNullableBytes() : r.compactBytes()
      return nullable ? r.nullableBytes() : r.bytes()
    case T.Records: {
      const records = r.recordsView(flexible)
      if (records === null && !nullable) throw new DecodeFailure("null in non-nullable records")
      return records
    }
    case T.Uuid:
      return r.uuid()
    default:
      throw new DecodeFailure(`no primitive reader for type ${type}`)
  }
}

export const readStruct = (
  r: Reader,
  fields: ReadonlyArray<Field>,
  version: number,
  flexible: boolean
): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    if (version < f.minVersion || version > f.maxVersion) {
      out[f.name] = defaultOf(f)
      continue
    }
    const nullable = isNullable(f, version)
    if (f.type !== T.Array) {
      out[f.name] = readPrimitive(r, f.type, nullable, flexible)
      continue
    }
    const n = flexible ? r.compactArrayLength(nullable) : r.arrayLength(nullable)
    if (n === -1) {
      out[f.name] = null
      continue
    }
    const items = new Array<unknown>(n)
    if (f.fields !== undefined) {
      for (let j = 0; j < n; j++) items[j] = readStruct(r, f.fields, version, flexible)
    } else {
      for (let j = 0; j < n; j++) items[j] = readPrimitive(r, f.element!, false, flexible)
    }
    out[f.name] = items
  }
  if (flexible) r.skipTaggedFields()
  return out
}

const nullInNonNullable = (f: Field, version: number): Error =>
  new Error(`Kafka encode: field ${f.name} is not nullable in version ${version}`)

const writePrimitive = (w: Writer, f: Field, type: FieldType, v: unknown, nullable: boolean, flexible: boolean, version: number): void => {
  switch (type) {
    case T.Int8:
      w.int8(v as number)
      return
    case T.Int16:
      w.int16(v as number)
      return
    case T.Int32:
      w.int32(v as number)
      return
    case T.Int64:
      w.int64(v as number)
      return
    case T.UInt32:
      w.uint32(v as number)
      return
    case T.Bool:
      w.bool(v as boolean)
      return
    case T.String:
      if (v === null && !nullable) throw nullInNonNullable(f, version)
      if (flexible) w.compactNullableString(v as string | null)
      else w.nullableString(v as string | null)
      return
    case T.Bytes:
      if (v === null && !nullable) throw nullInNonNullable(f, version)
      if (flexible) w.compactNullableBytes(v as Uint8Array | null)
      else w.nullableBytes(v as Uint8Array | null)
      return
    case T.Records:
      if (v === null && !nullable) throw nullInNonNullable(f, version)
      w.records(v as Uint8Array | ReadonlyArray<Uint8Array> | null, flexible)
      return
    case T.Uuid:
      w.uuid(v as Uint8Array)
      return
    default:
      throw new Error(`Kafka encode: no primitive writer for type ${type}`)
  }
}

export const writeStruct = (
  w: Writer,
  fields: ReadonlyArray<Field>,
  value: Readonly<Record<string, unknown>>,
  version: number,
  flexible: boolean
): void => {
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    if (version < f.minVersion || version > f.maxVersion) continue
    let v = value[f.name]
    if (v === undefined) v = defaultOf(f)
    const nullable = isNullable(f, version)
    if (f.type !== T.Array) {
      writePrimitive(w, f, f.type, v, nullable, flexible, version)
      continue
    }
    if (v === null) {
      if (!nullable) throw nullInNonNullable(f, version)
      if (flexible) w.compactArrayLength(-1)
      else w.arrayLength(-1)
      continue
    }
    const items = v as ReadonlyArray<unknown>
    if (flexible) w.compactArrayLength(items.length)
    else w.arrayLength(items.length)
    if (f.fields !== undefined) {
      for (let j = 0; j < items.length; j++) {
        writeStruct(w, f.fields, items[j] as Record<string, unknown>, version, flexible)
      }
    } else {
      for (let j = 0; j < items.length; j++) writePrimitive(w, f, f.element!, items[j], false, flexible, version)
    }
  }
  if (flexible) w.emptyTaggedFields()
}
