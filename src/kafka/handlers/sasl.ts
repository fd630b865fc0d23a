/**
 * SASL on the Kafka listeners (SASL_PLAINTEXT, SASL_SSL), checked against the MQTT users (Auth):
 * PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. A connection goes Start -> Handshake (SaslHandshake
 * v1 naming a mechanism) -> Authenticating (a PLAIN password is being verified, possibly off
 * the event loop) -> Authenticated, or Failed: the refusal is written and the connection ends,
 * as on Kafka. SCRAM takes two SaslAuthenticate rounds (client-first, client-final) and stays
 * in Handshake between them; it needs no thread pool (ScramExchange). SaslHandshake v0 (before
 * KIP-152) is followed by bare size-prefixed frames instead: the PLAIN token (answered by an
 * empty frame) or the SCRAM messages (answered by server-first and server-final frames); a
 * refusal closes the connection, after a SCRAM `e=...` server-final where the RFC has one.
 *
 * Whether a connection must authenticate before anything else is KafkaServer's gate
 * (`[auth] allow_anonymous = false`); SASL done on an open listener is checked all the same.
 */
import { Effect } from "effect"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { ReasonCode } from "../../../domain/ReasonCode.js"
import type { AuthService } from "../../auth/Auth.js"
import { hashOf, isScramMechanism } from "../../auth/scramKeys.js"
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
import { INVALID_CREDENTIALS, ScramExchange } from "../sasl/ScramExchange.js"

export const MECHANISMS: ReadonlyArray<string> = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

const NO_BYTES = Buffer.alloc(0)

/** What a connection that has not authenticated may ask when SASL is required (Kafka's list). */
export const allowedBeforeAuthentication = (apiKey: number): boolean =>
  apiKey === ApiKey.ApiVersions || apiKey === ApiKey.SaslHandshake || apiKey === ApiKey.SaslAuthenticate

/** A refusal in the middle of SASL: the answer goes out, then the connection ends. */
const refuse = (conn: KafkaConnection): void => {
  conn.sasl = SaslState.Failed
  conn.holdReading = false
  conn.closeAfterResponses()
}

export const handleSaslHandshake = (auth: AuthService, conn: KafkaConnection, body: SaslHandshakeRequest, apiVersion: number): SaslHandshakeResponse => {
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
  const mechanism = body.mechanism
  if (isScramMechanism(mechanism)) {
    conn.scram = new ScramExchange(mechanism, hashOf(mechanism), (username) => auth.unsafeScramVerifier(mechanism, username))
  }
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

/** One SCRAM round: the bytes to send back, and the error message when refused (null when not). */
interface ScramRound {
  readonly reply: Buffer | null
  readonly error: string | null
}

/**
 * Feeds one SCRAM message to the connection's exchange. Accepted only if the verifier used is
 * still the user's (a reload between the two rounds may have changed it); a refusal ends the
 * connection and, for bad credentials, counts toward auth.max_failures.
 */
const stepScram = (auth: AuthService, conn: KafkaConnection, exchange: ScramExchange, message: Uint8Array, failed: Effect.Effect<void>): Effect.Effect<ScramRound> => {
  const step = exchange.step(message)
  switch (step._tag) {
    case "Continue":
      return Effect.succeed({ reply: step.reply, error: null })
    case "Accepted": {
      if (exchange.lookup(step.username) !== step.verifier) {
        refuse(conn)
        return Effect.as(failed, { reply: null, error: INVALID_CREDENTIALS })
      }
      conn.scram = null
      conn.sasl = SaslState.Authenticated
      conn.user = step.username
      if (!conn.closed) auth.unsafeTrack(step.username, conn)
      return Effect.succeed({ reply: step.reply, error: null })
    }
    case "Refused": {
      conn.scram = null
      refuse(conn)
      const round = { reply: step.reply, error: step.message }
      return step.loginFailure ? Effect.as(failed, round) : Effect.succeed(round)
    }
  }
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
  if (conn.scram !== null) {
    return Effect.map(stepScram(auth, conn, conn.scram, body.authBytes, failed), (round) => ({
      errorCode: round.error === null ? ErrorCode.NONE : ErrorCode.SASL_AUTHENTICATION_FAILED,
      errorMessage: round.error,
      authBytes: round.reply ?? NO_BYTES,
      sessionLifetimeMs: 0
    }))
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

/** `bytes` as a bare size-prefixed frame (SASL after SaslHandshake v0). */
const rawFrame = (bytes: Buffer): ReadonlyArray<Buffer> => {
  const size = Buffer.alloc(4)
  size.writeInt32BE(bytes.length)
  return [size, bytes]
}

/**
 * A bare frame after SaslHandshake v0. PLAIN: the token, accepted with an empty frame, refused
 * by closing the connection (v0 has no way to carry an error). SCRAM: each client message is
 * answered by the server's next one as a bare frame; a refusal sends the `e=...` server-final
 * when there is one, then closes.
 */
export const authenticateRawToken = (
  auth: AuthService,
  conn: KafkaConnection,
  token: Buffer,
  failed: Effect.Effect<void> = Effect.void
): Effect.Effect<ReadonlyArray<Buffer> | null> => {
  if (conn.scram !== null) return Effect.map(stepScram(auth, conn, conn.scram, token, failed), (round) => (round.reply === null ? null : rawFrame(round.reply)))
  return Effect.map(verifyPlain(auth, conn, token, failed), (error) => (error === null ? EMPTY_FRAME : null))
}
