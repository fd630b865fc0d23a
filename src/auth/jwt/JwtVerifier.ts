/**
 * Verifies CONNECT passwords that are JWTs against the `[auth.jwt]` keys (JwtKeys) with `jose`:
 * signature with the key's algorithms only, `exp` / `nbf` with `clock_skew` seconds of leeway,
 * `iss` / `aud` when configured, then the user name claim and the optional `acl` claim
 * (domain/auth/aclClaim.ts). Verification is async and off the connection's path: the caller
 * gets one verdict per token. `reload` (SIGHUP) swaps the keys only when the new ones load.
 *
 * It never logs or returns the token, the secret or key material: a refusal's `reason` is a
 * jose error code and message (which name claims, not their values) or our own line.
 */
import { Effect } from "effect"
import { errors, jwtVerify, type JWTVerifyOptions } from "jose"
import type { JwtConfig } from "../../../config/BrokerConfigShape.js"
import { type AclClaim, parseAclClaim } from "../../../domain/auth/aclClaim.js"
import { ReasonCode } from "../../../domain/ReasonCode.js"
import type { AuthFileError } from "../authFiles.js"
import { type JwtKeys, loadJwtKeys } from "./JwtKeys.js"

export type JwtVerdict =
  | { readonly ok: true; readonly username: string; readonly acl: AclClaim | null }
  /** `code`: 0x86 (not a valid credential) or 0x87 (valid, but its `acl` claim is refused). */
  | { readonly ok: false; readonly code: number; readonly reason: string }

export interface JwtVerifier {
  readonly verify: (token: string) => Promise<JwtVerdict>
  /** Re-reads the key source; on failure the previous keys stay. Succeeds with what was loaded. */
  readonly reload: Effect.Effect<string, AuthFileError>
  /** What is loaded now (for the boot log line). */
  readonly describe: () => string
}

const refused = (code: number, reason: string): JwtVerdict => ({ ok: false, code, reason })

/** A line for the log from a jose failure: its code and message, which quote no token or key. */
const describeFailure = (error: unknown): string =>
  error instanceof errors.JOSEError ? `${error.code}: ${error.message}` : "the token could not be verified"

export const make = (config: JwtConfig): Effect.Effect<JwtVerifier, AuthFileError> =>
  Effect.gen(function*() {
    let keys: JwtKeys = yield* loadJwtKeys(config)
    const load = Effect.tap(loadJwtKeys(config), (k) => Effect.sync(() => { keys = k }))
    const warn = (k: JwtKeys) => (k.warning === null ? Effect.void : Effect.logWarning(`auth: ${k.warning}`))
    yield* warn(keys)

    const options = (algorithms: ReadonlyArray<string>): JWTVerifyOptions => ({
      algorithms: [...algorithms],
      clockTolerance: config.clockSkew,
      ...(config.issuer === "" ? {} : { issuer: config.issuer }),
      ...(config.audience === "" ? {} : { audience: config.audience })
    })

    const verify = async (token: string): Promise<JwtVerdict> => {
      const current = keys
      let payload: Record<string, unknown>
      try {
        const verified = typeof current.key === "function"
          ? await jwtVerify(token, current.key, options(current.algorithms))
          : await jwtVerify(token, current.key, options(current.algorithms))
        payload = verified.payload
      } catch (error) {
        return refused(ReasonCode.BadUserNameOrPassword, describeFailure(error))
      }
      const username = payload[config.usernameClaim]
      if (typeof username !== "string" || username === "") {
        return refused(ReasonCode.BadUserNameOrPassword, `the token has no "${config.usernameClaim}" claim with a user name (auth.jwt.username_claim)`)
      }
      if (payload.acl === undefined) return { ok: true, username, acl: null }
      const acl = parseAclClaim(payload.acl)
      if (typeof acl === "string") return refused(ReasonCode.NotAuthorized, `the token's acl claim is refused: ${acl}`)
      return { ok: true, username, acl }
    }

    return {
      verify,
      reload: Effect.tap(load, warn).pipe(Effect.map((k) => k.description)),
      describe: () => keys.description
    }
  })
