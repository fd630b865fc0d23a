/**
 * `robustmq events tail [--stream S]`: follows the live control-event log over the admin API's
 * Server-Sent Events route and prints each event as `events dump` does (output.ts), until
 * Ctrl-C (exit 0) or the broker closes the stream (exit 1, saying so). Parsing is
 * @effect/experimental's SSE parser, the counterpart of the server's encoder.
 */
import { Command, Options } from "@effect/cli"
import * as Sse from "@effect/experimental/Sse"
import { Effect, Option } from "effect"
import type { RecordedEvent } from "../../services/EventStore.js"
import { AdminError, type Connection, connectionOptions, send } from "./AdminClient.js"
import { streamOption } from "./eventsDump.js"
import { wholeNumber } from "./flags.js"
import { eventJson, eventLine, type OutputFormat } from "./output.js"

/** The live tail route under /api/v1. */
export const TAIL_PATH = "/events/stream"

const from = Options.text("from").pipe(
  Options.withPseudoName("POSITION"),
  Options.withDescription("start after this global position (0: the whole log first); default: from now"),
  Options.optional
)

/** A tail message's event, when it has the RecordedEvent fields (other messages are skipped). */
export const recordedEventOf = (data: string): RecordedEvent | undefined => {
  let e: Partial<Omit<RecordedEvent, "recordedAt">> & { readonly recordedAt?: unknown }
  try {
    e = JSON.parse(data) as typeof e
  } catch {
    return undefined
  }
  if (typeof e?.position !== "number" || typeof e.stream !== "string" || typeof e.type !== "string") return undefined
  const recordedAt = typeof e.recordedAt === "number" ? e.recordedAt : typeof e.recordedAt === "string" ? Date.parse(e.recordedAt) : Number.NaN
  return { position: e.position, stream: e.stream, type: e.type, version: e.version ?? 0, data: e.data, recordedAt }
}

/** Column widths for lines whose longest values are not known in advance: most lines stay aligned. */
const TAIL_WIDTHS = { position: 6, stream: 20, type: 20 }

const formatEvent = (output: OutputFormat, e: RecordedEvent): string =>
  output === "json" ? JSON.stringify(eventJson(e)) : eventLine(e, TAIL_WIDTHS)

/** Reads the SSE body until it ends or the fiber is interrupted (which aborts the request). */
const follow = (connection: Connection, output: OutputFormat, streamName: string | undefined, fromPosition: number | undefined) =>
  Effect.gen(function*() {
    const abort = new AbortController()
    const response = yield* send(connection, "GET", TAIL_PATH, {
      query: { stream: streamName, from: fromPosition },
      accept: "text/event-stream",
      signal: abort.signal
    })
    const body = response.body
    if (body === null) return yield* Effect.fail(new AdminError("the event tail answered with no body"))
    const lines: Array<string> = []
    const parser = Sse.makeParser((event) => {
      if (event._tag !== "Event") return
      const recorded = recordedEventOf(event.data)
      if (recorded !== undefined) lines.push(formatEvent(output, recorded))
    })
    const reader = body.pipeThrough(new TextDecoderStream()).getReader()
    return yield* Effect.async<void, AdminError>((resume) => {
      const pump = async () => {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return resume(Effect.fail(new AdminError(`the broker at ${connection.url} closed the event tail (shutting down?)`)))
          const error = parser.feed(value)
          if (error !== undefined) return resume(Effect.fail(new AdminError(`the event tail sent an event too large to read: ${error.message}`)))
          if (lines.length > 0) process.stdout.write(lines.splice(0).map((l) => l + "\n").join(""))
        }
      }
      pump().catch((e: unknown) => {
        if (!abort.signal.aborted) resume(Effect.fail(new AdminError(`the event tail broke off: ${e instanceof Error ? e.message : String(e)}`)))
      })
      return Effect.sync(() => abort.abort())
    })
  })

export const tail = Command.make("tail", { ...connectionOptions, stream: streamOption, from }, (flags) =>
  Effect.flatMap(
    Option.isSome(flags.from) ? Effect.asSome(wholeNumber("from", flags.from.value, 0)) : Effect.succeedNone,
    (position) => follow(flags, flags.output, Option.getOrUndefined(flags.stream), Option.getOrUndefined(position))
  )).pipe(Command.withDescription("Follow the control-event log live (Server-Sent Events) until Ctrl-C; one line per event, as `events dump`"))
