/**
 * `robustmq events dump --data-dir D [--stream S] [--from POSITION] [--output json]`: prints the
 * control-event log of a stopped broker's data directory (storedEvents.ts), one event a line,
 * secrets redacted. Needs no running broker and no API.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { outputOption } from "./AdminClient.js"
import { eventJson, eventLine } from "./output.js"
import { openStoredEvents, StoredEventsError } from "./storedEvents.js"
import { writeLines } from "./writeLines.js"

const dataDir = Options.text("data-dir").pipe(
  Options.withPseudoName("DIR"),
  Options.withDescription("the broker's data directory (storage.data_dir); meant for a stopped broker")
)
export const streamOption = Options.text("stream").pipe(
  Options.withPseudoName("STREAM"),
  Options.withDescription("only this stream: acl, topics, bans, session-<client id>, group-<group id>, ..."),
  Options.optional
)
const from = Options.text("from").pipe(
  Options.withPseudoName("POSITION"),
  Options.withDescription("only events at or after this global position"),
  Options.optional
)

const parsePosition = (text: string): Effect.Effect<number, Error> =>
  /^\d+$/.test(text.trim())
    ? Effect.succeed(Number(text.trim()))
    : Effect.fail(new Error(`--from must be an event position (a whole number, 1 or more), got ${JSON.stringify(text)}`))

export const dump = Command.make("dump", { dataDir, stream: streamOption, from, output: outputOption }, (flags) =>
  Effect.gen(function*() {
    const fromPosition = Option.isSome(flags.from) ? yield* parsePosition(flags.from.value) : undefined
    const stored = yield* Effect.try({
      try: () => openStoredEvents(flags.dataDir, { stream: Option.getOrUndefined(flags.stream), fromPosition }),
      catch: (e) => (e instanceof StoredEventsError ? e : new Error(String(e)))
    })
    yield* Effect.ensuring(
      Effect.suspend(() => {
        const lines = function*() {
          for (const e of stored.events) yield flags.output === "json" ? JSON.stringify(eventJson(e)) : eventLine(e, stored.widths)
        }
        return writeLines(lines())
      }),
      Effect.sync(stored.close)
    )
  })).pipe(Command.withDescription(
    "Print the control-event log of a stopped broker's data directory (sqlite or segment storage): position, time, stream, type, data; secrets redacted"
  ))
