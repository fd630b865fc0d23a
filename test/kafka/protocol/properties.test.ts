/**
 * Property tests for the Kafka request codec over every API and version we advertise, with
 * bodies generated from the same schema tables the codec is compiled from (apis/*.ts): any body
 * encodes and decodes back to itself; arbitrary bytes after a valid header, and valid requests
 * with bytes overwritten, truncated or spliced, come back as a Request or a MalformedRequest whose
 * reason is one of the codec's own DecodeFailures, never a JavaScript error escaping the reader.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { ApiKey, APIS, decodeRequest, encodeRequest } from "../../../src/kafka/protocol/index.js"
import { type Field, type MessageSchema, T } from "../../../src/kafka/protocol/schema.js"
import { defaultLeaves, present, requestArb, requestTargets } from "../../support/kafkaRequests.js"

const text = defaultLeaves.text

/** The fields `version` carries, bytes as hex: what must survive a round trip. */
const project = (fields: ReadonlyArray<Field>, version: number, value: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const f of fields) {
    if (!present(f, version)) continue
    const v = value[f.name]
    if (v === null || v === undefined) out[f.name] = null
    else if (f.type === T.Array) {
      out[f.name] = (v as Array<unknown>).map((e) =>
        f.fields !== undefined ? project(f.fields, version, e as Record<string, unknown>) : e instanceof Uint8Array ? Buffer.from(e).toString("hex") : e
      )
    } else out[f.name] = v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v
  }
  return out
}

const targets = requestTargets

const encode = (apiKey: number, version: number, body: unknown, clientId: string | null = "p"): Buffer =>
  Buffer.concat(encodeRequest({ apiKey: apiKey as ApiKey, apiVersion: version, correlationId: 77, clientId }, body as never)).subarray(4)

/** A failure the codec itself reported, not a JavaScript error caught on the way out. */
const isOwnFailure = (reason: string) => !/^(Type|Range|Reference|Syntax)?Error\b/.test(reason)

const anyRequest = requestArb()

describe("Kafka request codec, every advertised API and version", () => {
  it("covers every API in the registry", () => {
    expect(new Set(targets.map((t) => t.api.apiKey)).size).toBe(APIS.length)
    expect(targets.length).toBeGreaterThan(100)
  })

  it.prop("any body encodes and decodes back to itself", [anyRequest, fc.option(text, { nil: null })], ([{ api, version, body }, clientId]) => {
    const decoded = decodeRequest(encode(api.apiKey, version, body, clientId))
    if (decoded._tag !== "Request") throw new Error(`${api.name} v${version}: ${JSON.stringify(decoded)}`)
    expect(decoded.header).toEqual({ apiKey: api.apiKey, apiVersion: version, correlationId: 77, clientId })
    const schema: MessageSchema = api.request
    expect(project(schema.fields, version, decoded.body as Record<string, unknown>)).toEqual(project(schema.fields, version, body))
  }, { fastCheck: { numRuns: 1000 } })

  it.prop(
    "arbitrary bytes after a valid header: a Request or the codec's own MalformedRequest",
    [fc.constantFrom(...targets), fc.uint8Array({ maxLength: 200 })],
    ([{ api, version }, garbage]) => {
      const header = encode(ApiKey.ApiVersions, 0, { clientSoftwareName: "", clientSoftwareVersion: "" }).subarray(0, 11)
      header.writeInt16BE(api.apiKey, 0)
      header.writeInt16BE(version, 2)
      const flexibleHeader = version >= api.flexibleFrom ? Buffer.from([0]) : Buffer.alloc(0)
      const result = decodeRequest(Buffer.concat([header, flexibleHeader, garbage]))
      expect(result).toMatchObject({ apiKey: api.apiKey, apiVersion: version })
      if (result._tag === "MalformedRequest") expect(result.reason, result.reason).toSatisfy(isOwnFailure)
      else expect(result._tag).toBe("Request")
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.prop(
    "valid requests overwritten, truncated or spliced: never an escaping error",
    [anyRequest, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.boolean(), fc.uint8Array({ maxLength: 16 })],
    ([{ api, version, body }, edits, cut, truncate, splice]) => {
      let frame = encode(api.apiKey, version, body)
      for (const [at, byte] of edits) {
        const i = at % frame.length
        if (i >= 4) frame[i] = byte // keep the API key and version, vary everything after
      }
      if (truncate) frame = frame.subarray(0, Math.max(8, cut % (frame.length + 1)))
      else {
        const i = 8 + (cut % Math.max(1, frame.length - 7))
        frame = Buffer.concat([frame.subarray(0, i), splice, frame.subarray(i)])
      }
      const result = decodeRequest(frame)
      expect(["Request", "MalformedRequest"]).toContain(result._tag)
      if (result._tag === "MalformedRequest") expect(result.reason, result.reason).toSatisfy(isOwnFailure)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})
