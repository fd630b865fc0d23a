/**
 * The primary's coordination on disk (`--workers N` without etcd): what outlives members
 * survives a restart of the primary, the file is rewritten compactly, and a watch from a
 * revision older than the kept history is refused so the watcher lists again.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { makeWith } from "../../layers/coordination/memory.js"
import { fileJournal } from "../../src/cluster/workers/coordinationJournal.js"

describe("the primary's coordination journal", () => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-journal-"))
  const path = join(dir, "coordination.jsonl")
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("keeps ownerships, guarded writes and stream appends across a restart; leased keys go", async () => {
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const { service } = yield* makeWith({ journal: fileJournal(path) })
      const membership = yield* service.join({ id: "w0", address: "x" }, 5)
      yield* membership.write([{ key: "routes/w0/a", value: "t/#" }])
      const mine = yield* service.claim("sessions/c1", "w0", 0)
      expect(yield* service.writeIfOwned("sessions/c1", mine, [{ key: "subs/c1", value: `{"subs":1}` }])).toBe(true)
      yield* service.claim("sessions/gone", "w0", 0)
      yield* service.writeIfOwned("sessions/gone", { owner: "w0", epoch: 1 }, [], true)
      expect(yield* service.appendIfVersion("bans", 0, ["e1", "e2"])).toBe(2)
    })))
    await Effect.runPromise(Effect.gen(function*() {
      const { service } = yield* makeWith({ journal: fileJournal(path) })
      expect(yield* service.ownerOf("sessions/c1")).toEqual({ owner: "w0", epoch: 1 })
      expect(yield* service.ownerOf("sessions/gone")).toBeNull()
      expect(yield* service.get("subs/c1")).toBe(`{"subs":1}`)
      expect(yield* service.get("routes/w0/a")).toBeNull() // it lived on w0's lease
      // The stream goes on from version 2: a stale append conflicts, the next one lands.
      expect((yield* Effect.flip(service.appendIfVersion("bans", 0, ["x"])))._tag).toBe("StreamVersionConflict")
      expect(yield* service.appendIfVersion("bans", 2, ["e3"])).toBe(3)
    }))
    // Rewritten at start: one line per live key (plus what came after).
    const lines = readFileSync(path, "utf8").trim().split("\n")
    expect(lines.filter((l) => l.includes("sessions/gone"))).toEqual([])
  })

  it("refuses a watch from a revision older than the kept history", async () => {
    await Effect.runPromise(Effect.gen(function*() {
      const { service } = yield* makeWith({ maxHistory: 3 })
      for (let i = 0; i < 10; i++) {
        const o = yield* service.claim(`k${i}`, "n", 0)
        yield* service.writeIfOwned(`k${i}`, o, [{ key: `v/${i}`, value: "x" }])
      }
      const old = yield* Effect.flip(service.watch("v/", 1).pipe(Stream.take(1), Stream.runCollect))
      expect(old.message).toMatch(/compacted/)
      const { revision } = yield* service.list("v/")
      const fresh = yield* service.watch("v/", revision).pipe(Stream.take(0), Stream.runCollect)
      expect([...fresh]).toEqual([])
    }))
  })
})
