/**
 * Password verification and hashing for the Mosquitto formats (see domain/auth/passwordFile.ts).
 * PBKDF2 runs in libuv's thread pool (`crypto.pbkdf2`), never on the event loop: a reconnect
 * storm of devices must not stall message routing. `$6$` is a single SHA-512, cheap enough to
 * run inline. Successful verifications are remembered in a bounded cache keyed by user name,
 * SHA-256 of the presented password and the stored hash, so a device reconnecting with the same
 * credentials costs one SHA-256 and a map lookup (and a changed hash never matches old entries).
 */
import { createHash, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto"
import { formatPbkdf2Hash, type ParsedHash } from "../../domain/auth/passwordFile.js"

const KEY_BYTES = 64
/** What mosquitto_passwd 2.x uses. */
export const DEFAULT_ITERATIONS = 101
export const SALT_BYTES = 12

const same = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b)

/** `$6$`: SHA-512 over the password bytes then the salt bytes (mosquitto 1.x). */
export const verifySha512 = (hash: ParsedHash & { kind: "sha512" }, password: Uint8Array): boolean =>
  same(createHash("sha512").update(password).update(hash.salt).digest(), hash.hash)

/** `$7$`: PBKDF2-HMAC-SHA512, in the thread pool; `done` runs on the event loop later. */
export const verifyPbkdf2 = (
  hash: ParsedHash & { kind: "pbkdf2-sha512" },
  password: Uint8Array,
  done: (ok: boolean) => void
): void => {
  pbkdf2(password, hash.salt, hash.iterations, KEY_BYTES, "sha512", (error, key) => done(error === null && same(key, hash.hash)))
}

/** Either format, as a promise (tests, tools; the broker uses the two functions above). */
export const verifyPassword = (hash: ParsedHash, password: Uint8Array): Promise<boolean> =>
  hash.kind === "sha512"
    ? Promise.resolve(verifySha512(hash, password))
    : new Promise((resolve) => verifyPbkdf2(hash, password, resolve))

/** A `$7$` hash of `password` with a fresh 12-byte salt, as `mosquitto_passwd` writes it. */
export const hashPassword = (password: string, iterations = DEFAULT_ITERATIONS, salt: Uint8Array = randomBytes(SALT_BYTES)): string =>
  formatPbkdf2Hash(iterations, salt, pbkdf2Sync(password, salt, iterations, KEY_BYTES, "sha512"))

/** Recently verified credentials; the oldest entry goes when it is full. */
export class VerifiedCache {
  private readonly entries = new Set<string>()

  constructor(private readonly capacity = 10_000) {}

  key(username: string, password: Uint8Array, storedHash: string): string {
    return `${username}\u0000${createHash("sha256").update(password).digest("base64")}\u0000${storedHash}`
  }

  has(key: string): boolean {
    return this.entries.has(key)
  }

  add(key: string): void {
    if (this.entries.has(key)) return
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.values().next().value!)
    this.entries.add(key)
  }

  get size(): number {
    return this.entries.size
  }

  clear(): void {
    this.entries.clear()
  }
}
