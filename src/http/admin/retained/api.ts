/** Retained messages: list by filter, show one (with its payload), delete one. Topics go in `?topic=`: they contain slashes. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { BadRequest, NotFound, ServerError, Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"
import { PayloadEncoding } from "../publish/api.js"

export class RetainedSummary extends Schema.Class<RetainedSummary>("RetainedSummary")({
  topic: Schema.String,
  qos: Schema.Literal(0, 1, 2),
  bytes: Schema.Number,
  publishedAt: Schema.String.annotations({ description: "ISO 8601" }),
  expiresAt: Schema.NullOr(Schema.String)
}) {}

export class RetainedMessage extends Schema.Class<RetainedMessage>("RetainedMessage")({
  ...RetainedSummary.fields,
  payload: Schema.String,
  encoding: PayloadEncoding.annotations({ description: "plain when the payload is UTF-8, else base64" }),
  contentType: Schema.NullOr(Schema.String),
  userProperties: Schema.Array(Schema.Tuple(Schema.String, Schema.String)).annotations({ description: "[name, value] pairs, in order" })
}) {}

const byTopic = Schema.Struct({ topic: Schema.String })

export class RetainedApi extends HttpApiGroup.make("retained")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/retained")
      .setUrlParams(Schema.Struct({ ...PageParams, filter: Schema.optional(Schema.String).annotations({ description: "a topic filter (+ and # allowed)" }) }))
      .addSuccess(Page(RetainedSummary))
      .addError(BadRequest)
  )
  .add(HttpApiEndpoint.get("show", "/api/v1/retained/message").setUrlParams(byTopic).addSuccess(RetainedMessage).addError(NotFound))
  .add(HttpApiEndpoint.del("delete", "/api/v1/retained/message").setUrlParams(byTopic).addSuccess(Schema.Struct({ topic: Schema.String })).addError(NotFound).addError(ServerError))
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
