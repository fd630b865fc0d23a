/**
 * The Coordination contract, run against the memory layer and a real etcd (Debian etcd-server,
 * installed by .ci/run): membership and its watch resumed by revision, a clean leave, and
 * ownership claims with fencing epochs that are safe to retry.
 */
import { Chunk, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { Etcd3 } from "etcd3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as EtcdCoordination from "../../layers/coordination/etcd.js"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { Coordination, type MemberChange, parseStreamEntryKey, streamHeadKey, streamPrefix } from "../../services/Coordination.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { ipcPair } from "./ipcCoordinationPair.js"

const run = <A, E>(layer: Layer.Layer<Coordination>, effect: Effect.Effect<A, E, Coordination | Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.provide(effect, layer)))

const contract = (name: string, layerOf: () => Layer.Layer<Coordination>) =>
  describe(`Coordination contract: ${name}`, () => {
    it("lists members, replays joins and leaves from a revision, and sees a clean leave", () =>
      run(layerOf(), Effect.gen(function*() {
        const coordination = yield* Coordination
        const { revision: start } = yield* coordination.members
        const a = yield* Scope.make()
        yield* Scope.extend(coordination.join({ id: "node-a", address: "127.0.0.1:1" }, 5), a)
        yield* coordination.join({ id: "node-b", address: "127.0.0.1:2" }, 5)
        const listed = yield* coordination.members
        expect(listed.members.map((m) => m.id).sort()).toEqual(["node-a", "node-b"])
        yield* Scope.close(a, Exit.void) // node-a leaves cleanly
        expect((yield* coordination.members).members.map((m) => m.id)).toEqual(["node-b"])
        // A watcher that starts later still gets every change after `start`, in order.
        const changes = yield* coordination.watchMembers(start).pipe(Stream.take(3), Stream.runCollect, Effect.timeout("5 seconds"))
        const seen = Chunk.toReadonlyArray(changes).map((c: MemberChange) => (c._tag === "Joined" ? `+${c.member.id}` : `-${c.id}`))
        expect(seen).toEqual(["+node-a", "+node-b", "-node-a"])
        const revisions = Chunk.toReadonlyArray(changes).map((c) => c.revision)
        expect([...revisions].sort((x, y) => x - y)).toEqual(revisions)
        // ...and, from the last of them, only what comes next.
        const next = yield* Effect.fork(coordination.watchMembers(revisions[2]!).pipe(Stream.take(1), Stream.runCollect, Effect.timeout("5 seconds")))
        yield* Effect.sleep("100 millis")
        yield* coordination.join({ id: "node-c", address: "127.0.0.1:3" }, 5)
        const after = Chunk.toReadonlyArray(yield* Fiber.join(next))
        expect(after.map((c) => c._tag === "Joined" ? c.member.id : c.id)).toEqual(["node-c"])
      })))

    it("claims ownership with fencing epochs; a retried claim that committed succeeds; a stale one conflicts", () =>
      run(layerOf(), Effect.gen(function*() {
        const coordination = yield* Coordination
        expect(yield* coordination.ownerOf("sessions/x")).toBeNull()
        expect(yield* coordination.claim("sessions/x", "node-a", 0)).toEqual({ owner: "node-a", epoch: 1 })
        // The same claim again (a client that saw a timeout retries it): it already holds.
        expect(yield* coordination.claim("sessions/x", "node-a", 0)).toEqual({ owner: "node-a", epoch: 1 })
        // Another node expecting nobody loses, and learns who owns it.
        const lost = yield* Effect.flip(coordination.claim("sessions/x", "node-b", 0))
        expect(lost).toMatchObject({ _tag: "OwnershipConflict", current: { owner: "node-a", epoch: 1 } })
        // A takeover names the epoch it saw; the old owner's next claim at that epoch is fenced.
        expect(yield* coordination.claim("sessions/x", "node-b", 1)).toEqual({ owner: "node-b", epoch: 2 })
        const fenced = yield* Effect.flip(coordination.claim("sessions/x", "node-a", 1))
        expect(fenced).toMatchObject({ _tag: "OwnershipConflict", current: { owner: "node-b", epoch: 2 } })
        expect(yield* coordination.ownerOf("sessions/x")).toEqual({ owner: "node-b", epoch: 2 })
        // Two nodes racing for a fresh key: exactly one wins.
        const results = yield* Effect.all(
          ["node-a", "node-b", "node-c"].map((n) => Effect.either(coordination.claim("parts/orders/0", n, 0))),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Right")).toHaveLength(1)
      })))

    it("appends to a stream only at the expected version; a retried append that committed succeeds; a stale one conflicts", () =>
      run(layerOf(), Effect.gen(function*() {
        const coordination = yield* Coordination
        const { revision } = yield* coordination.list("streams/topics/")
        expect(yield* coordination.appendIfVersion("topics", 0, ["a#1", "a#2"])).toBe(2)
        // The same append again (its reply was lost): it is already there, so it succeeds.
        expect(yield* coordination.appendIfVersion("topics", 0, ["a#1", "a#2"])).toBe(2)
        // Another node that also expected an empty stream loses and learns the version.
        const lost = yield* Effect.flip(coordination.appendIfVersion("topics", 0, ["b#1"]))
        expect(lost).toMatchObject({ _tag: "StreamVersionConflict", stream: "topics", expected: 0, actual: 2 })
        expect(yield* coordination.appendIfVersion("topics", 2, ["b#1"])).toBe(3)
        expect(yield* coordination.appendIfVersion("topics", 3, [])).toBe(3)
        const { entries } = yield* coordination.list(streamPrefix("topics"))
        expect(entries.map((e) => [parseStreamEntryKey(e.key)?.version, e.value])).toEqual([[1, "a#1"], [2, "a#2"], [3, "b#1"]])
        expect(yield* coordination.get(streamHeadKey("topics"))).toBe("3")
        // A watcher from before the first append sees every entry, in version order.
        const seen = yield* coordination.watch(streamPrefix("topics"), revision).pipe(Stream.take(3), Stream.runCollect, Effect.timeout("5 seconds"))
        expect(Chunk.toReadonlyArray(seen).map((c) => (c._tag === "Put" ? c.value : "-"))).toEqual(["a#1", "a#2", "b#1"])
        // Two nodes racing at the same version: exactly one wins, the other conflicts.
        const raced = yield* Effect.all(
          ["x", "y", "z"].map((n) => Effect.either(coordination.appendIfVersion("bans", 0, [`${n}#1`]))),
          { concurrency: "unbounded" }
        )
        expect(raced.filter((r) => r._tag === "Right")).toHaveLength(1)
        expect(raced.filter((r) => r._tag === "Left").map((r) => (r.left as { _tag: string })._tag)).toEqual(["StreamVersionConflict", "StreamVersionConflict"])
      })))
  })

contract("memory", () => MemoryCoordination.layer)

contract("worker IPC to the primary", () => ipcPair)

describe("memory layer", () => {
  it("a lapsed lease completes the member's `lost` and watchers see it leave", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const { service, hooks } = yield* MemoryCoordination.make
      const membership = yield* service.join({ id: "node-a", address: "a" }, 1)
      yield* hooks.expire("node-a")
      yield* membership.lost.pipe(Effect.timeout("1 second"))
      expect((yield* service.members).members).toEqual([])
    }))))
})

// CI installs etcd-server, so there this always runs.
const etcdSuite = hasEtcd || process.env.CI === "true" ? describe : describe.skip
etcdSuite("etcd", () => {
  let etcd: EtcdServer
  let n = 0
  beforeAll(async () => {
    etcd = await startEtcd()
  })
  afterAll(async () => {
    await etcd?.stop()
  })
  // Each test its own cluster prefix: no state leaks between them.
  contract("etcd", () => EtcdCoordination.layer({ endpoints: [etcd.endpoint], cluster: `t${n++}`, deadlineMs: 2000 }))

  it("a lease etcd no longer has completes the member's `lost`, and watchers see it leave", () =>
    run(EtcdCoordination.layer({ endpoints: [etcd.endpoint], cluster: "lease" }), Effect.gen(function*() {
      const coordination = yield* Coordination
      const { revision } = yield* coordination.members
      const membership = yield* coordination.join({ id: "node-a", address: "a" }, 2)
      // What an expiry looks like from the node: etcd drops its lease (revoked here by another client).
      const other = new Etcd3({ hosts: [etcd.endpoint] })
      try {
        const kv = (yield* Effect.promise(() => other.get("/rmq/lease/nodes/node-a").exec())).kvs[0]!
        yield* Effect.promise(() => other.leaseClient.leaseRevoke({ ID: kv.lease }))
      } finally {
        other.close()
      }
      yield* membership.lost.pipe(Effect.timeout("5 seconds"))
      const changes = yield* coordination.watchMembers(revision).pipe(Stream.take(2), Stream.runCollect, Effect.timeout("5 seconds"))
      expect(Chunk.toReadonlyArray(changes).map((c) => c._tag)).toEqual(["Joined", "Left"])
      expect((yield* coordination.members).members).toEqual([])
    })))
})
