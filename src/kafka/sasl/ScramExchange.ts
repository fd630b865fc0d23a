/**
 * The server side of one SCRAM exchange (RFC 5802 section 5, Kafka's KIP-84 flavour: no channel
 * binding): client-first -> server-first, client-final -> server-final. Synchronous: the
 * verifier is looked up once (Auth's read model), and checking a proof takes two HMACs and a
 * hash. An unknown user gets a decoy server-first (a salt stable per user name) and fails at the
 * proof like a wrong password, so the exchange does not tell whether the user exists. Never
 * holds or logs the password; the proof is compared in constant time.
 */
import { createHmac, randomBytes } from "node:crypto"
import { digestBytes, MIN_SCRAM_ITERATIONS, type ScramHash, type ScramVerifier, serverSignature, verifyClientProof } from "../../auth/scramKeys.js"
import {
  type ClientFirst,
  formatServerError,
  formatServerFinal,
  formatServerFirst,
  isMessageError,
  parseClientFinal,
  parseClientFirst
} from "./scramMessages.js"

/** A user's verifier, or why there is none. */
export type ScramLookup = (username: string) => ScramVerifier | "unknown" | "no-scram"

export type ScramStep =
  /** Send `reply` (server-first) and wait for the client-final. */
  | { readonly _tag: "Continue"; readonly reply: Buffer }
  /** Authenticated: send `reply` (server-final `v=...`). */
  | { readonly _tag: "Accepted"; readonly username: string; readonly verifier: ScramVerifier; readonly reply: Buffer }
  /**
   * Refused with a readable `message`; `reply` is the server-final `e=...` where the RFC has one
   * (null when the failure comes before a server-first). `loginFailure`: bad credentials, counted
   * toward auth.max_failures (a malformed message is not).
   */
  | { readonly _tag: "Refused"; readonly message: string; readonly reply: Buffer | null; readonly loginFailure: boolean }

export const INVALID_CREDENTIALS = "Authentication failed: Invalid username or password"

/** Per process: the decoy salts are stable for a name, and nobody can compute them. */
const DECOY_KEY = randomBytes(32)
export const SCRAM_SALT_BYTES = 24

const refused = (message: string, error: string | null, loginFailure = false): ScramStep => ({
  _tag: "Refused",
  message,
  reply: error === null ? null : Buffer.from(formatServerError(error)),
  loginFailure
})

export interface ScramExchangeOptions {
  /** The server's part of the nonce (tests pin it to replay RFC examples). */
  readonly serverNonce?: () => string
}

export class ScramExchange {
  private first: ClientFirst | null = null
  private serverFirst = ""
  private nonce = ""
  private verifier: ScramVerifier | null = null
  /** The user is unknown: the decoy exchange runs to the proof, which then fails. */
  private decoy = false
  private finished = false

  constructor(
    /** As the client names it in SaslHandshake: SCRAM-SHA-256, SCRAM-SHA-512. */
    readonly mechanism: string,
    private readonly hash: ScramHash,
    /** The user's current verifier (Auth's read model). */
    readonly lookup: ScramLookup,
    private readonly options: ScramExchangeOptions = {}
  ) {}

  step(message: Uint8Array): ScramStep {
    if (this.finished) return refused("Authentication failed: the SCRAM exchange is already over", null)
    if (this.first === null) return this.clientFirst(message)
    this.finished = true
    return this.clientFinal(message)
  }

  private clientFirst(message: Uint8Array): ScramStep {
    const first = parseClientFirst(message)
    if (isMessageError(first)) {
      this.finished = true
      return refused(first.message, null)
    }
    const found = this.lookup(first.username)
    if (found === "no-scram") {
      this.finished = true
      return refused(
        `Authentication failed: user "${first.username}" has no ${this.mechanism} credentials (the password was set without them): run \`robustmq passwd <password_file> ${first.username}\` to add them`,
        null,
        true
      )
    }
    let salt: Buffer
    let iterations: number
    if (found === "unknown") {
      this.decoy = true
      salt = createHmac("sha256", DECOY_KEY).update(`${this.mechanism}\u0000${first.username}`).digest().subarray(0, SCRAM_SALT_BYTES)
      iterations = MIN_SCRAM_ITERATIONS
    } else {
      this.verifier = found
      salt = found.salt
      iterations = found.iterations
    }
    this.first = first
    this.nonce = first.nonce + (this.options.serverNonce?.() ?? randomBytes(18).toString("base64"))
    this.serverFirst = formatServerFirst(this.nonce, salt, iterations)
    return { _tag: "Continue", reply: Buffer.from(this.serverFirst) }
  }

  private clientFinal(message: Uint8Array): ScramStep {
    const first = this.first!
    const final = parseClientFinal(message)
    if (isMessageError(final)) return refused(final.message, final.error)
    // c= is base64 of the GS2 header sent first (no channel binding data: RFC 5802 section 7).
    if (final.channelBinding !== Buffer.from(first.gs2Header).toString("base64")) {
      return refused("Authentication failed: the channel binding (c=) does not match the GS2 header", "channel-bindings-dont-match")
    }
    // RFC 5802: the nonce of server-first, exactly. librdkafka before 2.6.1 (kcat on Debian 12:
    // 2.0.2) prepends its own nonce a second time (librdkafka#4895); Kafka 3.8.1+ accepts that,
    // and so do we: the server's part must still be there, so replays stay impossible.
    if (final.nonce !== this.nonce && final.nonce !== first.nonce + this.nonce) {
      return refused("Invalid client nonce in the final client message.", "other-error")
    }
    if (final.proof.length !== digestBytes(this.hash)) return refused("Invalid SCRAM client-final message: the proof has the wrong length", "invalid-proof", true)
    const authMessage = `${first.bare},${this.serverFirst},${final.withoutProof}`
    const verifier = this.verifier
    if (this.decoy || verifier === null || !verifyClientProof(this.hash, verifier, authMessage, final.proof)) {
      return refused(INVALID_CREDENTIALS, "invalid-proof", true)
    }
    return {
      _tag: "Accepted",
      username: first.username,
      verifier,
      reply: Buffer.from(formatServerFinal(serverSignature(this.hash, verifier, authMessage)))
    }
  }
}
