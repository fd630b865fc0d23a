/**
 * The contract every EventStore passes (memory, SQLite, later segment files). Register it with
 * `eventStoreContract(name, layer)` from a *.test.ts file; the layer is built once per suite, so
 * every test uses fresh stream names.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Either, type Layer } from "effect"
import { EventStore, type EventData } from "../../services/EventStore.js"
import { VersionConflict } from "../../services/errors.js"

export interface EventStoreContractOptions {
  /** Transactions committed so far by the store's backend, when it has them. */
  readonly transactions?: () => number
}

let counter = 0
const freshStream = (prefix = "session") => `${prefix}-${process.pid}-${counter++}`

const event = (n: number): EventData => ({ type: "Happened", data: { n, nested: { list: [n, "x"] } } })

export const eventStoreContract = (
  name: string,
  storeLayer: Layer.Layer<EventStore, unknown>,
  options: EventStoreContractOptions = {}
) => {
  layer(storeLayer)(`EventStore contract: ${name}`, (it) => {
    it.effect("appends and reads a stream back with 1-based versions", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const s = freshStream()
        expect(yield* store.append(s, [event(1), event(2)], 0)).toBe(2)
        expect(yield* store.append(s, [event(3)], 2)).toBe(3)
        const read = yield* store.readStream(s)
        expect(read.map((e) => e.version)).toEqual([1, 2, 3])
        expect(read.map((e) => e.data)).toEqual([1, 2, 3].map((n) => event(n).data))
        expect(read.every((e) => e.stream === s && e.type === "Happened" && typeof e.recordedAt === "number")).toBe(true)
        expect((yield* store.readStream(s, 2)).map((e) => e.version)).toEqual([2, 3])
        expect(yield* store.readStream(freshStream())).toEqual([])
      }))

    it.effect("prunes events of the given types up to a position, keeping each stream's newest", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const s = freshStream()
        const t = freshStream()
        const typed = (type: string, n: number) => ({ type, data: { n } })
        yield* store.append(s, [typed("Checkpoint", 1), typed("Kept", 2), typed("Checkpoint", 3)], 0)
        yield* store.append(t, [typed("Checkpoint", 4)], 0)
        const upTo = Math.max(...(yield* store.readStream(t)).map((e) => e.position))
        const removed = yield* store.prune(["Checkpoint"], upTo)
        expect(removed).toBe(1) // s@1; s@3 and t@1 are their streams' newest
        expect((yield* store.readStream(s)).map((e) => e.version)).toEqual([2, 3])
        expect((yield* store.readStream(t)).map((e) => e.version)).toEqual([1])
        const all = (yield* store.readAll()).filter((e) => e.stream === s || e.stream === t)
        expect(all.map((e) => [e.stream === s ? "s" : "t", e.version])).toEqual([["s", 2], ["s", 3], ["t", 1]])
        expect(yield* store.append(s, [typed("Kept", 5)], 3)).toBe(4) // versions go on
      }))

    it.effect("an empty append changes nothing and returns the current version", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const s = freshStream()
        expect(yield* store.append(s, [], 0)).toBe(0)
        yield* store.append(s, [event(1)], 0)
        expect(yield* store.append(s, [], -1)).toBe(1)
        expect((yield* store.readStream(s)).length).toBe(1)
      }))

    it.effect("rejects a wrong expected version with VersionConflict(expected, actual)", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const s = freshStream()
        yield* store.append(s, [event(1)], 0)
        const again = yield* Effect.flip(store.append(s, [event(2)], 0))
        expect(again).toBeInstanceOf(VersionConflict)
        expect(again).toMatchObject({ _tag: "VersionConflict", stream: s, expected: 0, actual: 1 })
        const ahead = yield* Effect.flip(store.append(s, [event(2)], 5))
        expect(ahead).toMatchObject({ stream: s, expected: 5, actual: 1 })
        const missing = yield* Effect.flip(store.append(freshStream(), [event(1)], 3))
        expect(missing).toMatchObject({ expected: 3, actual: 0 })
        expect(yield* store.append(s, [event(2)], -1)).toBe(2)
        expect((yield* store.readStream(s)).map((e) => e.version)).toEqual([1, 2])
      }))

    it.effect("readAll returns every stream in global order, after a position", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const before = yield* store.readAll()
        const start = before.length === 0 ? 0 : before[before.length - 1]!.position
        const a = freshStream("a")
        const b = freshStream("b")
        yield* store.append(a, [event(1)], 0)
        yield* store.append(b, [event(2), event(3)], 0)
        yield* store.append(a, [event(4)], 1)
        const all = yield* store.readAll(start)
        expect(all.map((e) => [e.stream, e.version, (e.data as { n: number }).n])).toEqual([
          [a, 1, 1],
          [b, 1, 2],
          [b, 2, 3],
          [a, 2, 4]
        ])
        const positions = all.map((e) => e.position)
        expect(positions).toEqual(positions.map((_, i) => start + 1 + i))
        expect((yield* store.readAll(positions[1]!)).map((e) => e.position)).toEqual(positions.slice(2))
        expect(yield* store.readAll(positions[3]!)).toEqual([])
      }))

    it.effect("saves, loads and overwrites snapshots", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const name = freshStream("projection")
        expect(yield* store.loadSnapshot(name)).toBeUndefined()
        yield* store.saveSnapshot(name, { position: 7, data: { sessions: ["a", "b"] } })
        expect(yield* store.loadSnapshot(name)).toEqual({ position: 7, data: { sessions: ["a", "b"] } })
        yield* store.saveSnapshot(name, { position: 9, data: { sessions: [] } })
        expect(yield* store.loadSnapshot(name)).toEqual({ position: 9, data: { sessions: [] } })
      }))

    it.effect("concurrent appends to one stream get unique, dense versions", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const s = freshStream()
        const versions = yield* Effect.all(
          Array.from({ length: 50 }, (_, i) => store.append(s, [event(i), event(i)], -1)),
          { concurrency: "unbounded" }
        )
        expect([...versions].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * (i + 1)))
        const read = yield* store.readStream(s)
        expect(read.map((e) => e.version)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
        // Each append stays contiguous: both events of one append carry the same payload.
        for (let i = 0; i < 100; i += 2) expect(read[i]!.data).toEqual(read[i + 1]!.data)
      }))

    it.effect("concurrent appends expecting the same version: exactly one wins", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const s = freshStream()
        yield* store.append(s, [event(0)], 0)
        const results = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => Effect.either(store.append(s, [event(i)], 1))),
          { concurrency: "unbounded" }
        )
        expect(results.filter(Either.isRight).map((r) => r.right)).toEqual([2])
        const conflicts = results.filter(Either.isLeft).map((r) => r.left)
        expect(conflicts).toHaveLength(19)
        expect(conflicts.every((e) => e._tag === "VersionConflict" && e.expected === 1 && e.actual === 2)).toBe(true)
      }))

    if (options.transactions !== undefined) {
      const transactions = options.transactions
      it.effect("group commit: many concurrent appends share one transaction", () =>
        Effect.gen(function* () {
          const store = yield* EventStore
          const before = transactions()
          const streams = Array.from({ length: 100 }, () => freshStream("group"))
          const versions = yield* Effect.all(streams.map((s) => store.append(s, [event(1)], 0)), {
            concurrency: "unbounded"
          })
          expect(versions).toEqual(streams.map(() => 1))
          const used = transactions() - before
          expect(used).toBeGreaterThanOrEqual(1)
          expect(used).toBeLessThanOrEqual(2)
        }))
    }
  })
}
