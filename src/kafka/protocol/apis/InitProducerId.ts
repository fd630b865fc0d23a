/** InitProducerId (API key 22), versions 0-1 (InitProducerIdRequest.json / ...Response.json). */
import { defineApi } from "../ApiCodec.js"
import { field, message, T } from "../schema.js"

export interface InitProducerIdRequest {
  /** null for an idempotent (non-transactional) producer. */
  readonly transactionalId: string | null
  readonly transactionTimeoutMs: number
}

export interface InitProducerIdResponse {
  readonly throttleTimeMs: number
  readonly errorCode: number
  readonly producerId: number
  readonly producerEpoch: number
}

export const InitProducerId = defineApi<InitProducerIdRequest, InitProducerIdResponse>({
  apiKey: 22,
  name: "InitProducerId",
  minVersion: 0,
  maxVersion: 1,
  request: message("InitProducerIdRequest", [
    field("transactionalId", T.String, "0+", { nullable: "0+" }),
    field("transactionTimeoutMs", T.Int32, "0+")
  ]),
  response: message("InitProducerIdResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    field("errorCode", T.Int16, "0+"),
    field("producerId", T.Int64, "0+", { default: -1 }),
    field("producerEpoch", T.Int16, "0+")
  ])
})
