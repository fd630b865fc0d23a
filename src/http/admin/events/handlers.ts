/** Paging and tailing the event store; secrets in auth events never leave the broker. */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Deferred, Effect, Stream } from "effect"
import { EventStore, type RecordedEvent } from "../../../../services/EventStore.js"
import { BrokerApi } from "../../Api.js"
import { BrokerHandle, withBroker } from "../BrokerHandle.js"
import { ServerError } from "../errors.js"
import { DEFAULT_LIMIT } from "../paging.js"
import { ControlEvent } from "./api.js"

/** Fields no operator needs to see: password hashes, SCRAM salts and keys. */
const SECRET_FIELDS = new Set(["passwordHash", "salt", "storedKey", "serverKey", "hash"])

export const redact = (data: unknown): unknown => {
  if (Array.isArray(data)) return data.map(redact)
  if (data === null || typeof data !== "object") return data
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(data)) out[k] = SECRET_FIELDS.has(k) ? "<redacted>" : redact(v)
  return out
}

const eventOf = (e: RecordedEvent): ControlEvent =>
  new ControlEvent({ position: e.position, stream: e.stream, version: e.version, type: e.type, recordedAt: new Date(e.recordedAt).toISOString(), data: redact(e.data) })

const filterOf = (q: { readonly stream?: string | undefined; readonly prefix?: string | undefined }) => (e: RecordedEvent) =>
  (q.stream === undefined || e.stream === q.stream) && (q.prefix === undefined || e.stream.startsWith(q.prefix))

/** Read this many at a time; a filtered page scans at most SCAN_PAGES of them before answering. */
const CHUNK = 500
const SCAN_PAGES = 20
const POLL_MS = 250
const HEARTBEAT_MS = 15_000

const storageFailed = (e: { readonly message: string }) => new ServerError({ message: `the event store could not be read: ${e.message}` })

const sseFrame = (e: ControlEvent): string => `id: ${e.position}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`

/**
 * Events after `from` until the broker stops (`stopping`: then the response ends at once, so a
 * shutdown is not held up by open tails): polled every POLL_MS (at once again when a read came
 * back full), with a comment line every HEARTBEAT_MS so proxies keep the connection open.
 */
const tail = (store: EventStore["Type"], from: number, keep: (e: RecordedEvent) => boolean, stopping: Deferred.Deferred<void>): Stream.Stream<string> => {
  let last = from
  let full = false
  const poll = Effect.gen(function*() {
    if (!full) yield* Effect.sleep(POLL_MS)
    const events = yield* store.readAll(last, CHUNK).pipe(Effect.orElseSucceed((): ReadonlyArray<RecordedEvent> => []))
    full = events.length === CHUNK
    if (events.length > 0) last = events[events.length - 1]!.position
    return events.filter(keep).map((e) => sseFrame(eventOf(e))).join("")
  })
  const heartbeat = Stream.repeatEffect(Effect.as(Effect.sleep(HEARTBEAT_MS), ": keepalive\n\n"))
  return Stream.concat(Stream.make(": tailing the control-event log\n\n"), Stream.merge(Stream.repeatEffect(poll), heartbeat)).pipe(
    Stream.filter((text) => text !== ""),
    Stream.interruptWhen(Deferred.await(stopping))
  )
}

export const EventsLive = HttpApiBuilder.group(BrokerApi, "events", (handlers) =>
  handlers
    .handle("list", ({ urlParams: q }) =>
      withBroker(Effect.gen(function*() {
        const store = yield* EventStore
        const limit = q.limit ?? DEFAULT_LIMIT
        const keep = filterOf(q)
        const items: Array<ControlEvent> = []
        let position = q.from ?? 0
        for (let pages = 0; pages < SCAN_PAGES && items.length < limit; pages++) {
          const events = yield* Effect.mapError(store.readAll(position, CHUNK), storageFailed)
          for (const e of events) {
            if (items.length === limit) break
            position = e.position
            if (keep(e)) items.push(eventOf(e))
          }
          if (events.length < CHUNK && items.length < limit) return { items, next: null }
        }
        return { items, next: String(position) }
      })))
    .handleRaw("tail", ({ request, urlParams: q }) =>
      withBroker(Effect.gen(function*() {
        const store = yield* EventStore
        const handle = yield* BrokerHandle
        const resume = Number(request.headers["last-event-id"])
        const from = Number.isInteger(resume) && resume >= 0 ? resume : q.from ?? (yield* Effect.orElseSucceed(store.lastPosition, () => 0))
        return HttpServerResponse.stream(Stream.encodeText(tail(store, from, filterOf(q), handle.stopping)), {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      }))))
