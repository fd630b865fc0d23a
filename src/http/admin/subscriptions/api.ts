/** GET /api/v1/subscriptions: every session's subscriptions, by client, filter or share group. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"

/** One subscription as its client asked for it. */
export class SubscriptionOptions extends Schema.Class<SubscriptionOptions>("SubscriptionOptions")({
  filter: Schema.String.annotations({ description: "as subscribed, $share/<group>/ included" }),
  qos: Schema.Literal(0, 1, 2),
  noLocal: Schema.Boolean,
  retainAsPublished: Schema.Boolean,
  retainHandling: Schema.Literal(0, 1, 2),
  subscriptionId: Schema.Number.annotations({ description: "0: none" }),
  shareGroup: Schema.NullOr(Schema.String)
}) {}

export class SubscriptionEntry extends Schema.Class<SubscriptionEntry>("SubscriptionEntry")({
  clientId: Schema.String,
  online: Schema.Boolean,
  ...SubscriptionOptions.fields
}) {}

export class SubscriptionsApi extends HttpApiGroup.make("subscriptions")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/subscriptions")
      .setUrlParams(Schema.Struct({
        ...PageParams,
        clientId: Schema.optional(Schema.String),
        filter: Schema.optional(Schema.String).annotations({ description: "the topic filter, exactly (without $share/<group>/)" }),
        shareGroup: Schema.optional(Schema.String)
      }))
      .addSuccess(Page(SubscriptionEntry))
  )
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
