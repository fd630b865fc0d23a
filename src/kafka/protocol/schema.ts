/**
 * The declarative form of a Kafka message, mirroring Apache Kafka's message JSON specs
 * (clients/src/main/resources/common/message/*.json): each field has a name (lowerCamelCase of
 * the spec's), a type, the versions it exists in and the versions it may be null in, written
 * with the spec's own range syntax ("0+", "3+", "2-4", "0"). One generic interpreter
 * (`struct.ts`) reads and writes every message from these tables, so an API is a short table
 * that can be checked line by line against the spec.
 *
 * Declares no tagged fields: flexible versions skip unknown tags on read and write none.
 */

/** Field types. Numeric so the interpreter's switch stays monomorphic. */
export const T = {
  Int8: 0,
  Int16: 1,
  Int32: 2,
  Int64: 3,
  UInt32: 4,
  Bool: 5,
  String: 6,
  Bytes: 7,
  /** Record batches: nullable bytes on the wire, a zero-copy view when read. */
  Records: 8,
  Uuid: 9,
  /** An array; its element is a primitive type (`element`) or a struct (`fields`). */
  Array: 10
} as const
export type FieldType = (typeof T)[keyof typeof T]
export type PrimitiveType = Exclude<FieldType, typeof T.Array>

export interface Field {
  readonly name: string
  readonly type: FieldType
  /** Versions the field is on the wire in, inclusive. */
  readonly minVersion: number
  readonly maxVersion: number
  /** Versions in which null is allowed (min > max when never). */
  readonly nullableMin: number
  readonly nullableMax: number
  /** The value a reader fills in when the field is absent in its version; arrays get a fresh []. */
  readonly defaultValue: unknown
  /** Arrays of primitives: the element type. */
  readonly element: PrimitiveType | undefined
  /** Arrays of structs: the struct's fields. */
  readonly fields: ReadonlyArray<Field> | undefined
}

export interface MessageSchema {
  readonly name: string
  readonly fields: ReadonlyArray<Field>
  /** First flexible version (KIP-482), or Infinity when none is in scope. */
  readonly flexibleFrom: number
}

/** Parses the spec's version syntax: "3+", "2-4", "0", "none". */
export const parseVersions = (spec: string): readonly [number, number] => {
  if (spec === "none") return [1, 0]
  if (spec.endsWith("+")) return [Number(spec.slice(0, -1)), Number.POSITIVE_INFINITY]
  const dash = spec.indexOf("-")
  if (dash > 0) return [Number(spec.slice(0, dash)), Number(spec.slice(dash + 1))]
  const v = Number(spec)
  return [v, v]
}

export interface FieldOptions {
  /** Versions in which the field may be null, as in the spec's `nullableVersions`. */
  readonly nullable?: string
  /** The spec's `default`, used when the field is absent in a version (or undefined on encode). */
  readonly default?: unknown
}

const zeroOf = (type: FieldType, nullable: boolean): unknown => {
  switch (type) {
    case T.Int8:
    case T.Int16:
    case T.Int32:
    case T.Int64:
    case T.UInt32:
      return 0
    case T.Bool:
      return false
    case T.String:
      return ""
    case T.Bytes:
      return nullable ? null : Buffer.alloc(0)
    case T.Records:
      return null
    case T.Uuid:
      return Buffer.alloc(16)
    case T.Array:
      return undefined // a fresh [] per read, see `defaultOf`
  }
}

const build = (
  name: string,
  type: FieldType,
  versions: string,
  options: FieldOptions | undefined,
  element: PrimitiveType | undefined,
  fields: ReadonlyArray<Field> | undefined
): Field => {
  const [minVersion, maxVersion] = parseVersions(versions)
  const [nullableMin, nullableMax] = parseVersions(options?.nullable ?? "none")
  const nullable = nullableMin <= nullableMax
  const defaultValue = options && "default" in options ? options.default : zeroOf(type, nullable)
  return { name, type, minVersion, maxVersion, nullableMin, nullableMax, defaultValue, element, fields }
}

/** A primitive field. */
export const field = (name: string, type: PrimitiveType, versions: string, options?: FieldOptions): Field =>
  build(name, type, versions, options, undefined, undefined)

/** An array of primitives (`[]int32`, `[]string`). */
export const list = (name: string, element: PrimitiveType, versions: string, options?: FieldOptions): Field =>
  build(name, T.Array, versions, options, element, undefined)

/** An array of structs. */
export const structs = (name: string, versions: string, fields: ReadonlyArray<Field>, options?: FieldOptions): Field =>
  build(name, T.Array, versions, options, undefined, fields)

export const message = (name: string, fields: ReadonlyArray<Field>, flexibleVersions = "none"): MessageSchema => ({
  name,
  fields,
  flexibleFrom: flexibleVersions === "none" ? Number.POSITIVE_INFINITY : parseVersions(flexibleVersions)[0]
})

/** The value a reader fills in for a field its version does not carry. */
export const defaultOf = (f: Field): unknown =>
  f.type === T.Array ? (f.defaultValue === null ? null : []) : f.defaultValue
