/** GET /api/v1/topics: MQTT topics in use (subscribed filters and retained topic names) with their counts. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"

export class MqttTopic extends Schema.Class<MqttTopic>("MqttTopic")({
  topic: Schema.String.annotations({ description: "a subscribed filter (without $share/<group>/) or a retained topic name" }),
  subscribers: Schema.Number.annotations({ description: "subscriptions to exactly this filter" }),
  retained: Schema.Boolean.annotations({ description: "a retained message is set on exactly this name" })
}) {}

export class TopicsApi extends HttpApiGroup.make("topics")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/topics")
      .setUrlParams(Schema.Struct({ ...PageParams, prefix: Schema.optional(Schema.String) }))
      .addSuccess(Page(MqttTopic))
  )
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
