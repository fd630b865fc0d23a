/**
 * SCRAM key arithmetic (RFC 5802 section 3): the verifiers a server stores (StoredKey,
 * ServerKey) derived from a password, and the per-exchange checks that need only those
 * verifiers (HMACs and one hash, cheap enough for the event loop). Deriving from a password
 * costs `iterations` HMACs: `robustmq passwd` does it once per user, the broker never.
 * Never logs and never returns SaltedPassword or ClientKey except to the test client.
 */
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from "node:crypto"
import { ScramMechanism } from "../../domain/auth/events.js"

/** The SCRAM mechanisms the broker offers (RFC 7677 and its SHA-512 sibling, as Kafka: KIP-84). */
export const SCRAM_MECHANISMS: ReadonlyArray<ScramMechanism> = ScramMechanism.literals

/** Hash functions a SCRAM exchange can use; SHA-1 only for RFC 5802's own example. */
export type ScramHash = "sha1" | "sha256" | "sha512"

export { MIN_ITERATIONS as MIN_SCRAM_ITERATIONS } from "../../domain/auth/scramFile.js"

export const isScramMechanism = (name: string): name is ScramMechanism => (SCRAM_MECHANISMS as ReadonlyArray<string>).includes(name)

export const hashOf = (mechanism: ScramMechanism): ScramHash => (mechanism === "SCRAM-SHA-256" ? "sha256" : "sha512")

export const digestBytes = (hash: ScramHash): number => (hash === "sha1" ? 20 : hash === "sha256" ? 32 : 64)

/** What the server keeps for one user and mechanism (never the password nor anything that logs in). */
export interface ScramVerifier {
  readonly salt: Buffer
  readonly iterations: number
  readonly storedKey: Buffer
  readonly serverKey: Buffer
}

const hmac = (hash: ScramHash, key: Uint8Array, text: string | Uint8Array): Buffer => createHmac(hash, key).update(text).digest()
const h = (hash: ScramHash, data: Uint8Array): Buffer => createHash(hash).update(data).digest()

const xor = (a: Uint8Array, b: Uint8Array): Buffer => {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** StoredKey and ServerKey from SaltedPassword (Hi(password, salt, i)). */
const fromSalted = (hash: ScramHash, salted: Buffer, salt: Buffer, iterations: number): ScramVerifier => ({
  salt,
  iterations,
  storedKey: h(hash, hmac(hash, salted, "Client Key")),
  serverKey: hmac(hash, salted, "Server Key")
})

/**
 * The verifier for `password` (Hi is PBKDF2 with HMAC-`hash`, RFC 5802 section 2.2). Blocks for
 * the PBKDF2: for `robustmq passwd` and tests; the broker only ever checks proofs.
 */
export const deriveVerifierSync = (hash: ScramHash, password: string | Uint8Array, salt: Buffer, iterations: number): ScramVerifier =>
  fromSalted(hash, pbkdf2Sync(password, salt, iterations, digestBytes(hash), hash), salt, iterations)

/**
 * RFC 5802 section 3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof is
 * good when H(ClientKey) equals StoredKey. Compared in constant time.
 */
export const verifyClientProof = (hash: ScramHash, verifier: ScramVerifier, authMessage: string, proof: Uint8Array): boolean => {
  if (proof.length !== digestBytes(hash) || verifier.storedKey.length !== proof.length) return false
  const clientKey = xor(proof, hmac(hash, verifier.storedKey, authMessage))
  return timingSafeEqual(h(hash, clientKey), verifier.storedKey)
}

/** ServerSignature = HMAC(ServerKey, AuthMessage): what the server-final message proves with. */
export const serverSignature = (hash: ScramHash, verifier: ScramVerifier, authMessage: string): Buffer =>
  hmac(hash, verifier.serverKey, authMessage)

/** The client's side (tests and the test client only): ClientProof from the password. */
export const clientProof = (hash: ScramHash, password: string, salt: Buffer, iterations: number, authMessage: string): Buffer => {
  const salted = pbkdf2Sync(password, salt, iterations, digestBytes(hash), hash)
  const clientKey = hmac(hash, salted, "Client Key")
  return xor(clientKey, hmac(hash, h(hash, clientKey), authMessage))
}
