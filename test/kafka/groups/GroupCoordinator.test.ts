/**
 * The GroupCoordinator service over the memory EventStore: waiting JoinGroup/SyncGroup requests,
 * timers through `tick`, durability of offset commits, restarts and snapshots. Time is the
 * coordinator's injected clock; the sweep fiber runs on its own only in the live test.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, type Scope } from "effect"
import type { JoinGroupRequest, JoinGroupResponse } from "../../../domain/group/commands.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import * as MemoryEventStore from "../../../layers/storage-memory/MemoryEventStore.js"
import { StorageError } from "../../../services/errors.js"
import { EventStore } from "../../../services/EventStore.js"
import { type GroupCoordinatorOptions, type GroupCoordinatorService, make } from "../../../src/kafka/groups/GroupCoordinator.js"
import { foldGroups } from "../../../src/kafka/groups/groupSnapshot.js"

const bytes = (...b: Array<number>) => Uint8Array.from(b)

/** A coordinator on `store` with a hand-driven clock and predictable member ids. */
const coordinator = (store: EventStore["Type"], clock: { now: number }, options: Partial<GroupCoordinatorOptions> = {}) => {
  let n = 0
  return make({
    now: () => clock.now,
    generateMemberId: (clientId) => `${clientId}-${++n}`,
    sweepIntervalMs: 3_600_000,
    ...options
  }).pipe(Effect.provideService(EventStore, store))
}

const joinRequest = (clientId: string, memberId = "", over: Partial<JoinGroupRequest> = {}): JoinGroupRequest => ({
  groupId: "g",
  memberId,
  groupInstanceId: null,
  clientId,
  clientHost: "/127.0.0.1",
  sessionTimeoutMs: 30_000,
  rebalanceTimeoutMs: 60_000,
  protocolType: "consumer",
  protocols: [{ name: "range", metadata: bytes(clientId.charCodeAt(0)) }],
  apiVersion: 5,
  ...over
})

/** JoinGroup v4+ as kafkajs does it: MEMBER_ID_REQUIRED, then the join that waits. */
const joinWithId = (gc: GroupCoordinatorService, clientId: string) =>
  Effect.gen(function*() {
    const first = yield* gc.joinGroup(joinRequest(clientId))
    expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED)
    return yield* Effect.fork(gc.joinGroup(joinRequest(clientId, first.memberId)))
  })

/** Lets forked requests reach the coordinator. */
const settle = Effect.repeatN(Effect.yieldNow(), 5)

const syncRequest = (memberId: string, generationId: number, assignments: Array<[string, Array<number>]> = []) => ({
  groupId: "g",
  generationId,
  memberId,
  groupInstanceId: null,
  protocolType: "consumer",
  protocolName: "range",
  assignments: assignments.map(([m, a]) => ({ memberId: m, assignment: bytes(...a) }))
})

const commitRequest = (memberId: string, generationId: number, offset: number, partition = 0) => ({
  groupId: "g",
  generationId,
  memberId,
  groupInstanceId: null,
  topics: [{ name: "t", partitions: [{ partitionIndex: partition, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: "m" }] }]
})

/** Two members in a Stable group at generation 1 (joined during the initial delay). */
const stablePair = (gc: GroupCoordinatorService, clock: { now: number }) =>
  Effect.gen(function*() {
    const fa = yield* joinWithId(gc, "a")
    const fb = yield* joinWithId(gc, "b")
    yield* settle
    clock.now += 100
    yield* gc.tick()
    clock.now += 100
    yield* gc.tick()
    const [a, b] = [yield* Fiber.join(fa), yield* Fiber.join(fb)]
    const syncB = yield* Effect.fork(gc.syncGroup(syncRequest(b.memberId, 1)))
    yield* settle
    yield* gc.syncGroup(syncRequest(a.memberId, 1, [[a.memberId, [1]], [b.memberId, [2]]]))
    yield* Fiber.join(syncB)
    return { a: a.memberId, b: b.memberId }
  })

const withStore = <A, E>(f: (store: EventStore["Type"]) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.flatMap(MemoryEventStore.make, (store) => f(store))

describe("GroupCoordinator", () => {
  it.scoped("answers two members joining together with the same generation; the leader gets both", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const clock = { now: 1_000 }
        const gc = yield* coordinator(store, clock, { initialRebalanceDelayMs: 100 })
        const fa = yield* joinWithId(gc, "a")
        const fb = yield* joinWithId(gc, "b")
        yield* settle
        expect(gc.unsafeGroup("g")!.state).toBe("PreparingRebalance")
        clock.now += 100
        yield* gc.tick() // b joined during the delay: one more
        clock.now += 100
        yield* gc.tick()
        const a: JoinGroupResponse = yield* Fiber.join(fa)
        const b: JoinGroupResponse = yield* Fiber.join(fb)
        expect([a.errorCode, b.errorCode]).toEqual([0, 0])
        expect([a.generationId, b.generationId]).toEqual([1, 1])
        expect(a.leader).toBe(a.memberId)
        expect(b.leader).toBe(a.memberId)
        expect(a.members.map((m) => [m.memberId, m.metadata])).toEqual([
          [a.memberId, bytes(97)],
          [b.memberId, bytes(98)]
        ])
        expect(b.members).toEqual([])
      })
    ))

  it.scoped("with no initial delay (the default) the first member is answered alone, then rejoins with the second", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const clock = { now: 0 }
        const gc = yield* coordinator(store, clock)
        const a = yield* Fiber.join(yield* joinWithId(gc, "a"))
        expect(a).toMatchObject({ errorCode: 0, generationId: 1, leader: a.memberId })
        const fb = yield* joinWithId(gc, "b")
        yield* settle
        // a's SyncGroup for generation 1 arrives after b's join: rejoin.
        expect((yield* gc.syncGroup(syncRequest(a.memberId, 1, [[a.memberId, [1]]]))).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS)
        const a2 = yield* gc.joinGroup(joinRequest("a", a.memberId))
        const b = yield* Fiber.join(fb)
        expect([a2.generationId, b.generationId]).toEqual([2, 2])
        expect(a2.members.map((m) => m.memberId)).toEqual([a.memberId, b.memberId])
      })
    ))

  it.scoped("answers NOT_COORDINATOR when the commit cannot be stored, and keeps the offsets out of OffsetFetch", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const broken: EventStore["Type"] = {
          ...store,
          append: () => Effect.fail(new StorageError({ op: "write", cause: new Error("disk full") }))
        }
        const gc = yield* coordinator(broken, { now: 0 })
        const answer = yield* gc.commitOffsets({ ...commitRequest("", -1, 5), groupId: "solo" })
        expect(answer.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NOT_COORDINATOR)
        const fetched = yield* gc.fetchOffsets({ groupId: "solo", topics: [{ name: "t", partitionIndexes: [0] }] })
        expect(fetched.topics[0]!.partitions[0]!.committedOffset).toBe(-1)
      })
    ))

  it.scoped("a follower's sync waits for the leader's and gets its own assignment", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const clock = { now: 0 }
        const gc = yield* coordinator(store, clock, { initialRebalanceDelayMs: 100 })
        const { a, b } = yield* stablePair(gc, clock)
        expect(gc.unsafeGroup("g")!.state).toBe("Stable")
        const again = yield* gc.syncGroup(syncRequest(b, 1))
        expect(again).toEqual({ errorCode: 0, protocolType: "consumer", protocolName: "range", assignment: bytes(2) })
        const described = yield* gc.describeGroups({ groupIds: ["g", "nope"], apiVersion: 5 })
        expect(described.groups.map((g) => [g.groupState, g.members.map((m) => m.memberAssignment)])).toEqual([
          ["Stable", [bytes(1), bytes(2)]],
          ["Dead", []]
        ])
        expect(a).not.toBe(b)
      })
    ))

  it.scoped("a third member's join rebalances the others: heartbeats say REBALANCE_IN_PROGRESS, they rejoin", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const clock = { now: 0 }
        const gc = yield* coordinator(store, clock, { initialRebalanceDelayMs: 100 })
        const { a, b } = yield* stablePair(gc, clock)
        const fc = yield* joinWithId(gc, "c")
        yield* settle
        expect((yield* gc.heartbeat({ groupId: "g", generationId: 1, memberId: a, groupInstanceId: null })).errorCode).toBe(
          ErrorCode.REBALANCE_IN_PROGRESS
        )
        expect((yield* gc.heartbeat({ groupId: "g", generationId: 1, memberId: b, groupInstanceId: null })).errorCode).toBe(
          ErrorCode.REBALANCE_IN_PROGRESS
        )
        const fa = yield* Effect.fork(gc.joinGroup(joinRequest("a", a)))
        yield* settle
        expect(fc.unsafePoll()).toBeNull() // b has not rejoined yet
        const rb = yield* gc.joinGroup(joinRequest("b", b))
        const [ra, rc] = [yield* Fiber.join(fa), yield* Fiber.join(fc)]
        expect([ra.generationId, rb.generationId, rc.generationId]).toEqual([2, 2, 2])
        expect(ra.leader).toBe(a)
        expect(ra.members.map((m) => m.memberId)).toEqual([a, b, rc.memberId])
        // A sync still waiting when another rebalance starts is sent back to rejoin.
        const syncB = yield* Effect.fork(gc.syncGroup(syncRequest(b, 2)))
        yield* settle
        yield* gc.leaveGroup({ groupId: "g", members: [{ memberId: rc.memberId, groupInstanceId: null }], apiVersion: 3 })
        expect((yield* Fiber.join(syncB)).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS)
      })
    ))

  it.scoped("removes a member whose session runs out (tick) and answers its next request UNKNOWN_MEMBER_ID", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const clock = { now: 0 }
        const gc = yield* coordinator(store, clock, { initialRebalanceDelayMs: 100 })
        const { a, b } = yield* stablePair(gc, clock)
        clock.now += 20_000
        yield* gc.heartbeat({ groupId: "g", generationId: 1, memberId: b, groupInstanceId: null })
        clock.now += 10_001 // a: 30 001 ms silent; b: 10 001
        yield* gc.tick()
        expect([...gc.unsafeGroup("g")!.members.keys()]).toEqual([b])
        expect(gc.unsafeGroup("g")!.state).toBe("PreparingRebalance")
        expect((yield* gc.heartbeat({ groupId: "g", generationId: 1, memberId: a, groupInstanceId: null })).errorCode).toBe(
          ErrorCode.UNKNOWN_MEMBER_ID
        )
        const rb = yield* gc.joinGroup(joinRequest("b", b))
        expect(rb).toMatchObject({ errorCode: 0, generationId: 2, leader: b })
        yield* gc.flush
        const stored = (yield* store.readStream("group-g")).map((r) => r.type)
        expect(stored).toContain("MemberRemoved")
        expect(stored).not.toContain("MemberHeartbeat")
      })
    ))

  it.scoped("answers an offset commit once it is stored; offsets survive a restart, members must come back", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const clock = { now: 0 }
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const gc = yield* coordinator(store, clock, { initialRebalanceDelayMs: 100 })
          const members = yield* stablePair(gc, clock)
          const answer = yield* gc.commitOffsets(commitRequest(members.a, 1, 41))
          expect(answer.topics[0]!.partitions[0]!.errorCode).toBe(0)
          expect((yield* store.readStream("group-g")).at(-1)!.type).toBe("GroupOffsetsCommitted")
          const standalone = yield* gc.commitOffsets({ ...commitRequest("", -1, 7), groupId: "solo" })
          expect(standalone.topics[0]!.partitions[0]!.errorCode).toBe(0)
          return members
        }))
        clock.now = 100_000
        const gc = yield* coordinator(store, clock, { initialRebalanceDelayMs: 100 })
        const fetched = yield* gc.fetchOffsets({ groupId: "g", topics: [{ name: "t", partitionIndexes: [0, 1] }] })
        expect(fetched.topics[0]!.partitions.map((p) => [p.committedOffset, p.metadata])).toEqual([[41, "m"], [-1, ""]])
        expect((yield* gc.fetchOffsets({ groupId: "solo", topics: null })).topics[0]!.partitions[0]!.committedOffset).toBe(7)
        // The members were restored with a fresh session from boot; only b comes back.
        const group = gc.unsafeGroup("g")!
        expect(group).toMatchObject({ state: "Stable", generationId: 1 })
        expect([...group.members.values()].map((m) => m.lastHeardAt)).toEqual([100_000, 100_000])
        clock.now += 29_000
        expect((yield* gc.heartbeat({ groupId: "g", generationId: 1, memberId: first.b, groupInstanceId: null })).errorCode).toBe(0)
        clock.now += 1_000
        yield* gc.tick()
        expect([...gc.unsafeGroup("g")!.members.keys()]).toEqual([first.b])
        const listed = yield* gc.listGroups()
        expect(listed.groups.map((g) => [g.groupId, g.groupState]).sort()).toEqual([["g", "PreparingRebalance"], ["solo", "Empty"]])
      })
    ))

  it.scoped("a snapshot folds the group events and prunes them, so replay stays short", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const clock = { now: 0 }
        const gc = yield* coordinator(store, clock, { initialRebalanceDelayMs: 100 })
        const { a } = yield* stablePair(gc, clock)
        for (let i = 0; i < 50; i++) yield* gc.commitOffsets(commitRequest(a, 1, i, i % 5))
        expect((yield* foldGroups(store)).replayed).toBeGreaterThan(50)
        yield* gc.snapshot
        expect((yield* foldGroups(store)).replayed).toBe(0)
        // One event per stream stays (it carries the stream's version).
        expect((yield* store.readAll(0)).filter((r) => r.stream.startsWith("group-")).length).toBe(1)
        yield* gc.commitOffsets(commitRequest(a, 1, 99, 0))
        const folded = yield* foldGroups(store)
        expect(folded.replayed).toBe(1)
        const offsets = folded.groups.get("g")!.offsets.get("t")!
        expect([...offsets].map(([p, o]) => [p, o.offset])).toEqual([[0, 99], [1, 46], [2, 47], [3, 48], [4, 49]])
        expect([...folded.groups.get("g")!.members.values()].map((m) => m.assignment)).toEqual([bytes(1), bytes(2)])
      })
    ))

  it.scopedLive("the sweep fiber expires sessions on its own", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const gc = yield* make({ minSessionTimeoutMs: 50, sweepIntervalMs: 20 }).pipe(Effect.provideService(EventStore, store))
        const joined = yield* gc.joinGroup(joinRequest("a", "", { sessionTimeoutMs: 100, apiVersion: 3 }))
        expect(joined).toMatchObject({ errorCode: 0, generationId: 1 })
        yield* gc.syncGroup(syncRequest(joined.memberId, 1, [[joined.memberId, [1]]]))
        for (let i = 0; i < 50 && gc.unsafeGroup("g")!.members.size > 0; i++) yield* Effect.sleep("20 millis")
        expect(gc.unsafeGroup("g")).toMatchObject({ state: "Empty", generationId: 2 })
      })
    ))
})
