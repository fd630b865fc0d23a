/**
 * Reads the configured auth files and parses them into the declared state (domain/auth/decide.ts).
 * A problem is one line naming the file, the line and the fix: at boot it stops the broker, on a
 * reload it is logged and the previous state is kept.
 */
import { readFile } from "node:fs/promises"
import { Data, Effect } from "effect"
import type { AuthConfig } from "../../config/BrokerConfigShape.js"
import { parseAclFile } from "../../domain/auth/aclFile.js"
import type { DeclaredAuth } from "../../domain/auth/decide.js"
import { describeLineErrors } from "../../domain/auth/LineError.js"
import { parsePasswordFile } from "../../domain/auth/passwordFile.js"
import { parseScramFile, type ScramEntry } from "../../domain/auth/scramFile.js"

/** One line, for an operator: which file, which line, what is wrong. */
export class AuthFileError extends Data.TaggedError("AuthFileError")<{ readonly message: string }> {}

const readText = (file: string, key: string): Effect.Effect<string, AuthFileError> =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException | undefined)?.code
      const hint = code === "EACCES" || code === "EPERM" ? "make it readable by the broker's user" : `check auth.${key}`
      return new AuthFileError({ message: `cannot read auth.${key} ${file}${code === undefined ? "" : ` (${code})`}: ${hint}` })
    }
  })

export const readPasswordFile = (file: string) =>
  Effect.flatMap(readText(file, "password_file"), (text) => {
    const parsed = parsePasswordFile(text)
    return parsed._tag === "Parsed"
      ? Effect.succeed(parsed.value)
      : Effect.fail(new AuthFileError({ message: `invalid password file ${describeLineErrors(file, parsed.errors)}` }))
  })

export const readAclFile = (file: string) =>
  Effect.flatMap(readText(file, "acl_file"), (text) => {
    const parsed = parseAclFile(text)
    return parsed._tag === "Parsed"
      ? Effect.succeed(parsed.value)
      : Effect.fail(new AuthFileError({ message: `invalid ACL file ${describeLineErrors(file, parsed.errors)}` }))
  })

/** Where `robustmq passwd` keeps a password file's SCRAM verifiers (domain/auth/scramFile.ts). */
export const scramFileOf = (passwordFile: string): string => `${passwordFile}.scram`

/** The SCRAM sidecar of `passwordFile`; none yet (users set by mosquitto_passwd only) is no entries. */
export const readScramFile = (passwordFile: string): Effect.Effect<ReadonlyArray<ScramEntry>, AuthFileError> => {
  const file = scramFileOf(passwordFile)
  return Effect.tryPromise({ try: () => readFile(file, "utf8"), catch: (cause) => cause }).pipe(
    Effect.catchAll((cause) => {
      const code = (cause as NodeJS.ErrnoException | undefined)?.code
      if (code === "ENOENT") return Effect.succeed("")
      return Effect.fail(new AuthFileError({ message: `cannot read the SCRAM file ${file}${code === undefined ? "" : ` (${code})`}: make it readable by the broker's user` }))
    }),
    Effect.flatMap((text) => {
      const parsed = parseScramFile(text)
      return parsed._tag === "Parsed"
        ? Effect.succeed(parsed.value)
        : Effect.fail(new AuthFileError({ message: `invalid SCRAM file ${describeLineErrors(file, parsed.errors)}: run \`robustmq passwd\` for that user again, or delete the line` }))
    })
  )
}

/** What the configured files declare; a file that is not configured declares nothing (null). */
export const readDeclared = (config: AuthConfig): Effect.Effect<DeclaredAuth, AuthFileError> =>
  Effect.all({
    users: config.passwordFile === "" ? Effect.succeed(null) : readPasswordFile(config.passwordFile),
    acl: config.aclFile === "" ? Effect.succeed(null) : readAclFile(config.aclFile),
    scram: config.passwordFile === "" ? Effect.succeed(null) : readScramFile(config.passwordFile)
  })
