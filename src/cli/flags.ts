/**
 * Flag helpers shared by the admin commands: failures name the flag and the value, in one line
 * (@effect/cli's own choice and integer errors name neither).
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect } from "effect"

/** An optional text flag with a pseudo name and a description. */
export const optionalText = (name: string, pseudo: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(pseudo), Options.withDescription(description), Options.optional)

/**
 * `--NAME` taking one of `choices`; a wrong value fails naming the flag and the value
 * (@effect/cli's own choice error names neither).
 */
export const choice = <const C extends string>(name: string, choices: ReadonlyArray<C>, description: string) =>
  Options.text(name).pipe(
    Options.withPseudoName(choices.join("|")),
    Options.withDescription(description),
    Options.mapEffect((value) =>
      (choices as ReadonlyArray<string>).includes(value)
        ? Effect.succeed(value as C)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(
          `--${name} must be ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}, got ${JSON.stringify(value)}`
        ))))
  )

/** An optional `choice` (a filter on an enumerated field). */
export const optionalChoice = <const C extends string>(name: string, choices: ReadonlyArray<C>, description: string) =>
  choice(name, choices, description).pipe(Options.optional)

/** `--NAME N` as a whole number of at least `min`. */
export const wholeNumber = (flag: string, text: string, min = 1): Effect.Effect<number, Error> =>
  /^\d+$/.test(text.trim()) && Number(text.trim()) >= min
    ? Effect.succeed(Number(text.trim()))
    : Effect.fail(new Error(`--${flag} must be a whole number of ${min} or more, got ${JSON.stringify(text)}`))


/** Repeated `--FLAG NAME=VALUE` as a record (undefined when none was given). */
export const nameValuePairs = (flag: string, pairs: ReadonlyArray<string>): Effect.Effect<Record<string, string> | undefined, Error> =>
  Effect.suspend(() => {
    if (pairs.length === 0) return Effect.succeed(undefined)
    const out: Record<string, string> = {}
    for (const pair of pairs) {
      const eq = pair.indexOf("=")
      if (eq <= 0) return Effect.fail(new Error(`--${flag} must be NAME=VALUE, got ${JSON.stringify(pair)}`))
      out[pair.slice(0, eq)] = pair.slice(eq + 1)
    }
    return Effect.succeed(out)
  })
