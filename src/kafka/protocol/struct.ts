/**
 * Turns the `schema.ts` tables into reader and writer functions, one pair per (message, version),
 * compiled once on first use. Compiling instead of interpreting matters on the hot path: an
 * interpreter reads `value[field.name]` with a different key at one site, a megamorphic access
 * that cost ~40% of a Fetch response's encode time; the compiled code accesses each field by a
 * constant name (a monomorphic load) and builds each decoded struct as one object literal with
 * every field, so all structs of a kind share one hidden class.
 *
 * The generated source only ever contains field names from our own tables (quoted with
 * JSON.stringify), literals and calls on the Reader/Writer; no input data. `readerSource` and
 * `writerSource` show it for debugging. A field the version does not carry is not read (its
 * default is filled in) and not written. Flexible versions (KIP-482) use compact strings, bytes,
 * records and arrays and end every struct with a tagged-field buffer.
 */
import { DecodeFailure, type Reader } from "./Reader.js"
import { type Field, type FieldType, type MessageSchema, T } from "./schema.js"
import type { Writer } from "./Writer.js"

export type StructReader = (r: Reader) => Record<string, unknown>
export type StructWriter = (w: Writer, value: Readonly<Record<string, unknown>>) => void

/** Types whose wire form has a null (length -1); only these need a null check when encoding. */
const NULLABLE_TYPES: ReadonlySet<FieldType> = new Set([T.String, T.Bytes, T.Records, T.Uuid, T.Array])

const inVersion = (f: Field, version: number): boolean => version >= f.minVersion && version <= f.maxVersion
const isNullable = (f: Field, version: number): boolean => version >= f.nullableMin && version <= f.nullableMax

/** Helpers the generated code calls; passed in, never global. */
const helpers = {
  EMPTY: Object.freeze([]) as ReadonlyArray<never>,
  nullRecords: (name: string): never => {
    throw new DecodeFailure(`null in non-nullable records ${name}`)
  },
  nullField: (name: string, version: number): never => {
    throw new Error(`Kafka encode: field ${name} is not nullable in version ${version}`)
  }
}

/** Source text of a default value; non-literal defaults (buffers) go through the constants table. */
const defaultSource = (f: Field, constants: Array<unknown>, shareArrays = false): string => {
  const d = f.defaultValue
  // Decoded structs get a fresh [] (handlers may keep it); writers only read, so share one.
  if (f.type === T.Array) return d === null ? "null" : shareArrays ? "H.EMPTY" : "[]"
  if (d === null) return "null"
  if (typeof d === "number" || typeof d === "boolean") return String(d)
  if (typeof d === "string") return JSON.stringify(d)
  constants.push(d)
  return `K[${constants.length - 1}]`
}

const readPrimitive = (type: FieldType, nullable: boolean, flexible: boolean, name: string): string => {
  switch (type) {
    case T.Int8:
      return "r.int8()"
    case T.Int16:
      return "r.int16()"
    case T.Int32:
      return "r.int32()"
    case T.Int64:
      return "r.int64()"
    case T.UInt32:
      return "r.uint32()"
    case T.Bool:
      return "r.bool()"
    case T.String:
      if (flexible) return nullable ? "r.compactNullableString()" : "r.compactString()"
      return nullable ? "r.nullableString()" : "r.string()"
    case T.Bytes:
      if (flexible) return nullable ? "r.compactNullableBytes()" : "r.compactBytes()"
      return nullable ? "r.nullableBytes()" : "r.bytes()"
    case T.Records:
      return nullable ? `r.recordsView(${flexible})` : `(r.recordsView(${flexible}) ?? H.nullRecords(${JSON.stringify(name)}))`
    case T.Uuid:
      return "r.uuid()"
    default:
      throw new Error(`no primitive reader for type ${type}`)
  }
}

const writePrimitive = (type: FieldType, x: string, nullable: boolean, flexible: boolean): string => {
  switch (type) {
    case T.Int8:
      return `w.int8(${x})`
    case T.Int16:
      return `w.int16(${x})`
    case T.Int32:
      return `w.int32(${x})`
    case T.Int64:
      return `w.int64(${x})`
    case T.UInt32:
      return `w.uint32(${x})`
    case T.Bool:
      return `w.bool(${x})`
    case T.String:
      if (flexible) return nullable ? `w.compactNullableString(${x})` : `w.compactString(${x})`
      return nullable ? `w.nullableString(${x})` : `w.string(${x})`
    case T.Bytes:
      if (flexible) return nullable ? `w.compactNullableBytes(${x})` : `w.compactBytes(${x})`
      return nullable ? `w.nullableBytes(${x})` : `w.bytes(${x})`
    case T.Records:
      return `w.records(${x}, ${flexible})`
    case T.Uuid:
      return `w.uuid(${x})`
    default:
      throw new Error(`no primitive writer for type ${type}`)
  }
}

interface Generated {
  readonly functions: Array<string>
  readonly constants: Array<unknown>
}

/** Appends the reader function of one struct to `g`; returns its name. */
const genReader = (fields: ReadonlyArray<Field>, version: number, flexible: boolean, g: Generated): string => {
  const name = `read${g.functions.length}`
  g.functions.push("")
  const slot = g.functions.length - 1
  const lines: Array<string> = []
  const props: Array<string> = []
  fields.forEach((f, i) => {
    const v = `f${i}`
    props.push(`${JSON.stringify(f.name)}: ${v}`)
    if (!inVersion(f, version)) {
      lines.push(`const ${v} = ${defaultSource(f, g.constants)};`)
      return
    }
    const nullable = isNullable(f, version)
    if (f.type !== T.Array) {
      lines.push(`const ${v} = ${readPrimitive(f.type, nullable, flexible, f.name)};`)
      return
    }
    const length = flexible ? `r.compactArrayLength(${nullable})` : `r.arrayLength(${nullable})`
    const element =
      f.fields !== undefined ? `${genReader(f.fields, version, flexible, g)}(r)` : readPrimitive(f.element!, false, flexible, f.name)
    lines.push(
      `let ${v} = null;`,
      `{ const n = ${length}; if (n !== -1) { ${v} = new Array(n); for (let i = 0; i < n; i++) ${v}[i] = ${element}; } }`
    )
  })
  if (flexible) lines.push("r.skipTaggedFields();")
  lines.push(`return { ${props.join(", ")} };`)
  g.functions[slot] = `function ${name}(r) {\n  ${lines.join("\n  ")}\n}`
  return name
}

/** Appends the writer function of one struct to `g`; returns its name. */
const genWriter = (fields: ReadonlyArray<Field>, version: number, flexible: boolean, g: Generated): string => {
  const name = `write${g.functions.length}`
  g.functions.push("")
  const slot = g.functions.length - 1
  const lines: Array<string> = ["let x;"]
  for (const f of fields) {
    if (!inVersion(f, version)) continue
    const key = JSON.stringify(f.name)
    const nullable = isNullable(f, version)
    lines.push(`x = v[${key}]; if (x === undefined) x = ${defaultSource(f, g.constants, true)};`)
    // Numbers and booleans have no null on the wire (the types rule it out); the rest must be
    // checked, since a null in a non-nullable field would otherwise go out as a valid-looking -1.
    const nullCheck = nullable || !NULLABLE_TYPES.has(f.type) ? "" : `if (x === null) H.nullField(${key}, ${version}); `
    if (f.type !== T.Array) {
      lines.push(`${nullCheck}${writePrimitive(f.type, "x", nullable, flexible)};`)
      continue
    }
    const element =
      f.fields !== undefined
        ? `${genWriter(f.fields, version, flexible, g)}(w, x[i])`
        : writePrimitive(f.element!, "x[i]", false, flexible)
    const length = flexible ? "w.compactArrayLength" : "w.arrayLength"
    const items = `${length}(x.length); for (let i = 0; i < x.length; i++) ${element};`
    lines.push(nullable ? `if (x === null) ${length}(-1); else { ${items} }` : `${nullCheck}${items}`)
  }
  if (flexible) lines.push("w.emptyTaggedFields();")
  g.functions[slot] = `function ${name}(w, v) {\n  ${lines.join("\n  ")}\n}`
  return name
}

const link = <F>(g: Generated, entry: string): F =>
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- see the module comment
  new Function("H", "K", `"use strict";\n${g.functions.join("\n")}\nreturn ${entry};`)(helpers, g.constants) as F

export const readerSource = (fields: ReadonlyArray<Field>, version: number, flexible: boolean): string => {
  const g: Generated = { functions: [], constants: [] }
  genReader(fields, version, flexible, g)
  return g.functions.join("\n")
}

export const writerSource = (fields: ReadonlyArray<Field>, version: number, flexible: boolean): string => {
  const g: Generated = { functions: [], constants: [] }
  genWriter(fields, version, flexible, g)
  return g.functions.join("\n")
}

export const compileReader = (fields: ReadonlyArray<Field>, version: number, flexible: boolean): StructReader => {
  const g: Generated = { functions: [], constants: [] }
  return link<StructReader>(g, genReader(fields, version, flexible, g))
}

export const compileWriter = (fields: ReadonlyArray<Field>, version: number, flexible: boolean): StructWriter => {
  const g: Generated = { functions: [], constants: [] }
  return link<StructWriter>(g, genWriter(fields, version, flexible, g))
}

const readers = new WeakMap<MessageSchema, Array<StructReader>>()
const writers = new WeakMap<MessageSchema, Array<StructWriter>>()

/** The reader of a message body at `version`, compiled on first use. */
export const bodyReader = (schema: MessageSchema, version: number): StructReader => {
  let byVersion = readers.get(schema)
  if (byVersion === undefined) readers.set(schema, (byVersion = []))
  return (byVersion[version] ??= compileReader(schema.fields, version, version >= schema.flexibleFrom))
}

/** The writer of a message body at `version`, compiled on first use. */
export const bodyWriter = (schema: MessageSchema, version: number): StructWriter => {
  let byVersion = writers.get(schema)
  if (byVersion === undefined) writers.set(schema, (byVersion = []))
  return (byVersion[version] ??= compileWriter(schema.fields, version, version >= schema.flexibleFrom))
}
