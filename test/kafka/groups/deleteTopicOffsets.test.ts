/**
 * GroupCoordinator.deleteTopicOffsets: a deleted topic's committed offsets leave every group
 * (durably, so a rebuilt coordinator agrees), other topics' offsets stay, and a commit decided
 * just before the deletion cannot bring them back.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { decideDeleteTopicOffsets } from "../../../domain/group/decideDeleteTopicOffsets.js"
import { emptyGroup, defaultGroupPolicy } from "../../../domain/group/Group.js"
import * as MemoryEventStore from "../../../layers/storage-memory/MemoryEventStore.js"
import { adminCommit, coordinator } from "./support.js"

describe("deleting a topic's group offsets", () => {
  it("decides nothing for a group without offsets on the topic", () => {
    const decision = decideDeleteTopicOffsets(emptyGroup("g"), { _tag: "DeleteTopicOffsets", groupId: "g", topics: ["t"] }, 0, defaultGroupPolicy)
    expect(decision.events).toEqual([])
  })

  it.scoped("drops the topic from every group, durably; other topics keep their offsets", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      const offsetsOf = (gc: Effect.Effect.Success<ReturnType<typeof coordinator>>, groupId: string) =>
        Effect.map(gc.fetchOffsets({ groupId, topics: null }), (r) =>
          Object.fromEntries(r.topics.map((t) => [t.name, t.partitions[0]!.committedOffset])))

      yield* Effect.scoped(Effect.gen(function*() {
        const gc = yield* coordinator(store)
        yield* gc.commitOffsets(adminCommit("g1", [["gone", 0, 5], ["kept", 0, 3]]))
        yield* gc.commitOffsets(adminCommit("g2", [["other", 0, 1]]))
        // g2's first commit for the topic, decided before the deletion and not yet stored when
        // it starts: it must not survive the deletion.
        const late = yield* Effect.fork(gc.commitOffsets(adminCommit("g2", [["gone", 0, 11]])))
        yield* Effect.yieldNow() // the fork decides its commit; the writer has not stored it yet
        expect(Option.isNone(yield* Fiber.poll(late))).toBe(true)
        yield* gc.deleteTopicOffsets(["gone"])
        yield* late.await
        expect(yield* offsetsOf(gc, "g1")).toEqual({ kept: 3 })
        expect(yield* offsetsOf(gc, "g2")).toEqual({ other: 1 })
        expect((yield* store.readStream("group-g1")).at(-1)!.type).toBe("GroupOffsetsDeleted")
      }))
      // Rebuilt from the snapshot written at shutdown.
      const again = yield* coordinator(store)
      expect(yield* offsetsOf(again, "g1")).toEqual({ kept: 3 })
      expect(yield* offsetsOf(again, "g2")).toEqual({ other: 1 })
    }))
})
