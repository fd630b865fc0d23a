/**
 * GET /api/v1/bans (paged, by kind), POST /api/v1/bans (add or replace), DELETE
 * /api/v1/bans/{kind}/{value} (a CIDR's "/" sent as %2F). Bans of client ids, user names and
 * IP addresses or CIDR ranges; see src/bans.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { BanKind } from "../../../../domain/ban/events.js"
import { AdminAuth } from "../AdminAuth.js"
import { BadRequest, NotFound, ServerError, Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"

export class BanView extends Schema.Class<BanView>("Ban")({
  kind: BanKind,
  value: Schema.String.annotations({ description: "client id or user name exactly; an IP address or CIDR range in normal form" }),
  addedAt: Schema.String.annotations({ description: "ISO 8601" }),
  until: Schema.NullOr(Schema.String).annotations({ description: "ISO 8601; null: for ever" }),
  reason: Schema.String,
  by: Schema.String
}) {}

export const BanPage = Page(BanView)

export class NewBan extends Schema.Class<NewBan>("NewBan")({
  kind: BanKind,
  value: Schema.String,
  durationSeconds: Schema.optional(Schema.Number).annotations({ description: "whole seconds above 0; leave out for a ban without end" }),
  reason: Schema.optional(Schema.String),
  by: Schema.optional(Schema.String).annotations({ description: "who asked for it, for the record" })
}) {}

export class BanAddedView extends Schema.Class<BanAddedView>("BanAdded")({
  ban: BanView,
  disconnected: Schema.Number.annotations({ description: "connections the ban closed (MQTT and Kafka)" })
}) {}

export class BansApi extends HttpApiGroup.make("bans")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/bans")
      .setUrlParams(Schema.Struct({ ...PageParams, kind: Schema.optional(BanKind) }))
      .addSuccess(BanPage)
  )
  .add(
    HttpApiEndpoint.post("add", "/api/v1/bans")
      .setPayload(NewBan)
      .addSuccess(BanAddedView, { status: 201 })
      .addError(BadRequest)
      .addError(ServerError)
  )
  .add(
    HttpApiEndpoint.del("remove", "/api/v1/bans/:kind/:value")
      .setPath(Schema.Struct({ kind: BanKind, value: Schema.String }))
      .addSuccess(BanView)
      .addError(BadRequest)
      .addError(NotFound)
      .addError(ServerError)
  )
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
