/**
 * `ownersOf`, the batched `ownerOf` a restarting node reads its own sessions' owners with
 * (SessionOwnership.dropStale): the same answers on every layer (memory, a worker's IPC to the
 * primary, real etcd), for more keys than one etcd txn may carry (128), owned, released, taken
 * over and never owned.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import * as EtcdCoordination from "../../layers/coordination/etcd.js"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { Coordination, OWNERS_BATCH, type Ownership } from "../../services/Coordination.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { ipcPair } from "./ipcCoordinationPair.js"

const key = (i: number) => `sessions/c${String(i).padStart(5, "0")}`

/** What ownersOf must answer for key i after `setUp`: a, b (taken over from a), released, or never owned. */
const expected = (i: number): Ownership | null =>
  i % 4 === 0 ? { owner: "node-a", epoch: 1 } : i % 4 === 1 ? { owner: "node-b", epoch: 2 } : null

/** Keys 0..n-1 as `expected` says, plus keys nobody asks about. */
const setUp = (n: number) =>
  Effect.gen(function*() {
    const coordination = yield* Coordination
    yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
      Effect.gen(function*() {
        if (i % 4 === 3) return // never owned
        const mine = yield* coordination.claim(key(i), "node-a", 0)
        if (i % 4 === 1) yield* coordination.claim(key(i), "node-b", mine.epoch)
        if (i % 4 === 2) expect(yield* coordination.writeIfOwned(key(i), mine, [], true)).toBe(true) // released
      }), { concurrency: 16, discard: true })
    for (let i = 0; i < 10; i++) yield* coordination.claim(`sessions/other-${i}`, "node-c", 0)
    yield* coordination.claim("partitions/t/0", "node-c", 0)
  })

const contract = (name: string, layerOf: () => Layer.Layer<Coordination>) =>
  describe(`ownersOf: ${name}`, () => {
    const keys = 2 * OWNERS_BATCH + 44 // three etcd txns, the last one short

    it.effect(`answers for exactly the ${keys} keys asked: owned, taken over, released, never owned`, () =>
      Effect.gen(function*() {
        const coordination = yield* Coordination
        yield* setUp(keys)
        const asked = Array.from({ length: keys }, (_, i) => key(i))
        const owners = yield* coordination.ownersOf(asked)
        expect(owners.size).toBe(keys)
        for (let i = 0; i < keys; i++) expect(owners.get(key(i)), key(i)).toEqual(expected(i))
        // Each answer is what ownerOf says of that key.
        for (const i of [0, 1, 2, 3, keys - 1]) expect(owners.get(key(i))).toEqual(yield* coordination.ownerOf(key(i)))
        expect(owners.has("sessions/other-0")).toBe(false)
      }).pipe(Effect.provide(layerOf())), 30_000)

    it.effect("asks nothing for no keys, and answers null for keys nobody ever owned", () =>
      Effect.gen(function*() {
        const coordination = yield* Coordination
        expect((yield* coordination.ownersOf([])).size).toBe(0)
        const owners = yield* coordination.ownersOf(["sessions/nobody", "sessions/nor-this"])
        expect([...owners]).toEqual([["sessions/nobody", null], ["sessions/nor-this", null]])
      }).pipe(Effect.provide(layerOf())))
  })

contract("memory", () => MemoryCoordination.layer)
contract("worker IPC to the primary", () => ipcPair)

describe("ownersOf over the worker IPC channel", () => {
  it.effect("25,000 keys cross in several messages and come back as one map", () =>
    Effect.gen(function*() {
      const coordination = yield* Coordination
      const n = 25_000
      for (let i = 0; i < n; i += 2) yield* coordination.claim(key(i), "node-a", 0)
      const owners = yield* coordination.ownersOf(Array.from({ length: n }, (_, i) => key(i)))
      expect(owners.size).toBe(n)
      expect(owners.get(key(0))).toEqual({ owner: "node-a", epoch: 1 })
      expect(owners.get(key(n - 1))).toBeNull()
      expect([...owners.values()].filter((o) => o !== null).length).toBe(n / 2)
    }).pipe(Effect.provide(ipcPair)), 30_000)
})

describe("ownersOf on etcd, unreachable", () => {
  it.effect("a call etcd does not answer fails within its deadline, naming what to check", () =>
    Effect.gen(function*() {
      const coordination = yield* Coordination
      const began = Date.now()
      const error = yield* Effect.flip(coordination.ownersOf(Array.from({ length: 300 }, (_, i) => key(i))))
      expect(error._tag).toBe("CoordinationError")
      expect(error.message).toMatch(/read owners.*is etcd reachable/)
      expect(Date.now() - began).toBeLessThan(3000)
    }).pipe(Effect.provide(EtcdCoordination.layer({ endpoints: ["http://127.0.0.1:1"], cluster: "down", deadlineMs: 500 }))), 10_000)
})

// CI installs etcd-server, so there this always runs.
const etcdSuite = hasEtcd || process.env.CI === "true" ? describe : describe.skip
etcdSuite("etcd", () => {
  let etcd: EtcdServer
  let n = 0
  beforeAll(async () => {
    etcd = await startEtcd()
  }, 30_000)
  afterAll(async () => {
    await etcd?.stop()
  })
  // etcd refuses a txn of more than 128 operations (--max-txn-ops): 300 keys pass only in batches.
  contract("etcd", () => EtcdCoordination.layer({ endpoints: [etcd.endpoint], cluster: `own${n++}`, deadlineMs: 2000 }))
})
