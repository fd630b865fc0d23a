/**
 * The SCRAM sidecar of a Mosquitto password file (`<password_file>.scram`, written by
 * `robustmq passwd`), which keeps the password file itself byte-compatible with Mosquitto. One
 * line per user and mechanism:
 *
 *   username:SCRAM-SHA-256:<iterations>:<salt>:<StoredKey>:<ServerKey>:<password salt>
 *
 * all binary fields base64. `<password salt>` is the salt of the password line the verifier
 * was written with: when another tool (mosquitto_passwd) changes or removes the password, the
 * verifier no longer matches and is ignored, so an old password never keeps working over
 * SCRAM. Pure: text in, entries or line errors out, and the line edit `robustmq passwd` makes.
 * Nothing here puts a key into an error message.
 */
import type { ScramMechanism } from "./events.js"
import type { LineError, Parsed } from "./LineError.js"

export interface ScramEntry {
  readonly username: string
  readonly mechanism: ScramMechanism
  readonly iterations: number
  /** base64, as in the file and the events. */
  readonly salt: string
  readonly storedKey: string
  readonly serverKey: string
  /** base64 salt of the password line this verifier belongs to. */
  readonly passwordSalt: string
}

/** RFC 7677 / Kafka: fewer iterations are refused. */
export const MIN_ITERATIONS = 4096
const MAX_ITERATIONS = 10_000_000
const KEY_BYTES: Record<ScramMechanism, number> = { "SCRAM-SHA-256": 32, "SCRAM-SHA-512": 64 }
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const DIGITS = /^[0-9]{1,10}$/

const base64Bytes = (text: string): number => (BASE64.test(text) ? Buffer.from(text, "base64").length : -1)

const isMechanism = (text: string): text is ScramMechanism => text === "SCRAM-SHA-256" || text === "SCRAM-SHA-512"

/** The entry of one line, null for blank and comment lines, or what is wrong with it. */
const parseLine = (raw: string): ScramEntry | null | string => {
  const line = raw.trim()
  if (line === "" || line.startsWith("#")) return null
  const colon = line.indexOf(":")
  const username = colon < 0 ? "" : line.slice(0, colon)
  const fields = line.slice(colon + 1).split(":")
  if (colon <= 0 || fields.length !== 6) return `expected "username:mechanism:iterations:salt:StoredKey:ServerKey:password salt"`
  const [mechanism, iterationsText, salt, storedKey, serverKey, passwordSalt] = fields as [string, string, string, string, string, string]
  if (!isMechanism(mechanism)) return `user "${username}": unknown mechanism (expected SCRAM-SHA-256 or SCRAM-SHA-512)`
  const iterations = DIGITS.test(iterationsText) ? Number(iterationsText) : NaN
  if (!(iterations >= MIN_ITERATIONS && iterations <= MAX_ITERATIONS)) return `user "${username}": the iteration count must be ${MIN_ITERATIONS}-${MAX_ITERATIONS}`
  if (base64Bytes(salt) < 1 || base64Bytes(passwordSalt) < 1) return `user "${username}": a salt is not base64`
  const keyBytes = KEY_BYTES[mechanism]
  if (base64Bytes(storedKey) !== keyBytes || base64Bytes(serverKey) !== keyBytes) return `user "${username}": StoredKey and ServerKey must be ${keyBytes} bytes of base64`
  return { username, mechanism, iterations, salt, storedKey, serverKey, passwordSalt }
}

export const parseScramFile = (text: string): Parsed<ReadonlyArray<ScramEntry>> => {
  const entries: Array<ScramEntry> = []
  const errors: Array<LineError> = []
  const seen = new Map<string, number>()
  const all = text.split(/\r?\n/)
  for (let i = 0; i < all.length; i++) {
    const parsed = parseLine(all[i]!)
    if (parsed === null) continue
    if (typeof parsed === "string") {
      errors.push({ line: i + 1, message: parsed })
      continue
    }
    const key = `${parsed.mechanism}:${parsed.username}`
    const earlier = seen.get(key)
    if (earlier !== undefined) {
      errors.push({ line: i + 1, message: `user "${parsed.username}" already has ${parsed.mechanism} on line ${earlier}` })
      continue
    }
    seen.set(key, i + 1)
    entries.push(parsed)
  }
  return errors.length > 0 ? { _tag: "Invalid", errors } : { _tag: "Parsed", value: entries }
}

export const formatScramLine = (e: ScramEntry): string =>
  `${e.username}:${e.mechanism}:${e.iterations}:${e.salt}:${e.storedKey}:${e.serverKey}:${e.passwordSalt}`

const HEADER = "# SCRAM verifiers (salted, never the password) for the password file beside it; written by `robustmq passwd`"

/**
 * Replaces `username`'s lines with `entries` (none: deletes them), keeping every other line;
 * the new lines go at the end. A new file starts with a comment saying what it is.
 */
export const setScramLines = (text: string, username: string, entries: ReadonlyArray<ScramEntry>): string => {
  const kept = text.split(/\r?\n/).filter((raw) => {
    const parsed = parseLine(raw)
    return parsed === null || typeof parsed === "string" || parsed.username !== username
  })
  if (kept.length > 0 && kept[kept.length - 1] === "") kept.pop()
  if (kept.length === 0) kept.push(HEADER)
  return [...kept, ...entries.map(formatScramLine), ""].join("\n")
}
