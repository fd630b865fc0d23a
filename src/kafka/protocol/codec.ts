/**
 * The server side of the Kafka wire protocol: one request frame in, a typed request out; a typed
 * response in, Buffer chunks (size prefix included) out. Owns the request and response headers
 * (https://kafka.apache.org/protocol#protocol_messages) and the version checks; the bodies are
 * read and written by functions `struct.ts` compiles from the tables in `apis/`.
 *
 * Headers: request header v1 (apiKey, apiVersion, correlationId, clientId) for non-flexible
 * versions, v2 (v1 + tagged fields) for flexible ones; response header v0 (correlationId) or v1
 * (+ tagged fields) likewise, except ApiVersions, whose response header is always v0 (KIP-511).
 *
 * Never throws on input from the network: a bad frame comes back as a `RequestDecodeError` value.
 * Synchronous, one call per request, no Effect. Also offers the client direction
 * (`encodeRequest`, `decodeResponse`) for tests and tools.
 */
import type { ApiCodec } from "./ApiCodec.js"
import { DecodeFailure, Reader } from "./Reader.js"
import { ApiKey, apiCodec, type RequestBodies, type ResponseBodies, supportedApiKeys } from "./registry.js"
import { bodyReader, bodyWriter } from "./struct.js"
import { Writer } from "./Writer.js"

/** Kafka's UNSUPPORTED_VERSION error code (Errors.java). */
const UNSUPPORTED_VERSION = 35

export interface RequestHeader {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

/** A decoded request, narrowed by `apiKey` (`switch (req.apiKey)` types `req.body`). */
export type DecodedRequest = {
  [K in ApiKey]: {
    readonly _tag: "Request"
    readonly apiKey: K
    readonly apiVersion: number
    readonly header: RequestHeader
    readonly body: RequestBodies[K]
  }
}[ApiKey]

/** The API key is not one this broker knows: Kafka closes the connection. */
export interface UnknownApiKey {
  readonly _tag: "UnknownApiKey"
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
}

/**
 * A known API at a version outside its range. For ApiVersions the server must still answer
 * (`encodeApiVersionsUnsupported`, KIP-511: clients retry with a version from the list); for the
 * others Kafka closes the connection.
 */
export interface UnsupportedVersion {
  readonly _tag: "UnsupportedVersion"
  readonly apiKey: ApiKey
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

/** The header or body does not parse. `apiKey`/`apiVersion`/`correlationId` are -1 when unread. */
export interface MalformedRequest {
  readonly _tag: "MalformedRequest"
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly reason: string
}

export type RequestDecodeError = UnknownApiKey | UnsupportedVersion | MalformedRequest

const reasonOf = (e: unknown): string => (e instanceof DecodeFailure ? e.reason : String(e))

const isFlexible = (api: ApiCodec<unknown, unknown>, version: number): boolean => version >= api.flexibleFrom

/**
 * Decodes one request frame (the bytes after the 4-byte size prefix). Hot path: plain code, one
 * object per struct, `records` left as views into `frame`.
 */
export const decodeRequest = (frame: Buffer): DecodedRequest | RequestDecodeError => {
  if (frame.length < 8) {
    return {
      _tag: "MalformedRequest",
      apiKey: frame.length >= 2 ? frame.readInt16BE(0) : -1,
      apiVersion: frame.length >= 4 ? frame.readInt16BE(2) : -1,
      correlationId: -1,
      reason: `request header needs 8 bytes, got ${frame.length}`
    }
  }
  const apiKey = frame.readInt16BE(0)
  const apiVersion = frame.readInt16BE(2)
  const correlationId = frame.readInt32BE(4)
  const api = apiCodec(apiKey)
  if (api === undefined) return { _tag: "UnknownApiKey", apiKey, apiVersion, correlationId }
  const r = new Reader(frame, 8)
  if (apiVersion < api.minVersion || apiVersion > api.maxVersion) {
    let clientId: string | null = null
    try {
      clientId = r.nullableString() // same place in header v1 and v2
    } catch {
      // the client id is only informative here
    }
    return { _tag: "UnsupportedVersion", apiKey: apiKey as ApiKey, apiVersion, correlationId, clientId }
  }
  try {
    const flexible = isFlexible(api, apiVersion)
    const clientId = r.nullableString()
    if (flexible) r.skipTaggedFields()
    const body = bodyReader(api.request, apiVersion)(r)
    // Trailing bytes after the body are ignored (lenient toward clients that send extra).
    return {
      _tag: "Request",
      apiKey: apiKey as ApiKey,
      apiVersion,
      header: { apiKey, apiVersion, correlationId, clientId },
      body
    } as DecodedRequest
  } catch (e) {
    return { _tag: "MalformedRequest", apiKey, apiVersion, correlationId, reason: reasonOf(e) }
  }
}

const codecFor = (apiKey: number, apiVersion: number): ApiCodec<unknown, unknown> => {
  const api = apiCodec(apiKey)
  if (api === undefined) throw new Error(`Kafka codec: unknown API key ${apiKey}`)
  if (apiVersion < api.minVersion || apiVersion > api.maxVersion) {
    throw new Error(`Kafka codec: ${api.name} v${apiVersion} is outside ${api.minVersion}-${api.maxVersion}`)
  }
  return api
}

/**
 * Encodes a response: the chunks, in order, ready for `socket.writev`/`cork` or one
 * `Buffer.concat`. The first chunk starts with the int32 size prefix; large record batches are
 * chunks of their own, uncopied (do not mutate them until written). `header` is the request's
 * header (only `correlationId` is used). Throws only on a caller bug (an API or version this
 * codec does not speak, or null in a non-nullable field).
 */
export const encodeResponse = <K extends ApiKey>(
  header: { readonly correlationId: number },
  apiKey: K,
  apiVersion: number,
  body: ResponseBodies[K]
): Array<Buffer> => {
  const api = codecFor(apiKey, apiVersion)
  const flexible = isFlexible(api, apiVersion)
  const w = new Writer(256, true)
  w.int32(header.correlationId)
  if (flexible && apiKey !== ApiKey.ApiVersions) w.emptyTaggedFields()
  bodyWriter(api.response, apiVersion)(w, body as unknown as Record<string, unknown>)
  return w.finish()
}

/**
 * The answer to an ApiVersions request at a version this broker does not speak: error
 * UNSUPPORTED_VERSION with the supported ranges, as a v0 body under response header v0, which
 * every client can read (KIP-511; librdkafka then retries with a version from the list).
 */
export const encodeApiVersionsUnsupported = (correlationId: number): Array<Buffer> =>
  encodeResponse({ correlationId }, ApiKey.ApiVersions, 0, {
    errorCode: UNSUPPORTED_VERSION,
    apiKeys: supportedApiKeys()
  })

/** Client direction (tests, tools): a request frame with its size prefix, as chunks. */
export const encodeRequest = <K extends ApiKey>(
  header: RequestHeader & { readonly apiKey: K },
  body: RequestBodies[K]
): Array<Buffer> => {
  const api = codecFor(header.apiKey, header.apiVersion)
  const flexible = isFlexible(api, header.apiVersion)
  const w = new Writer(256, true)
  w.int16(header.apiKey).int16(header.apiVersion).int32(header.correlationId).nullableString(header.clientId)
  if (flexible) w.emptyTaggedFields()
  bodyWriter(api.request, header.apiVersion)(w, body as unknown as Record<string, unknown>)
  return w.finish()
}

export type DecodedResponse<K extends ApiKey> =
  | { readonly _tag: "Response"; readonly correlationId: number; readonly body: Required<ResponseBodies[K]> }
  | { readonly _tag: "MalformedResponse"; readonly reason: string }

/** Client direction (tests, tools): decodes a response frame (after the size prefix). */
export const decodeResponse = <K extends ApiKey>(apiKey: K, apiVersion: number, frame: Buffer): DecodedResponse<K> => {
  const api = codecFor(apiKey, apiVersion)
  const flexible = isFlexible(api, apiVersion)
  const r = new Reader(frame)
  try {
    const correlationId = r.int32()
    if (flexible && apiKey !== ApiKey.ApiVersions) r.skipTaggedFields()
    const body = bodyReader(api.response, apiVersion)(r) as Required<ResponseBodies[K]>
    return { _tag: "Response", correlationId, body }
  } catch (e) {
    return { _tag: "MalformedResponse", reason: reasonOf(e) }
  }
}
