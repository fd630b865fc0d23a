/**
 * The HTTP API as one definition (routes, response schemas, errors): the server is derived from
 * it (HttpServer.ts), and so are the OpenAPI document at /api/v1/openapi.json and the admin
 * CLI's client. Each admin group lives in src/http/admin/<group>/ (api.ts, handlers.ts).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { VERSION } from "../version.js"
import { AccessApi } from "./admin/access/api.js"
import { BansApi } from "./admin/bans/api.js"
import { ClientsApi } from "./admin/clients/api.js"
import { Unauthorized } from "./admin/errors.js"
import { EventsApi } from "./admin/events/api.js"
import { KafkaApi } from "./admin/kafka/api.js"
import { LoginApi, LogoutApi } from "./admin/login/api.js"
import { OverviewApi } from "./admin/overview/api.js"
import { ClusterApi } from "./admin/cluster/api.js"
import { PublishApi } from "./admin/publish/api.js"
import { RetainedApi } from "./admin/retained/api.js"
import { SessionsApi } from "./admin/sessions/api.js"
import { TopicsApi } from "./admin/topics/api.js"
import { SubscriptionsApi } from "./admin/subscriptions/api.js"

export const Phase = Schema.Literal("starting", "ready", "stopping")

export class Health extends Schema.Class<Health>("Health")({
  status: Schema.Literal("ok"),
  phase: Phase
}) {}

export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  phase: Phase,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 503 })) {}

export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("live", "/health/live").addSuccess(Health))
  .add(HttpApiEndpoint.get("ready", "/health/ready").addSuccess(Health).addError(NotReady))
  .addError(Unauthorized) // only with http.metrics_auth
{}

export class MetricsApi extends HttpApiGroup.make("metrics")
  .add(HttpApiEndpoint.get("scrape", "/metrics").addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" })))
{}

export class BrokerApi extends HttpApi.make("robustmq")
  .add(HealthApi)
  .add(MetricsApi)
  .add(LoginApi)
  .add(LogoutApi)
  .add(OverviewApi)
  .add(ClusterApi)
  .add(ClientsApi)
  .add(SessionsApi)
  .add(SubscriptionsApi)
  .add(TopicsApi)
  .add(RetainedApi)
  .add(PublishApi)
  .add(AccessApi)
  .add(EventsApi)
  .add(KafkaApi)
  .add(BansApi)
  .annotate(OpenApi.Title, "RobustMQ-TS")
  .annotate(OpenApi.Version, VERSION)
{}
