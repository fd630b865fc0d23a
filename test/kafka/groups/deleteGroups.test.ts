/**
 * DeleteGroups: the decider (unknown -> GROUP_ID_NOT_FOUND, members -> NON_EMPTY_GROUP, Empty ->
 * GroupDeleted) and GroupCoordinator.deleteGroups (the group and its offsets leave the read
 * model and storage, so a rebuilt coordinator does not bring them back; the id can be used again).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { decideDeleteGroup } from "../../../domain/group/decideDeleteGroup.js"
import { GroupDeleted, GroupOffsetsCommitted } from "../../../domain/group/events.js"
import { evolve } from "../../../domain/group/evolve.js"
import { defaultGroupPolicy, emptyGroup, type GroupState } from "../../../domain/group/Group.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import * as MemoryEventStore from "../../../layers/storage-memory/MemoryEventStore.js"
import { adminCommit, coordinator } from "./support.js"

const deleteGroup = (group: GroupState | undefined) => decideDeleteGroup(group, { _tag: "DeleteGroup", groupId: "g" }, 5, defaultGroupPolicy)

describe("deleting a group", () => {
  it("the decider: unknown or Dead -> GROUP_ID_NOT_FOUND, not Empty -> NON_EMPTY_GROUP, Empty -> GroupDeleted", () => {
    expect(deleteGroup(undefined)).toMatchObject({ events: [], reply: ErrorCode.GROUP_ID_NOT_FOUND })
    for (const state of ["PreparingRebalance", "CompletingRebalance", "Stable"] as const) {
      expect(deleteGroup({ ...emptyGroup("g"), state })).toMatchObject({ events: [], reply: ErrorCode.NON_EMPTY_GROUP })
    }
    const decision = deleteGroup(emptyGroup("g"))
    expect(decision.reply).toBe(ErrorCode.NONE)
    expect(decision.events).toEqual([new GroupDeleted({ groupId: "g", at: 5 })])
    expect(decision.state.state).toBe("Dead")
    expect(deleteGroup(decision.state)).toMatchObject({ events: [], reply: ErrorCode.GROUP_ID_NOT_FOUND })
  })

  it("an event after the deletion starts a new group (no old offsets)", () => {
    const offsets = (topic: string, at: number) =>
      new GroupOffsetsCommitted({ groupId: "g", offsets: [{ topic, partition: 0, offset: 4, leaderEpoch: -1, metadata: "" }], at })
    const committed = evolve(undefined, offsets("t", 1))
    const dead = evolve(committed, new GroupDeleted({ groupId: "g", at: 2 }))
    expect(dead.offsets.size).toBe(0)
    const reborn = evolve(dead, offsets("u", 3))
    expect(reborn.state).toBe("Empty")
    expect([...reborn.offsets.keys()]).toEqual(["u"])
  })

  it.scoped("drops an empty group and its offsets durably; the id can be used again", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      type Coordinator = Effect.Effect.Success<ReturnType<typeof coordinator>>
      const offsetsOf = (gc: Coordinator, groupId: string) =>
        Effect.map(gc.fetchOffsets({ groupId, topics: null }), (r) => Object.fromEntries(r.topics.map((t) => [t.name, t.partitions[0]!.committedOffset])))
      const listed = (gc: Coordinator) => Effect.map(gc.listGroups(), (r) => r.groups.map((g) => g.groupId).sort())

      yield* Effect.scoped(Effect.gen(function*() {
        const gc = yield* coordinator(store)
        yield* gc.commitOffsets(adminCommit("g1", [["t", 0, 5]]))
        yield* gc.commitOffsets(adminCommit("g2", [["t", 0, 7]]))
        expect(yield* gc.deleteGroups(["g1", "nope"])).toEqual([
          { groupId: "g1", errorCode: ErrorCode.NONE },
          { groupId: "nope", errorCode: ErrorCode.GROUP_ID_NOT_FOUND }
        ])
        expect(yield* listed(gc)).toEqual(["g2"])
        expect(yield* offsetsOf(gc, "g1")).toEqual({})
        expect(yield* gc.deleteGroups(["g1"])).toEqual([{ groupId: "g1", errorCode: ErrorCode.GROUP_ID_NOT_FOUND }])
        expect((yield* store.readStream("group-g1")).at(-1)!.type).toBe("GroupDeleted")
      }))
      // Rebuilt from the snapshot written at shutdown: still gone.
      yield* Effect.scoped(Effect.gen(function*() {
        const gc = yield* coordinator(store)
        expect(yield* listed(gc)).toEqual(["g2"])
        expect(yield* offsetsOf(gc, "g1")).toEqual({})
        // the same id again: a new group, without the old offsets
        yield* gc.commitOffsets(adminCommit("g1", [["u", 0, 1]]))
        expect(yield* offsetsOf(gc, "g1")).toEqual({ u: 1 })
      }))
      const again = yield* coordinator(store)
      expect(yield* listed(again)).toEqual(["g1", "g2"])
      expect(yield* offsetsOf(again, "g1")).toEqual({ u: 1 })
      expect(yield* offsetsOf(again, "g2")).toEqual({ t: 7 })
    }))
})
