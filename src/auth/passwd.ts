/**
 * `robustmq passwd FILE USERNAME [--password P] [--iterations N] [--delete]`: adds, replaces or
 * deletes one user's line of a Mosquitto password file in the `$7$` format mosquitto_passwd 2.x
 * writes, keeping every other line (comments included), and the user's SCRAM-SHA-256 and
 * SCRAM-SHA-512 verifiers in the sidecar `FILE.scram` (domain/auth/scramFile.ts), so one
 * command enables the user for MQTT, Kafka PLAIN and Kafka SCRAM while the password file stays
 * Mosquitto's. Both files are replaced atomically (a temp file renamed over it), keep their
 * permissions, and are created 0600; the sidecar is written first, and its entries are bound to
 * the password line's salt, so a crash between the two leaves no verifier for another password.
 * The broker applies them on SIGHUP or at its next start. Every failure is one line naming
 * what to fix.
 */
import { readFile, rename, stat, writeFile } from "node:fs/promises"
import * as NodePath from "node:path"
import { randomBytes } from "node:crypto"
import { Data, Effect } from "effect"
import { ScramMechanism } from "../../domain/auth/events.js"
import { describeLineErrors } from "../../domain/auth/LineError.js"
import { invalidUsername, parsePasswordFile, setPasswordLine } from "../../domain/auth/passwordFile.js"
import { MIN_ITERATIONS, parseScramFile, type ScramEntry, setScramLines } from "../../domain/auth/scramFile.js"
import { scramFileOf } from "./authFiles.js"
import { DEFAULT_ITERATIONS, hashPassword, SALT_BYTES } from "./passwordHash.js"
import { deriveVerifierSync, hashOf } from "./scramKeys.js"

export class PasswdError extends Data.TaggedError("PasswdError")<{ readonly message: string }> {}

export interface PasswdOptions {
  readonly file: string
  readonly username: string
  /** From --password; undefined: read one line from stdin. */
  readonly password: string | undefined
  readonly iterations: string | undefined
  readonly delete: boolean
}

const MAX_ITERATIONS = 10_000_000
const MAX_PASSWORD_BYTES = 65535

const fail = (message: string) => Effect.fail(new PasswdError({ message }))

const errnoOf = (cause: unknown): string | undefined => (cause as NodeJS.ErrnoException | undefined)?.code

/** One line from stdin (without its line break): the password piped in by a script. */
const readStdinLine: Effect.Effect<string, PasswdError> = Effect.async<string, PasswdError>((resume) => {
  const stdin = process.stdin
  let text = ""
  const cleanup = () => {
    stdin.off("data", onData)
    stdin.off("end", onEnd)
    stdin.off("error", onError)
    stdin.pause()
  }
  const finish = (line: string) => {
    cleanup()
    resume(Effect.succeed(line.endsWith("\r") ? line.slice(0, -1) : line))
  }
  const onData = (chunk: string) => {
    text += chunk
    const eol = text.indexOf("\n")
    if (eol >= 0) finish(text.slice(0, eol))
    else if (text.length > MAX_PASSWORD_BYTES) {
      cleanup()
      resume(fail(`the password on stdin is longer than ${MAX_PASSWORD_BYTES} bytes`))
    }
  }
  const onEnd = () => finish(text)
  const onError = (e: Error) => {
    cleanup()
    resume(fail(`cannot read the password from stdin: ${e.message}`))
  }
  stdin.setEncoding("utf8")
  stdin.on("data", onData)
  stdin.on("end", onEnd)
  stdin.on("error", onError)
  stdin.resume()
  return Effect.sync(cleanup)
})

/**
 * Lines typed at a terminal, one per prompt, in raw mode so nothing is echoed (as
 * mosquitto_passwd does); Enter ends a line, Backspace edits, Ctrl-C or Ctrl-D on an empty line
 * cancels. Characters typed ahead (a paste) carry over to the next prompt.
 */
const readHidden = (prompts: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>, PasswdError> =>
  Effect.async<ReadonlyArray<string>, PasswdError>((resume) => {
    const stdin = process.stdin
    const lines: Array<string> = []
    let text = ""
    let done = false
    process.stderr.write(prompts[0]!)
    const cleanup = () => {
      if (done) return
      done = true
      stdin.off("data", onData)
      stdin.setRawMode(false)
      stdin.pause()
    }
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (done) return
        if (ch === "\r" || ch === "\n") {
          lines.push(text)
          text = ""
          process.stderr.write("\n")
          if (lines.length === prompts.length) {
            cleanup()
            return resume(Effect.succeed(lines))
          }
          process.stderr.write(prompts[lines.length]!)
        } else if (ch === "\u0003" || (ch === "\u0004" && text === "")) {
          process.stderr.write("\n")
          cleanup()
          return resume(fail("cancelled: no password was set"))
        } else if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1)
        else if (ch >= " ") text += ch
        if (text.length > MAX_PASSWORD_BYTES) {
          cleanup()
          return resume(fail(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`))
        }
      }
    }
    stdin.setEncoding("utf8")
    stdin.setRawMode(true)
    stdin.on("data", onData)
    stdin.resume()
    return Effect.sync(cleanup)
  })

/**
 * The password to hash when --password is not given: typed twice at a terminal (not echoed,
 * the two must match), or one line from stdin otherwise.
 */
export const readPasswordLine: Effect.Effect<string, PasswdError> = Effect.suspend(() => {
  if (!process.stdin.isTTY) return readStdinLine
  return Effect.flatMap(readHidden(["Password: ", "Reenter password: "]), ([first, again]) =>
    first === again ? Effect.succeed(first!) : fail("the passwords do not match: run the command again"))
})

const parseIterations = (text: string | undefined): number | string => {
  if (text === undefined) return DEFAULT_ITERATIONS
  const trimmed = text.trim()
  const n = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN
  return Number.isSafeInteger(n) && n >= 1 && n <= MAX_ITERATIONS ? n : `--iterations must be an integer 1-${MAX_ITERATIONS}, got ${JSON.stringify(text)}`
}

/** The existing file's text and mode, or "" and 0600 when it does not exist yet. */
const readExisting = (file: string, mustExist: boolean) =>
  Effect.tryPromise({
    try: async () => ({ text: await readFile(file, "utf8"), mode: (await stat(file)).mode & 0o777 }),
    catch: (cause) => cause
  }).pipe(
    Effect.catchAll((cause) => {
      const code = errnoOf(cause)
      if (code === "ENOENT" && !mustExist) return Effect.succeed({ text: "", mode: 0o600 })
      if (code === "ENOENT") return fail(`${file} does not exist: nothing to delete`)
      if (code === "EISDIR") return fail(`${file} is a directory: give the password file's path`)
      return fail(`cannot read ${file}${code === undefined ? "" : ` (${code})`}: check the path and its permissions`)
    })
  )

const writeAtomically = (file: string, text: string, mode: number) =>
  Effect.tryPromise({
    try: async () => {
      const temp = NodePath.join(NodePath.dirname(file), `.${NodePath.basename(file)}.tmp-${process.pid}`)
      await writeFile(temp, text, { mode })
      await rename(temp, file)
    },
    catch: (cause) => {
      const code = errnoOf(cause)
      return new PasswdError({ message: `cannot write ${file}${code === undefined ? "" : ` (${code})`}: check that its directory exists and is writable` })
    }
  })

const SCRAM_SALT_BYTES = 24

/** The user's SCRAM verifiers for both mechanisms, bound to the password line's salt. */
const scramEntries = (username: string, password: string, passwordSalt: Buffer): Array<ScramEntry> =>
  ScramMechanism.literals.map((mechanism) => {
    const v = deriveVerifierSync(hashOf(mechanism), password, randomBytes(SCRAM_SALT_BYTES), MIN_ITERATIONS)
    return {
      username,
      mechanism,
      iterations: v.iterations,
      salt: v.salt.toString("base64"),
      storedKey: v.storedKey.toString("base64"),
      serverKey: v.serverKey.toString("base64"),
      passwordSalt: passwordSalt.toString("base64")
    }
  })

/** Runs the command; succeeds with the line to print. */
export const passwd = (
  options: PasswdOptions,
  readPassword: Effect.Effect<string, PasswdError> = readPasswordLine
): Effect.Effect<string, PasswdError> =>
  Effect.gen(function*() {
    const { file, username } = options
    const badName = invalidUsername(username)
    if (badName !== undefined) return yield* fail(badName)
    const iterations = parseIterations(options.iterations)
    if (typeof iterations === "string") return yield* fail(iterations)
    if (options.delete && options.password !== undefined) return yield* fail("--delete takes no --password")
    const existing = yield* readExisting(file, options.delete)
    const parsed = parsePasswordFile(existing.text)
    if (parsed._tag === "Invalid") return yield* fail(`${describeLineErrors(file, parsed.errors)}: fix the file first`)
    const scramFile = scramFileOf(file)
    const sidecar = yield* readExisting(scramFile, false)
    const parsedScram = parseScramFile(sidecar.text)
    if (parsedScram._tag === "Invalid") return yield* fail(`${describeLineErrors(scramFile, parsedScram.errors)}: fix or delete that line first`)
    let hash: string | null = null
    let scram: Array<ScramEntry> = []
    if (!options.delete) {
      const password = options.password ?? (yield* readPassword)
      if (password === "") return yield* fail("the password is empty: pass --password or write it on stdin")
      if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return yield* fail(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`)
      const salt = randomBytes(SALT_BYTES)
      hash = hashPassword(password, iterations, salt)
      scram = scramEntries(username, password, salt)
    }
    const edited = setPasswordLine(existing.text, username, hash)
    if (edited.change === "absent") return yield* fail(`user "${username}" is not in ${file}`)
    const scramText = setScramLines(sidecar.text, username, scram)
    // Deleting a user of a password file without a sidecar creates none.
    if (scramText !== sidecar.text && !(options.delete && sidecar.text === "")) yield* writeAtomically(scramFile, scramText, sidecar.mode)
    yield* writeAtomically(file, edited.text, existing.mode)
    const what = edited.change === "deleted" ? `deleted from` : edited.change === "added" ? "added to" : "updated in"
    const verifiers = options.delete ? "" : ` (SCRAM verifiers in ${scramFile})`
    return `user "${username}" ${what} ${file}${verifiers}; send SIGHUP to the broker (or restart it) to apply`
  })
