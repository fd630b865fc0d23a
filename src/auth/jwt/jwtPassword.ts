/**
 * Whether a CONNECT password is a JWT (compact JWS): three base64url parts whose first decodes
 * to a JSON header naming an `alg`. Anything else is an ordinary password for the password file,
 * so a password that merely has two dots in it is not taken for a token.
 */

/** Longer passwords are not taken for tokens (a JWT with a large `acl` claim stays far below). */
const MAX_TOKEN_BYTES = 64 * 1024
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** The token as a string when `password` is a JWT, else null. */
export const jwtOf = (password: Uint8Array): string | null => {
  if (password.length < 8 || password.length > MAX_TOKEN_BYTES) return null
  const text = Buffer.from(password.buffer, password.byteOffset, password.byteLength).toString("latin1")
  if (!COMPACT.test(text)) return null
  try {
    const header: unknown = JSON.parse(Buffer.from(text.slice(0, text.indexOf(".")), "base64url").toString("utf8"))
    return typeof header === "object" && header !== null && typeof (header as { alg?: unknown }).alg === "string" ? text : null
  } catch {
    return null
  }
}
