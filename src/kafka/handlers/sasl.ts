/**
 * SASL/PLAIN on the Kafka listener (SASL_PLAINTEXT), checked against the MQTT users (Auth). A
 * connection goes Start -> Handshake (SaslHandshake v1 naming PLAIN) -> Authenticating (the
 * SaslAuthenticate token's password is being verified, possibly off the event loop) ->
 * Authenticated, or Failed: the refusal is written and the connection ends, as on Kafka.
 * SaslHandshake v0 (before KIP-152) is followed by the bare PLAIN token as the next frame; its
 * answer is an empty frame, a refusal closes the connection.
 *
 * Whether a connection must authenticate before anything else is KafkaServer's gate
 * (`[auth] allow_anonymous = false`); SASL done on an open listener is checked all the same.
 */
import { Effect } from "effect"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { ReasonCode } from "../../../domain/ReasonCode.js"
import type { AuthService } from "../../auth/Auth.js"
import type { KafkaConnection } from "../KafkaConnection.js"
import {
  ApiKey,
  type SaslAuthenticateRequest,
  type SaslAuthenticateResponse,
  type SaslHandshakeRequest,
  type SaslHandshakeResponse
} from "../protocol/index.js"
import { parsePlainToken } from "../sasl/plainToken.js"
import { SaslState } from "../sasl/SaslState.js"

export const MECHANISMS: ReadonlyArray<string> = ["PLAIN"]

const NO_BYTES = Buffer.alloc(0)
const INVALID_CREDENTIALS = "Authentication failed: Invalid username or password"

/** What a connection that has not authenticated may ask when SASL is required (Kafka's list). */
export const allowedBeforeAuthentication = (apiKey: number): boolean =>
  apiKey === ApiKey.ApiVersions || apiKey === ApiKey.SaslHandshake || apiKey === ApiKey.SaslAuthenticate

/** A refusal in the middle of SASL: the answer goes out, then the connection ends. */
const refuse = (conn: KafkaConnection): void => {
  conn.sasl = SaslState.Failed
  conn.holdReading = false
  conn.closeAfterResponses()
}

export const handleSaslHandshake = (conn: KafkaConnection, body: SaslHandshakeRequest, apiVersion: number): SaslHandshakeResponse => {
  if (conn.sasl !== SaslState.Start) {
    // After authentication Kafka answers without closing (no re-authentication here).
    if (conn.sasl !== SaslState.Authenticated) refuse(conn)
    return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: MECHANISMS }
  }
  if (!MECHANISMS.includes(body.mechanism)) {
    refuse(conn)
    return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: MECHANISMS }
  }
  conn.sasl = apiVersion === 0 ? SaslState.HandshakeV0 : SaslState.Handshake
  return { errorCode: ErrorCode.NONE, mechanisms: MECHANISMS }
}

/**
 * Verifies a PLAIN token: null when accepted (the connection is then tracked under its user, so
 * removing the user on reload closes it), else the error message (the connection is refused).
 * Reading stops until this settles, so no later request overtakes the answer.
 */
const verifyPlain = (auth: AuthService, conn: KafkaConnection, token: Uint8Array, failed: Effect.Effect<void>): Effect.Effect<string | null> => {
  const credentials = parsePlainToken(token)
  if (typeof credentials === "string") {
    refuse(conn)
    return Effect.succeed(credentials)
  }
  conn.sasl = SaslState.Authenticating
  conn.holdReading = true
  const settle = (reason: number): string | null => {
    if (reason !== ReasonCode.Success) {
      refuse(conn)
      return INVALID_CREDENTIALS
    }
    conn.sasl = SaslState.Authenticated
    conn.user = credentials.username
    conn.holdReading = false
    // A connection closed while its password was hashed is never tracked (its close handler ran).
    if (!conn.closed) auth.unsafeTrack(credentials.username, conn)
    return null
  }
  const verified = Effect.async<string | null>((resume) => {
    const now = auth.unsafeAuthenticate(credentials.username, credentials.password, (reason) => resume(Effect.succeed(settle(reason))))
    if (now >= 0) resume(Effect.succeed(settle(now)))
  })
  return Effect.tap(verified, (error) => (error === null ? Effect.void : failed))
}

export const handleSaslAuthenticate = (
  auth: AuthService,
  conn: KafkaConnection,
  body: SaslAuthenticateRequest,
  /** Runs on a refused password (counted per address: auth.max_failures). */
  failed: Effect.Effect<void> = Effect.void
): Effect.Effect<SaslAuthenticateResponse> => {
  if (conn.sasl !== SaslState.Handshake) {
    if (conn.sasl !== SaslState.Authenticated) refuse(conn)
    return Effect.succeed({
      errorCode: ErrorCode.ILLEGAL_SASL_STATE,
      errorMessage: "SaslAuthenticate without a successful SaslHandshake v1 before it",
      authBytes: NO_BYTES,
      sessionLifetimeMs: 0
    })
  }
  return Effect.map(verifyPlain(auth, conn, body.authBytes, failed), (error) => ({
    errorCode: error === null ? ErrorCode.NONE : ErrorCode.SASL_AUTHENTICATION_FAILED,
    errorMessage: error,
    authBytes: NO_BYTES,
    sessionLifetimeMs: 0
  }))
}

/** An empty size-prefixed frame: the server's (empty) PLAIN challenge after a v0 token. */
const EMPTY_FRAME: ReadonlyArray<Buffer> = [Buffer.alloc(4)]

/**
 * The bare token after SaslHandshake v0: accepted with an empty frame, refused by closing the
 * connection (v0 has no way to carry an error).
 */
export const authenticateRawToken = (
  auth: AuthService,
  conn: KafkaConnection,
  token: Buffer,
  failed: Effect.Effect<void> = Effect.void
): Effect.Effect<ReadonlyArray<Buffer> | null> => Effect.map(verifyPlain(auth, conn, token, failed), (error) => (error === null ? EMPTY_FRAME : null))
