/** GET /api/v1/overview (version, uptime, listeners, counts, current rates) and GET /api/v1/config (secrets redacted). */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { Unavailable } from "../errors.js"

export class ListenerInfo extends Schema.Class<ListenerInfo>("ListenerInfo")({
  name: Schema.String.annotations({ description: "mqtt, mqtt-tls, mqtt-ws, mqtt-wss, kafka, kafka-tls, http" }),
  host: Schema.String,
  port: Schema.Number
}) {}

export class Overview extends Schema.Class<Overview>("Overview")({
  version: Schema.String,
  startedAt: Schema.String,
  uptimeSeconds: Schema.Number,
  storage: Schema.String,
  listeners: Schema.Array(ListenerInfo),
  counts: Schema.Struct({
    connections: Schema.Number,
    sessions: Schema.Number,
    offlineSessions: Schema.Number,
    subscriptions: Schema.Number,
    retained: Schema.Number,
    kafkaTopics: Schema.Number,
    kafkaGroups: Schema.Number,
    kafkaConnections: Schema.Number
  }),
  totals: Schema.Struct({ messagesIn: Schema.Number, messagesOut: Schema.Number, kafkaProduceRequests: Schema.Number, kafkaFetchRequests: Schema.Number }),
  rates: Schema.Struct({
    messagesIn: Schema.Number,
    messagesOut: Schema.Number,
    kafkaProduceRequests: Schema.Number,
    kafkaFetchRequests: Schema.Number,
    windowSeconds: Schema.Number.annotations({ description: "per second over this window, up to the last 10 s between requests (0: first request)" })
  })
}) {}

export class OverviewApi extends HttpApiGroup.make("overview")
  .add(HttpApiEndpoint.get("overview", "/api/v1/overview").addSuccess(Overview))
  .add(HttpApiEndpoint.get("config", "/api/v1/config").addSuccess(Schema.Unknown))
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
