/**
 * Test bridge to kafkajs's own protocol code (node_modules/kafkajs/src/protocol, CommonJS): its
 * request encoders build the frames our decoder must read, and its response decoders read the
 * frames our encoder writes. kafkajs is the reference here, not our code.
 */
import { createRequire } from "node:module"
import { expect } from "vitest"

const require = createRequire(import.meta.url)

type KafkajsRequest = { apiKey: number; apiVersion: number; encode: () => Promise<{ buffer: Buffer }> }
const frameRequest = require("kafkajs/src/protocol/request.js") as (args: {
  correlationId: number
  clientId: string
  request: KafkajsRequest
}) => Promise<{ buffer: Buffer }>

/** Whether kafkajs ships an encoder/decoder for this API version. */
export const kafkajsHas = (api: string, version: number): boolean => {
  try {
    require.resolve(`kafkajs/src/protocol/requests/${api}/v${version}/request.js`)
    return true
  } catch {
    return false
  }
}

/** A request frame as kafkajs sends it, without the 4-byte size prefix. */
export const kafkajsRequestFrame = async (
  api: string,
  version: number,
  params: unknown,
  correlationId = 42,
  clientId = "kafkajs-test"
): Promise<Buffer> => {
  const build = require(`kafkajs/src/protocol/requests/${api}/v${version}/request.js`) as (p: unknown) => KafkajsRequest
  const request = build(params)
  expect(request.apiVersion).toBe(version)
  const encoded = await frameRequest({ correlationId, clientId, request })
  const buf = encoded.buffer
  expect(buf.readInt32BE(0)).toBe(buf.length - 4)
  return buf.subarray(4)
}

/**
 * Reads our response chunks (size prefix included) the way kafkajs's connection does: size,
 * correlation id (response header v0), then the version's `decode` on the rest.
 */
export const kafkajsDecodeResponse = async (
  api: string,
  version: number,
  chunks: ReadonlyArray<Buffer>
): Promise<{ correlationId: number; body: any }> => {
  const all = Buffer.concat(chunks)
  expect(all.readInt32BE(0)).toBe(all.length - 4)
  type Decoder = { decode: (payload: Buffer) => Promise<unknown> }
  // A few response modules (deleteRecords) are factories over the request's topics.
  const module = require(`kafkajs/src/protocol/requests/${api}/v${version}/response.js`) as Decoder | ((request: unknown) => Decoder)
  const { decode } = typeof module === "function" ? module({ topics: [] }) : module
  return { correlationId: all.readInt32BE(4), body: await decode(all.subarray(8)) }
}
