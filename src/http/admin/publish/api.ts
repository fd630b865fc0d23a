/** POST /api/v1/publish: a message to an MQTT topic from the broker itself, as a client would send it. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { BadRequest, ServerError, Unavailable } from "../errors.js"

export const PayloadEncoding = Schema.Literal("plain", "base64")

export class PublishRequest extends Schema.Class<PublishRequest>("PublishRequest")({
  topic: Schema.String,
  payload: Schema.optionalWith(Schema.String, { default: () => "" }),
  encoding: Schema.optionalWith(PayloadEncoding, { default: () => "plain" as const }).annotations({ description: "how `payload` is written: UTF-8 text or base64 bytes" }),
  qos: Schema.optionalWith(Schema.Literal(0, 1, 2), { default: () => 0 as const }),
  retain: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  properties: Schema.optional(Schema.Struct({
    contentType: Schema.optional(Schema.String),
    responseTopic: Schema.optional(Schema.String),
    correlationData: Schema.optional(Schema.String).annotations({ description: "base64" }),
    messageExpiryInterval: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 4294967295))),
    payloadFormatIndicator: Schema.optional(Schema.Literal(0, 1)),
    userProperties: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
  }))
}) {}

export class Published extends Schema.Class<Published>("Published")({
  topic: Schema.String,
  subscribers: Schema.Number.annotations({ description: "sessions it was routed to" }),
  durable: Schema.Boolean.annotations({ description: "QoS 1/2 or retained: it was in the log before this answer" })
}) {}

export class PublishApi extends HttpApiGroup.make("publish")
  .add(HttpApiEndpoint.post("publish", "/api/v1/publish").setPayload(PublishRequest).addSuccess(Published).addError(BadRequest).addError(ServerError))
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
