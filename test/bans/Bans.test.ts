/** The Bans service over the memory event store: add, check, list, remove, expiry on the clock, enforcers, replay. */
import { expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, TestClock } from "effect"
import type { Ban } from "../../domain/ban/BanState.js"
import type { PageOf } from "../../src/http/admin/paging.js"
import { BANS_STREAM } from "../../domain/ban/events.js"
import * as MemoryEventStore from "../../layers/storage-memory/MemoryEventStore.js"
import { EventStore } from "../../services/EventStore.js"
import * as BansLive from "../../src/bans/Bans.js"
import { Bans } from "../../src/bans/Bans.js"

const memory = BansLive.layer.pipe(Layer.provideMerge(MemoryEventStore.layer))

layer(memory)("Bans (memory)", (it) => {
  it.effect("a ban is checked at once, listed, and removed", () =>
    Effect.gen(function*() {
      const bans = yield* Bans
      const { ban, disconnected } = yield* bans.add({ kind: "ip", value: "10.0.0.0/8", reason: "scanner", by: "test" })
      expect(ban).toMatchObject({ kind: "ip", value: "10.0.0.0/8", until: null, reason: "scanner", by: "test" })
      expect(disconnected).toBe(0)
      expect(bans.hasAddressBans()).toBe(true)
      expect(bans.isAddressBanned("10.2.3.4")?.value).toBe("10.0.0.0/8")
      expect(bans.isBanned("any", undefined, "::ffff:10.2.3.4")?.reason).toBe("scanner")
      expect(bans.isBanned("any", undefined, "192.0.2.1")).toBeNull()
      expect((yield* bans.list()).items.map((b) => b.value)).toContain("10.0.0.0/8")
      yield* bans.remove("ip", "10.0.0.0/8")
      expect(bans.isAddressBanned("10.2.3.4")).toBeNull()
      expect(bans.hasAddressBans()).toBe(false)
      const store = yield* EventStore
      expect((yield* store.readStream(BANS_STREAM)).map((r) => r.type)).toEqual(["BanAdded", "BanRemoved"])
    }))

  it.effect("removing a ban not in force fails with BanNotFound; bad input with InvalidBan", () =>
    Effect.gen(function*() {
      const bans = yield* Bans
      const missing = yield* Effect.flip(bans.remove("clientid", "never-banned"))
      expect(missing._tag).toBe("BanNotFound")
      expect(missing.message).toMatch(/no clientid ban of "never-banned" is in force/)
      const invalid = yield* Effect.flip(bans.add({ kind: "ip", value: "300.1.1.1" }))
      expect(invalid._tag).toBe("InvalidBan")
      expect(invalid.message).toMatch(/not an IP address or CIDR range/)
      expect(yield* Effect.flip(bans.remove("ip", "nonsense"))).toMatchObject({ _tag: "InvalidBan" })
    }))

  it.effect("a timed ban runs out on the clock: inert and unlisted, and can then be added again", () =>
    Effect.gen(function*() {
      const bans = yield* Bans
      yield* bans.add({ kind: "username", value: "mallory", durationSeconds: 60 })
      expect(bans.isBanned("c", "mallory", "")).not.toBeNull()
      yield* TestClock.adjust("59 seconds")
      expect(bans.isBanned("c", "mallory", "")).not.toBeNull()
      yield* TestClock.adjust("1 second")
      expect(bans.isBanned("c", "mallory", "")).toBeNull()
      expect((yield* bans.list()).items.map((b) => b.value)).not.toContain("mallory")
      expect(yield* Effect.flip(bans.remove("username", "mallory"))).toMatchObject({ _tag: "BanNotFound" })
      yield* bans.add({ kind: "username", value: "mallory", durationSeconds: 5 })
      expect(bans.isBanned("c", "mallory", "")?.until).not.toBeNull()
    }))

  it.effect("pages through the list with the cursor, never repeating or skipping a ban", () =>
    Effect.gen(function*() {
      const bans = yield* Bans
      for (let i = 0; i < 25; i++) yield* bans.add({ kind: "clientid", value: `page-${String(i).padStart(2, "0")}` })
      const seen: Array<string> = []
      let after: string | undefined = "clientid:page-"
      for (let pages = 0; pages < 10 && after !== undefined; pages++) {
        const page: PageOf<Ban> = yield* bans.list({ after, limit: 10 })
        for (const b of page.items) if (b.value.startsWith("page-")) seen.push(b.value)
        after = page.next ?? undefined
      }
      expect(seen).toHaveLength(25)
      expect(new Set(seen).size).toBe(25)
      expect((yield* bans.list({ limit: 0 })).items).toHaveLength(1) // at least one per page
    }))
})

it.scoped("a new ban goes to every registered enforcer, with what it covers, until its scope closes", () =>
  Effect.gen(function*() {
    const bans = yield* Bans
    const told: Array<[Ban, boolean]> = []
    const scope = yield* Scope.make()
    yield* Scope.extend(bans.enforce((ban, covers) => {
      told.push([ban, covers("c", "mallory", () => "")])
      return 2
    }), scope)
    const { disconnected } = yield* bans.add({ kind: "username", value: "mallory" })
    expect(disconnected).toBe(2)
    expect(told.map(([b, covered]) => [b.value, covered])).toEqual([["mallory", true]])
    yield* Scope.close(scope, Exit.void)
    expect((yield* bans.add({ kind: "clientid", value: "c" })).disconnected).toBe(0)
    expect(told).toHaveLength(1)
  }).pipe(Effect.provide(memory)))

it.scoped("bans are replayed from the stream by the next service on the same store", () =>
  Effect.gen(function*() {
    const store = yield* MemoryEventStore.make
    const first = yield* Effect.provideService(BansLive.make, EventStore, store)
    yield* first.add({ kind: "clientid", value: "kept" })
    yield* first.add({ kind: "ip", value: "192.0.2.0/24", durationSeconds: 30 })
    yield* first.add({ kind: "username", value: "lifted" })
    yield* first.remove("username", "lifted")
    yield* TestClock.adjust("10 seconds")
    const second = yield* Effect.provideService(BansLive.make, EventStore, store)
    expect(second.isBanned("kept", undefined, "")?.value).toBe("kept")
    expect(second.isAddressBanned("192.0.2.9")?.until).toBe(30_000)
    expect(second.isBanned("x", "lifted", "")).toBeNull()
    // The replayed expiry is the stored one, not 30 s from the restart.
    yield* TestClock.adjust("20 seconds")
    expect(second.isAddressBanned("192.0.2.9")).toBeNull()
    // It appends after the replayed events (expected version), not over them.
    yield* second.add({ kind: "clientid", value: "after-restart" })
    expect((yield* store.readStream(BANS_STREAM)).length).toBe(5)
  }))
