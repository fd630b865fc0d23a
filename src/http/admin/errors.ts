/**
 * The admin API's errors: each a status and a message that says what to do next. The body is
 * `{ "_tag": ..., "message": ... }`, like the 404 of an unknown route.
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Schema } from "effect"

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { message: Schema.String }, HttpApiSchema.annotations({ status: 404 })) {}

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", { message: Schema.String }, HttpApiSchema.annotations({ status: 400 })) {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", { message: Schema.String }, HttpApiSchema.annotations({ status: 401 })) {}

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { message: Schema.String }, HttpApiSchema.annotations({ status: 409 })) {}

/** The broker is still replaying storage, or shutting down. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", { message: Schema.String }, HttpApiSchema.annotations({ status: 503 })) {}

/** Storage failed under an admin action: the log has the details. */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", { message: Schema.String }, HttpApiSchema.annotations({ status: 500 })) {}
