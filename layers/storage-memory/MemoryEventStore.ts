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
  const streams = new Map<string, Array<RecordedEvent>>()
  const all: Array<RecordedEvent> = []
  const snapshots = new Map<string, Snapshot>()

  const append = (stream: string, events: ReadonlyArray<EventData>, expectedVersion: number) =>
    Effect.suspend(() => {
      const list = streams.get(stream)
      const current = list === undefined ? 0 : list.length
      if (expectedVersion !== -1 && expectedVersion !== current) {
        return Effect.fail(new VersionConflict({ stream, expected: expectedVersion, actual: current }))
      }
      // Encode everything before touching state, so a bad event appends nothing.
      const data = events.map((e) => jsonCopy(e.data))
      if (events.length === 0) return Effect.succeed(current)
      const target = list ?? []
      if (list === undefined) streams.set(stream, target)
      const recordedAt = clock.unsafeCurrentTimeMillis()
      for (let i = 0; i < events.length; i++) {
        const recorded: RecordedEvent = {
          stream,
          version: current + i + 1,
          position: all.length + 1,
          type: events[i]!.type,
          data: data[i],
          recordedAt
        }
        target.push(recorded)
        all.push(recorded)
      }
      return Effect.succeed(target.length)
    })

  const readStream = (stream: string, fromVersion = 1) =>
    Effect.sync((): ReadonlyArray<RecordedEvent> => (streams.get(stream) ?? []).slice(Math.max(0, fromVersion - 1)))

  const readAll = (afterPosition = 0) =>
    Effect.sync((): ReadonlyArray<RecordedEvent> => all.slice(Math.max(0, afterPosition)))

  const saveSnapshot = (name: string, snapshot: Snapshot) =>
    Effect.sync(() => {
      snapshots.set(name, { position: snapshot.position, data: jsonCopy(snapshot.data) })
    })

  const loadSnapshot = (name: string) => Effect.sync(() => snapshots.get(name))

  return EventStore.of({ append, readStream, readAll, saveSnapshot, loadSnapshot })
})

export const layer: Layer.Layer<EventStore> = Layer.effect(EventStore, make)
