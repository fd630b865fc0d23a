/**
 * The control-event log, the event-sourced core made visible: GET /api/v1/events pages it by
 * global position (filtered by stream or stream prefix), GET /api/v1/events/stream tails it live
 * as Server-Sent Events (resuming from Last-Event-ID).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { ServerError, Unavailable } from "../errors.js"
import { MAX_LIMIT } from "../paging.js"

export class ControlEvent extends Schema.Class<ControlEvent>("ControlEvent")({
  position: Schema.Number,
  stream: Schema.String,
  version: Schema.Number,
  type: Schema.String,
  recordedAt: Schema.String.annotations({ description: "ISO 8601" }),
  data: Schema.Unknown.annotations({ description: "the event as stored; password hashes and SCRAM keys redacted" })
}) {}

export class EventPage extends Schema.Class<EventPage>("EventPage")({
  items: Schema.Array(ControlEvent),
  next: Schema.NullOr(Schema.String).annotations({ description: "the position to pass as `from` for the next page; null at the end of the log" })
}) {}

const Filter = {
  stream: Schema.optional(Schema.String).annotations({ description: "one stream, exactly (e.g. topics, acl, bans, session-<clientId>)" }),
  prefix: Schema.optional(Schema.String).annotations({ description: "streams starting with this (e.g. session-)" })
}

export class EventsApi extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/events")
      .setUrlParams(Schema.Struct({
        ...Filter,
        from: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())).annotations({ description: "events after this global position (default 0)" }),
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, MAX_LIMIT)))
      }))
      .addSuccess(EventPage)
      .addError(ServerError)
  )
  .add(
    HttpApiEndpoint.get("tail", "/api/v1/events/stream")
      .setUrlParams(Schema.Struct({
        ...Filter,
        from: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())).annotations({ description: "start after this position (default: now, or Last-Event-ID)" })
      }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
  )
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
