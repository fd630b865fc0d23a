/**
 * The Mosquitto password file: one `username:hash` per line, `#` comments and blank lines
 * allowed (what `mosquitto_passwd` writes and mosquitto 2.x reads). Two hash formats, checked
 * against the real `mosquitto_passwd` (test/fixtures/auth/mosquitto.passwd):
 *
 * - `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2-HMAC-SHA512 of the password over the
 *   decoded salt bytes, 64-byte key (mosquitto 2.x default, 101 iterations, 12-byte salt).
 * - `$6$<base64 salt>$<base64 hash>`: SHA-512(password bytes || salt bytes) (mosquitto 1.x).
 *
 * Pure: text in, users or line errors out; also the line edit `robustmq passwd` makes. Nothing
 * here ever puts a hash (or what could be a plain-text password) into an error message.
 */
import type { LineError, Parsed } from "./LineError.js"

export type ParsedHash =
  | { readonly kind: "pbkdf2-sha512"; readonly iterations: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: "sha512"; readonly salt: Buffer; readonly hash: Buffer }

export interface PasswordEntry {
  readonly username: string
  /** The hash as written in the file (what UserAdded stores). */
  readonly passwordHash: string
  readonly line: number
}

/** Both formats hold a SHA-512 sized digest. */
const DIGEST_BYTES = 64
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const DIGITS = /^[0-9]{1,10}$/

const decodeBase64 = (text: string): Buffer | null =>
  text.length % 4 === 0 && BASE64.test(text) ? Buffer.from(text, "base64") : null

const FORMATS = "expected $7$ (mosquitto_passwd 2.x) or $6$ (mosquitto 1.x)"

/** The hash, or why it is not one (the message never quotes the text: it may be a password). */
export const parsePasswordHash = (text: string): ParsedHash | string => {
  const parts = text.split("$")
  // "$7$101$salt$hash" splits into ["", "7", "101", "salt", "hash"].
  if (parts[0] !== "" || (parts[1] !== "7" && parts[1] !== "6")) {
    return `unknown password hash format (${FORMATS}; plain-text passwords are not accepted: hash the file with \`mosquitto_passwd -U FILE\` or use \`robustmq passwd\`)`
  }
  const pbkdf2 = parts[1] === "7"
  if (parts.length !== (pbkdf2 ? 5 : 4)) return `malformed $${parts[1]}$ hash: ${pbkdf2 ? "$7$<iterations>$<salt>$<hash>" : "$6$<salt>$<hash>"} expected`
  let iterations = 0
  if (pbkdf2) {
    if (!DIGITS.test(parts[2]!) || (iterations = Number(parts[2])) < 1) return `malformed $7$ hash: the iteration count must be a positive integer`
  }
  const salt = decodeBase64(parts[pbkdf2 ? 3 : 2]!)
  if (salt === null || salt.length === 0) return `malformed $${parts[1]}$ hash: the salt is not base64`
  const hash = decodeBase64(parts[pbkdf2 ? 4 : 3]!)
  if (hash === null || hash.length !== DIGEST_BYTES) return `malformed $${parts[1]}$ hash: the digest must be ${DIGEST_BYTES} bytes of base64`
  return pbkdf2 ? { kind: "pbkdf2-sha512", iterations, salt, hash } : { kind: "sha512", salt, hash }
}

/** `$7$<iterations>$<salt>$<hash>`, as mosquitto_passwd 2.x writes it. */
export const formatPbkdf2Hash = (iterations: number, salt: Uint8Array, hash: Uint8Array): string =>
  `$7$${iterations}$${Buffer.from(salt).toString("base64")}$${Buffer.from(hash).toString("base64")}`

const lines = (text: string): Array<string> => text.split(/\r?\n/)

/** Username and hash of a `user:hash` line; null for blank and comment lines. */
const splitLine = (raw: string): { username: string; hash: string } | null | string => {
  const line = raw.trim()
  if (line === "" || line.startsWith("#")) return null
  const colon = line.indexOf(":")
  if (colon < 0) return `expected "username:hash"`
  const username = line.slice(0, colon).trim()
  if (username === "") return `empty username before ":"`
  return { username, hash: line.slice(colon + 1).trim() }
}

export const parsePasswordFile = (text: string): Parsed<ReadonlyArray<PasswordEntry>> => {
  const users: Array<PasswordEntry> = []
  const errors: Array<LineError> = []
  const seen = new Map<string, number>()
  const all = lines(text)
  for (let i = 0; i < all.length; i++) {
    const line = i + 1
    const split = splitLine(all[i]!)
    if (split === null) continue
    if (typeof split === "string") {
      errors.push({ line, message: split })
      continue
    }
    const earlier = seen.get(split.username)
    if (earlier !== undefined) {
      errors.push({ line, message: `user "${split.username}" is already defined on line ${earlier}` })
      continue
    }
    seen.set(split.username, line)
    const parsed = parsePasswordHash(split.hash)
    if (typeof parsed === "string") {
      errors.push({ line, message: `user "${split.username}": ${parsed}` })
      continue
    }
    users.push({ username: split.username, passwordHash: split.hash, line })
  }
  return errors.length > 0 ? { _tag: "Invalid", errors } : { _tag: "Parsed", value: users }
}

/** Why a name cannot be a user of the password file, or undefined. */
export const invalidUsername = (username: string): string | undefined => {
  if (username === "") return "the username must not be empty"
  if (username.includes(":")) return `the username must not contain ":"`
  if (/[\r\n]/.test(username)) return "the username must not contain a line break"
  if (username.trim() !== username) return "the username must not start or end with blanks"
  if (username.startsWith("#")) return `the username must not start with "#" (that line would be a comment)`
  return undefined
}

export type PasswordLineChange = "added" | "updated" | "deleted" | "absent"

/**
 * Sets (or, with `passwordHash` null, deletes) `username`'s line, keeping every other line as it
 * is. A new user is appended at the end.
 */
export const setPasswordLine = (
  text: string,
  username: string,
  passwordHash: string | null
): { readonly text: string; readonly change: PasswordLineChange } => {
  const all = lines(text)
  const eol = text.includes("\r\n") ? "\r\n" : "\n"
  for (let i = 0; i < all.length; i++) {
    const split = splitLine(all[i]!)
    if (split === null || typeof split === "string" || split.username !== username) continue
    if (passwordHash === null) all.splice(i, 1)
    else all[i] = `${username}:${passwordHash}`
    return { text: all.join(eol), change: passwordHash === null ? "deleted" : "updated" }
  }
  if (passwordHash === null) return { text, change: "absent" }
  // Drop the empty string after a final newline, append, and end with a newline.
  if (all.length > 0 && all[all.length - 1] === "") all.pop()
  all.push(`${username}:${passwordHash}`, "")
  return { text: all.join(eol), change: "added" }
}
