/**
 * The group coordinator as a cluster member offers it: the node's own GroupCoordinator decides
 * for the groups whose slot this node serves (GroupSlots); a request for any other group is
 * answered NOT_COORDINATOR, so the client asks FindCoordinator again. An offset commit is
 * answered once the local coordinator has decided it and etcd holds it under the slot's
 * ownership (GroupOffsetsStore); a slot lost meanwhile answers NOT_COORDINATOR. A group lives in
 * this node's memory only while it serves the slot: gained, it is loaded from etcd with its
 * offsets and no members (they rejoin, as with a Kafka coordinator change); lost, it is
 * forgotten. The local EventStore still records group events, but in cluster mode nothing is
 * rebuilt from it: etcd is where committed offsets are read.
 */
import { Effect } from "effect"
import type { OffsetCommitRequest, OffsetCommitResponse } from "../../../domain/group/commands.js"
import { joinError, syncError } from "../../../domain/group/views.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import type { GroupCoordinatorService } from "../../kafka/groups/GroupCoordinator.js"
import type { GroupOffsetsStore } from "./GroupOffsetsStore.js"
import type { GroupSlots, SlotHooks } from "./GroupSlots.js"
import { groupSlot } from "./placement.js"

const NOT_COORDINATOR = ErrorCode.NOT_COORDINATOR

const everyPartition = (request: OffsetCommitRequest, errorCode: number): OffsetCommitResponse => ({
  topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) }))
})

/** What a slot's arrival and departure do to the local coordinator. */
export const slotHooks = (local: GroupCoordinatorService, store: GroupOffsetsStore): SlotHooks => ({
  gained: (slot) =>
    Effect.map(store.load(slot), (groups) => {
      local.evict((groupId) => groupSlot(groupId) === slot)
      for (const [groupId, offsets] of groups) local.adopt(groupId, offsets)
    }),
  lost: (slot) => local.evict((groupId) => groupSlot(groupId) === slot)
})

export const clusteredGroups = (local: GroupCoordinatorService, slots: GroupSlots, store: GroupOffsetsStore): GroupCoordinatorService => {
  const owned = (groupId: string) => slots.servedFor(groupId)
  /** A write to etcd that failed or found the slot gone: the client retries at the coordinator. */
  const stored = <A>(write: Effect.Effect<boolean, unknown>, ok: A, failed: A) =>
    Effect.map(Effect.orElseSucceed(write, () => false), (done) => (done ? ok : failed))

  return {
    ...local,
    joinGroup: (request) => (owned(request.groupId) === null ? Effect.succeed(joinError(request.memberId, NOT_COORDINATOR)) : local.joinGroup(request)),
    syncGroup: (request) => (owned(request.groupId) === null ? Effect.succeed(syncError(NOT_COORDINATOR)) : local.syncGroup(request)),
    heartbeat: (request) => (owned(request.groupId) === null ? Effect.succeed({ errorCode: NOT_COORDINATOR }) : local.heartbeat(request)),
    leaveGroup: (request) =>
      owned(request.groupId) === null
        ? Effect.succeed({ errorCode: NOT_COORDINATOR, members: request.members.map((m) => ({ ...m, errorCode: NOT_COORDINATOR })) })
        : local.leaveGroup(request),
    commitOffsets: (request) =>
      Effect.suspend(() => {
        const ownership = owned(request.groupId)
        if (ownership === null) return Effect.succeed(everyPartition(request, NOT_COORDINATOR))
        return Effect.flatMap(local.commitOffsets(request), (reply) => {
          const topics = reply.topics.filter((t) => t.partitions.some((p) => p.errorCode === ErrorCode.NONE)).map((t) => t.name)
          if (topics.length === 0) return Effect.succeed(reply)
          const refused: OffsetCommitResponse = {
            topics: reply.topics.map((t) => ({
              name: t.name,
              partitions: t.partitions.map((p) => (p.errorCode === ErrorCode.NONE ? { ...p, errorCode: NOT_COORDINATOR } : p))
            }))
          }
          return stored(store.write(request.groupId, ownership, topics), reply, refused)
        })
      }),
    fetchOffsets: (request) =>
      owned(request.groupId) === null
        ? Effect.succeed({
          errorCode: NOT_COORDINATOR,
          topics: (request.topics ?? []).map((t) => ({
            name: t.name,
            partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: NOT_COORDINATOR }))
          }))
        })
        : local.fetchOffsets(request),
    describeGroups: (request) =>
      Effect.map(local.describeGroups({ ...request, groupIds: request.groupIds.filter((id) => owned(id) !== null) }), (reply) => {
        const described = new Map(reply.groups.map((g) => [g.groupId, g]))
        return {
          groups: request.groupIds.map((groupId) =>
            described.get(groupId) ?? { errorCode: NOT_COORDINATOR, groupId, groupState: "", protocolType: "", protocolData: "", members: [] }
          )
        }
      }),
    deleteTopicOffsets: (topics) =>
      Effect.suspend(() => {
        const affected: Array<string> = []
        for (const g of local.unsafeGroups()) if (topics.some((t) => g.offsets.has(t)) && owned(g.groupId) !== null) affected.push(g.groupId)
        return Effect.zipRight(
          local.deleteTopicOffsets(topics),
          Effect.forEach(affected, (groupId) => {
            const ownership = owned(groupId)
            return ownership === null ? Effect.void : Effect.ignore(store.write(groupId, ownership, topics))
          }, { discard: true })
        )
      }),
    deleteGroups: (groupIds) =>
      Effect.suspend(() => {
        const mine = groupIds.filter((id) => owned(id) !== null)
        return Effect.flatMap(local.deleteGroups(mine), (results) =>
          Effect.forEach(groupIds, (groupId) => {
            const result = results.find((r) => r.groupId === groupId)
            const ownership = owned(groupId)
            if (result === undefined || ownership === null) return Effect.succeed({ groupId, errorCode: NOT_COORDINATOR })
            if (result.errorCode !== ErrorCode.NONE) return Effect.succeed(result)
            return stored(store.remove(groupId, ownership), result, { groupId, errorCode: NOT_COORDINATOR })
          }))
      }),
    deleteOffsets: (request) =>
      Effect.suspend(() => {
        const ownership = owned(request.groupId)
        if (ownership === null) return Effect.succeed({ errorCode: NOT_COORDINATOR, topics: [] })
        return Effect.flatMap(local.deleteOffsets(request), (reply) =>
          reply.errorCode !== ErrorCode.NONE
            ? Effect.succeed(reply)
            : stored(store.write(request.groupId, ownership, request.topics.map((t) => t.name)), reply, { errorCode: NOT_COORDINATOR, topics: [] }))
      })
  }
}
