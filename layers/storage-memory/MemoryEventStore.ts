/**
 * EventStore held in memory: one array per stream plus one global array, snapshots in a Map.
 * For tests and development; nothing survives the layer's scope. Event data and snapshots are
 * copied through JSON on the way in, so callers see the same values (and the same failures on
 * data that is not JSON) as with a persistent store. It must never hand out its own arrays.
 */
import { Effect, Layer } from "effect"
import { EventStore, type EventData, type RecordedEvent, type Snapshot } from "../../services/EventStore.js"
import { VersionConflict } from "../../services/errors.js"

/** JSON copy; `undefined` becomes null, as it would after a round trip through storage. */
const jsonCopy = (data: unknown): unknown => {
  const text = JSON.stringify(data)
  return text === undefined ? null : JSON.parse(text)
}

export const make: Effect.Effect<EventStore["Type"]> = Effect.gen(function* () {
  const clock = yield* Effect.clock
  /** Per stream: its version (events may have been pruned) and its remaining events. */
  const streams = new Map<string, { version: number; events: Array<RecordedEvent> }>()
  let all: Array<RecordedEvent> = []
  let nextPosition = 1
  const snapshots = new Map<string, Snapshot>()

  const append = (stream: string, events: ReadonlyArray<EventData>, expectedVersion: number) =>
    Effect.suspend(() => {
      const entry = streams.get(stream)
      const current = entry === undefined ? 0 : entry.version
      if (expectedVersion !== -1 && expectedVersion !== current) {
        return Effect.fail(new VersionConflict({ stream, expected: expectedVersion, actual: current }))
      }
      // Encode everything before touching state, so a bad event appends nothing.
      const data = events.map((e) => jsonCopy(e.data))
      if (events.length === 0) return Effect.succeed(current)
      const target = entry ?? { version: 0, events: [] }
      if (entry === undefined) streams.set(stream, target)
      const recordedAt = clock.unsafeCurrentTimeMillis()
      for (let i = 0; i < events.length; i++) {
        const recorded: RecordedEvent = {
          stream,
          version: current + i + 1,
          position: nextPosition++,
          type: events[i]!.type,
          data: data[i],
          recordedAt
        }
        target.events.push(recorded)
        all.push(recorded)
      }
      target.version = current + events.length
      return Effect.succeed(target.version)
    })

  const readStream = (stream: string, fromVersion = 1) =>
    Effect.sync((): ReadonlyArray<RecordedEvent> => (streams.get(stream)?.events ?? []).filter((e) => e.version >= fromVersion))

  const readAll = (afterPosition = 0, limit = -1) =>
    Effect.sync((): ReadonlyArray<RecordedEvent> => {
      const first = all.findIndex((e) => e.position > afterPosition)
      return first === -1 ? [] : all.slice(first, limit < 0 ? undefined : first + limit)
    })

  const prune = (types: ReadonlyArray<string>, upToPosition: number) =>
    Effect.sync(() => {
      const drop = new Set(types)
      // A stream's newest event stays (as in SQLite, where it carries the stream's version).
      const keep = (e: RecordedEvent) =>
        !(e.position <= upToPosition && drop.has(e.type) && e.version < streams.get(e.stream)!.version)
      const before = all.length
      all = all.filter(keep)
      for (const entry of streams.values()) entry.events = entry.events.filter(keep)
      return before - all.length
    })

  const saveSnapshot = (name: string, snapshot: Snapshot) =>
    Effect.sync(() => {
      snapshots.set(name, { position: snapshot.position, data: jsonCopy(snapshot.data) })
    })

  const loadSnapshot = (name: string) => Effect.sync(() => snapshots.get(name))
  const lastPosition = Effect.sync(() => all.at(-1)?.position ?? 0)

  return EventStore.of({ append, readStream, readAll, lastPosition, saveSnapshot, loadSnapshot, prune })
})

export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make)
