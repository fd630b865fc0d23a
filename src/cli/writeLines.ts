/**
 * Writes many lines to stdout in chunks, waiting for each chunk to be taken, so a dump of a long
 * event log neither builds one huge string nor floods the pipe's buffer. Stops quietly when the
 * reader goes away (`robustmq events dump | head`).
 */
import { Effect } from "effect"

const CHUNK = 64 * 1024

const write = (text: string) =>
  Effect.async<boolean>((resume) => {
    if (process.stdout.destroyed) return resume(Effect.succeed(false))
    process.stdout.write(text, (error) => resume(Effect.succeed(error === undefined || error === null)))
  })

/** Each line of `lines` followed by a newline; false when stdout closed early. */
export const writeLines = (lines: Iterable<string>): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    let chunk = ""
    for (const line of lines) {
      chunk += line + "\n"
      if (chunk.length >= CHUNK) {
        if (!(yield* write(chunk))) return false
        chunk = ""
      }
    }
    return chunk === "" ? true : yield* write(chunk)
  })
