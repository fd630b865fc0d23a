/** GET /api/v1/sessions (paged, filtered), GET /api/v1/sessions/{clientId}, DELETE (end it now). */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { NotFound, ServerError, Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"
import { SubscriptionOptions } from "../subscriptions/api.js"

export class SessionSummary extends Schema.Class<SessionSummary>("SessionSummary")({
  clientId: Schema.String,
  state: Schema.Literal("online", "offline"),
  persistent: Schema.Boolean.annotations({ description: "kept in storage (session expiry > 0)" }),
  expiryInterval: Schema.Number.annotations({ description: "seconds after the disconnect; 4294967295: never" }),
  disconnectedAt: Schema.NullOr(Schema.String).annotations({ description: "ISO 8601; null while online" }),
  expiresAt: Schema.NullOr(Schema.String).annotations({ description: "ISO 8601; null while online or never" }),
  subscriptions: Schema.Number,
  inflight: Schema.Number,
  queued: Schema.Number.annotations({ description: "messages held in memory for it; an offline session's backlog may also wait in the log" })
}) {}

export class SessionDetail extends Schema.Class<SessionDetail>("SessionDetail")({
  ...SessionSummary.fields,
  subscriptionList: Schema.Array(SubscriptionOptions),
  pendingWill: Schema.NullOr(Schema.Struct({ topic: Schema.String, due: Schema.String }))
}) {}

export class SessionDeleted extends Schema.Class<SessionDeleted>("SessionDeleted")({
  clientId: Schema.String,
  kicked: Schema.Boolean.annotations({ description: "its client was connected and got DISCONNECT 0x98" })
}) {}

const byClientId = Schema.Struct({ clientId: Schema.String })

export class SessionsApi extends HttpApiGroup.make("sessions")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/sessions")
      .setUrlParams(Schema.Struct({
        ...PageParams,
        prefix: Schema.optional(Schema.String).annotations({ description: "client id prefix" }),
        state: Schema.optional(Schema.Literal("online", "offline"))
      }))
      .addSuccess(Page(SessionSummary))
  )
  .add(HttpApiEndpoint.get("show", "/api/v1/sessions/:clientId").setPath(byClientId).addSuccess(SessionDetail).addError(NotFound))
  .add(HttpApiEndpoint.del("delete", "/api/v1/sessions/:clientId").setPath(byClientId).addSuccess(SessionDeleted).addError(NotFound).addError(ServerError))
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
