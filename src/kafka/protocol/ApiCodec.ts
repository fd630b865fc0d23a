/**
 * One API's codec description: its key, the versions this broker speaks, and the request and
 * response schemas. The type parameters tie the schemas to the hand-written body types of each
 * API module (`apis/*.ts`); `struct.ts` does the reading and writing.
 */
import type { MessageSchema } from "./schema.js"

export interface ApiCodec<Req, Res> {
  readonly apiKey: number
  /** Kafka's name for the API (as in ApiKeys.java), for logs. */
  readonly name: string
  readonly minVersion: number
  readonly maxVersion: number
  /** First flexible version (request header v2, compact encodings), Infinity when none. */
  readonly flexibleFrom: number
  readonly request: MessageSchema
  readonly response: MessageSchema
  /** Type-level only: never set. */
  readonly _types?: readonly [Req, Res]
}

export const defineApi = <Req, Res>(def: {
  readonly apiKey: number
  readonly name: string
  readonly minVersion: number
  readonly maxVersion: number
  readonly request: MessageSchema
  readonly response: MessageSchema
}): ApiCodec<Req, Res> => {
  if (def.request.flexibleFrom !== def.response.flexibleFrom) {
    throw new Error(`${def.name}: request and response disagree on the first flexible version`)
  }
  return { ...def, flexibleFrom: def.request.flexibleFrom }
}
