/** POST /api/v1/login (a superuser's name and password -> a console session cookie), POST /api/v1/logout. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { Unauthorized, Unavailable } from "../errors.js"

export class Login extends Schema.Class<Login>("Login")({
  username: Schema.String,
  password: Schema.Redacted(Schema.String)
}) {}

export class LoggedIn extends Schema.Class<LoggedIn>("LoggedIn")({
  username: Schema.String,
  expiresAt: Schema.String.annotations({ description: "ISO 8601" })
}) {}

export class LoginApi extends HttpApiGroup.make("login")
  .add(HttpApiEndpoint.post("login", "/api/v1/login").setPayload(Login).addSuccess(LoggedIn).addError(Unauthorized).addError(Unavailable))
{}

export class LogoutApi extends HttpApiGroup.make("logout")
  .add(HttpApiEndpoint.post("logout", "/api/v1/logout").addSuccess(Schema.Void))
  .middleware(AdminAuth)
{}
