/**
 * Kafka request bodies generated from the codec's own schema tables (src/kafka/protocol/apis),
 * for every API and version the broker speaks: the property tests round-trip them, the fuzzer
 * (test/fuzz) mutates them. Strings and byte fields come from arbitraries the caller may replace
 * (the fuzzer mixes in real topic names and record batches).
 */
import { FastCheck as fc } from "effect"
import { type ApiCodec, APIS } from "../../src/kafka/protocol/index.js"
import { type Field, T } from "../../src/kafka/protocol/schema.js"

type Arb = fc.Arbitrary<unknown>

export interface LeafArbitraries {
  readonly text: fc.Arbitrary<string>
  readonly bytes: fc.Arbitrary<Buffer>
  /** Record batch fields; `bytes` when absent. */
  readonly records?: fc.Arbitrary<Buffer>
}

export const defaultLeaves: LeafArbitraries = {
  text: fc.string({ unit: "binary", maxLength: 12 }),
  bytes: fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a))
}

const primitive = (type: number, leaves: LeafArbitraries): Arb => {
  switch (type) {
    case T.Int8:
      return fc.integer({ min: -128, max: 127 })
    case T.Int16:
      return fc.integer({ min: -32768, max: 32767 })
    case T.Int32:
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
    case T.Int64:
      return fc.maxSafeInteger()
    case T.UInt32:
      return fc.integer({ min: 0, max: 2 ** 32 - 1 })
    case T.Bool:
      return fc.boolean()
    case T.String:
      return leaves.text
    case T.Bytes:
      return leaves.bytes
    case T.Records:
      return leaves.records ?? leaves.bytes
    case T.Uuid:
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a))
    default:
      throw new Error(`no arbitrary for type ${type}`)
  }
}

export const present = (f: Field, version: number) => version >= f.minVersion && version <= f.maxVersion
const nullable = (f: Field, version: number) => version >= f.nullableMin && version <= f.nullableMax

/** A body with every field of `version` set (null sometimes, where the version allows it). */
export const bodyArb = (fields: ReadonlyArray<Field>, version: number, leaves: LeafArbitraries = defaultLeaves, depth = 0): fc.Arbitrary<Record<string, unknown>> => {
  const model: Record<string, Arb> = {}
  for (const f of fields) {
    if (!present(f, version)) continue
    let arb: Arb =
      f.type === T.Array
        ? fc.array(f.fields !== undefined ? bodyArb(f.fields, version, leaves, depth + 1) : primitive(f.element!, leaves), { maxLength: depth > 1 ? 2 : 3 })
        : primitive(f.type, leaves)
    if (nullable(f, version)) arb = fc.option(arb, { nil: null, freq: 5 })
    model[f.name] = arb
  }
  return fc.record(model)
}

/** Every (API, version) the codec decodes. */
export const requestTargets: ReadonlyArray<{ readonly api: ApiCodec<unknown, unknown>; readonly version: number }> = APIS.flatMap((api) =>
  Array.from({ length: api.maxVersion - api.minVersion + 1 }, (_, i) => ({ api, version: api.minVersion + i }))
)

/** Any advertised API and version with a body for it. */
export const requestArb = (leaves: LeafArbitraries = defaultLeaves) =>
  fc.constantFrom(...requestTargets).chain(({ api, version }) => bodyArb(api.request.fields, version, leaves).map((body) => ({ api, version, body })))
