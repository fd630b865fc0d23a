/**
 * Who may use the admin API: a bearer token from `http.admin_tokens`, or the session cookie a
 * superuser's login (POST /api/v1/login) returns to the console. With neither tokens nor
 * superusers configured the API is open, and the HTTP listener binds loopback only
 * (HttpServer.ts) so that only this machine can reach it.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import { Context, Effect, Layer, Redacted } from "effect"
import { BrokerConfig } from "../../../config/BrokerConfig.js"
import { Unauthorized } from "./errors.js"

export const SESSION_COOKIE = "robustmq_session"
const SESSION_TTL_MS = 12 * 3600_000

export const sessionCookie = HttpApiSecurity.apiKey({ in: "cookie", key: SESSION_COOKIE })

export class AdminAuth extends HttpApiMiddleware.Tag<AdminAuth>()("AdminAuth", {
  failure: Unauthorized,
  security: { bearer: HttpApiSecurity.bearer, session: sessionCookie }
}) {}

export interface AdminSession {
  readonly id: string
  readonly username: string
  readonly expiresAt: number
}

export interface AdminCredentialsService {
  /** Neither tokens nor superusers are configured: everyone on loopback may. */
  readonly open: boolean
  readonly tokenAccepted: (token: string) => boolean
  readonly sessionAccepted: (id: string) => boolean
  /** A console session for a superuser whose password was just verified. */
  readonly startSession: (username: string) => AdminSession
  readonly endSession: (id: string) => void
  /** Either credential from a raw request's headers (for /metrics with http.metrics_auth). */
  readonly requestAccepted: (headers: { readonly authorization?: string | undefined; readonly cookie?: string | undefined }) => boolean
}

export class AdminCredentials extends Context.Tag("broker/AdminCredentials")<AdminCredentials, AdminCredentialsService>() {}

const digest = (text: string): Buffer => createHash("sha256").update(text).digest()

const cookieValue = (header: string | undefined, name: string): string | undefined => {
  if (header === undefined) return undefined
  for (const part of header.split(";")) {
    const eq = part.indexOf("=")
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export const credentialsLayer: Layer.Layer<AdminCredentials, never, BrokerConfig> = Layer.effect(
  AdminCredentials,
  Effect.map(BrokerConfig, (config): AdminCredentialsService => {
    // Compared as digests, in constant time: a token's length or prefix does not leak by timing.
    const tokens = config.http.adminTokens.map(digest)
    const sessions = new Map<string, AdminSession>()
    const open = tokens.length === 0 && config.auth.superusers.length === 0
    const tokenAccepted = (token: string) => {
      if (open) return true
      if (token === "") return false
      const d = digest(token)
      return tokens.some((t) => timingSafeEqual(t, d))
    }
    const sessionAccepted = (id: string) => {
      if (open) return true
      const session = id === "" ? undefined : sessions.get(id)
      if (session === undefined) return false
      if (session.expiresAt > Date.now()) return true
      sessions.delete(id)
      return false
    }
    return {
      open,
      tokenAccepted,
      sessionAccepted,
      startSession: (username) => {
        const now = Date.now()
        for (const [id, s] of sessions) if (s.expiresAt <= now) sessions.delete(id)
        const session = { id: randomBytes(24).toString("base64url"), username, expiresAt: now + SESSION_TTL_MS }
        sessions.set(session.id, session)
        return session
      },
      endSession: (id) => void sessions.delete(id),
      requestAccepted: ({ authorization, cookie }) => {
        if (open) return true
        const bearer = authorization?.startsWith("Bearer ") ? authorization.slice(7) : ""
        return tokenAccepted(bearer) || sessionAccepted(cookieValue(cookie, SESSION_COOKIE) ?? "")
      }
    }
  })
)

const refused = new Unauthorized({
  message: "no valid credentials: send Authorization: Bearer <one of http.admin_tokens>, or log in with POST /api/v1/login"
})

export const authLayer: Layer.Layer<AdminAuth, never, AdminCredentials> = Layer.effect(
  AdminAuth,
  Effect.map(AdminCredentials, (credentials) =>
    AdminAuth.of({
      bearer: (token) => (credentials.tokenAccepted(Redacted.value(token)) ? Effect.void : Effect.fail(refused)),
      session: (id) => (credentials.sessionAccepted(Redacted.value(id)) ? Effect.void : Effect.fail(refused))
    }))
)
