/**
 * Console login: a user named in auth.superusers, with the password the password file (or
 * `robustmq passwd`) gave them, gets a session cookie (HttpOnly, SameSite=Strict, 12 h).
 */
import { HttpApiBuilder, HttpServerRequest } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { BrokerConfig } from "../../../../config/BrokerConfig.js"
import { Auth } from "../../../auth/Auth.js"
import { BrokerApi } from "../../Api.js"
import { AdminCredentials, SESSION_COOKIE, sessionCookie } from "../AdminAuth.js"
import { withBroker } from "../BrokerHandle.js"
import { Unauthorized } from "../errors.js"

const refused = new Unauthorized({ message: "wrong user name or password, or the user is not in auth.superusers" })

/** 0 when the password file accepts the pair (verified off the event loop when it must be). */
const verifyPassword = (username: string, password: string) =>
  Effect.flatMap(Auth, (auth) =>
    Effect.async<number>((resume) => {
      const now = auth.unsafeAuthenticate(username, Buffer.from(password, "utf8"), (code) => resume(Effect.succeed(code)))
      if (now !== -1) resume(Effect.succeed(now))
    }))

export const LoginLive = HttpApiBuilder.group(BrokerApi, "login", (handlers) =>
  Effect.map(AdminCredentials, (credentials) =>
    handlers.handle("login", ({ payload }) =>
      withBroker(Effect.gen(function*() {
        const config = yield* BrokerConfig
        const password = Redacted.value(payload.password)
        if (!config.auth.superusers.includes(payload.username) || password === "") return yield* Effect.fail(refused)
        const auth = yield* Auth
        if (!auth.active) return yield* Effect.fail(refused) // no password file: nothing to check against
        if ((yield* verifyPassword(payload.username, password)) !== 0) {
          yield* Effect.logWarning(`admin: failed console login for ${payload.username}`)
          return yield* Effect.fail(refused)
        }
        const session = credentials.startSession(payload.username)
        yield* HttpApiBuilder.securitySetCookie(sessionCookie, session.id, { secure: false, sameSite: "strict", path: "/", maxAge: "12 hours" })
        yield* Effect.logInfo(`admin: console login for ${payload.username}`)
        return { username: payload.username, expiresAt: new Date(session.expiresAt).toISOString() }
      })))))

export const LogoutLive = HttpApiBuilder.group(BrokerApi, "logout", (handlers) =>
  Effect.map(AdminCredentials, (credentials) =>
    handlers.handle("logout", () =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const id = request.cookies[SESSION_COOKIE]
        if (id !== undefined) credentials.endSession(id)
        yield* HttpApiBuilder.securitySetCookie(sessionCookie, "", { secure: false, sameSite: "strict", path: "/", maxAge: 0 })
      }))))
