/** Users (names only, never hashes), the MQTT ACL as loaded, and a reload of both files (what SIGHUP does). */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AclRule } from "../../../../domain/auth/AclRule.js"
import { AdminAuth } from "../AdminAuth.js"
import { BadRequest, Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"

export class User extends Schema.Class<User>("User")({
  username: Schema.String,
  superuser: Schema.Boolean,
  scram: Schema.Array(Schema.String).annotations({ description: "SCRAM mechanisms it has a verifier for" })
}) {}

export class AclView extends Schema.Class<AclView>("AclView")({
  configured: Schema.Boolean.annotations({ description: "false: no auth.acl_file, every topic allowed" }),
  rules: Schema.Array(AclRule)
}) {}

export class Reloaded extends Schema.Class<Reloaded>("Reloaded")({
  usersAdded: Schema.Array(Schema.String),
  passwordsChanged: Schema.Array(Schema.String),
  usersRemoved: Schema.Array(Schema.String),
  acl: Schema.Literal("replaced", "cleared", "unchanged"),
  kicked: Schema.Number.annotations({ description: "connections closed because their user went away or changed password" }),
  subscriptionsRemoved: Schema.Number
}) {}

export class AccessApi extends HttpApiGroup.make("access")
  .add(HttpApiEndpoint.get("users", "/api/v1/users").setUrlParams(Schema.Struct({ ...PageParams, prefix: Schema.optional(Schema.String) })).addSuccess(Page(User)))
  .add(HttpApiEndpoint.get("acl", "/api/v1/acl").addSuccess(AclView))
  .add(HttpApiEndpoint.post("reload", "/api/v1/acl/reload").addSuccess(Reloaded).addError(BadRequest))
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
