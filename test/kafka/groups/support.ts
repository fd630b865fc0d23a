/**
 * What the GroupCoordinator service tests share: a coordinator over a given event store (its
 * sweep effectively off), and offset commits from outside group management (generation -1), as
 * admin tools send them.
 */
import { Effect } from "effect"
import type { OffsetCommitRequest } from "../../../domain/group/commands.js"
import { EventStore } from "../../../services/EventStore.js"
import { make } from "../../../src/kafka/groups/GroupCoordinator.js"

export const coordinator = (store: EventStore["Type"]) => make({ sweepIntervalMs: 3_600_000 }).pipe(Effect.provideService(EventStore, store))

/** `offsets`: [topic, partition, committed offset] each. */
export const adminCommit = (groupId: string, offsets: ReadonlyArray<readonly [string, number, number]>): OffsetCommitRequest => ({
  groupId,
  generationId: -1,
  memberId: "",
  groupInstanceId: null,
  topics: [...new Set(offsets.map(([t]) => t))].map((name) => ({
    name,
    partitions: offsets.filter(([t]) => t === name).map(([, partitionIndex, committedOffset]) => ({
      partitionIndex,
      committedOffset,
      committedLeaderEpoch: -1,
      committedMetadata: null
    }))
  }))
})
