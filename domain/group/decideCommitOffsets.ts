/**
 * OffsetCommit, after Kafka's GroupCoordinator.handleCommitOffsets / validateOffsetCommit: a
 * commit with generation -1 is accepted while the group has no members (a consumer outside
 * group management, or an admin tool); otherwise the member and generation must be current.
 * Commits are allowed during PreparingRebalance (the heartbeat tells the member to rejoin) and
 * refused with REBALANCE_IN_PROGRESS during CompletingRebalance.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { CommitOffsets, OffsetCommitResponse } from "./commands.js"
import { type Decision, Emitter } from "./Decision.js"
import { GroupOffsetsCommitted, MemberHeartbeat } from "./events.js"
import { emptyGroup, type GroupPolicy, type GroupState } from "./Group.js"
import { validateCurrentMember } from "./rebalance.js"

const validate = (group: GroupState, cmd: CommitOffsets): number => {
  if (group.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE
  if (cmd.generationId < 0 && group.state === "Empty") return ErrorCode.NONE
  if (cmd.generationId >= 0 || cmd.memberId.length > 0 || cmd.groupInstanceId !== null) {
    const error = validateCurrentMember(group, cmd.memberId, cmd.groupInstanceId)
    if (error !== ErrorCode.NONE) return error
    return cmd.generationId === group.generationId ? ErrorCode.NONE : ErrorCode.ILLEGAL_GENERATION
  }
  // Generation -1 without a member id while the group has members: only members may commit.
  return ErrorCode.UNKNOWN_MEMBER_ID
}

const everyPartition = (cmd: CommitOffsets, errorCode: number): OffsetCommitResponse => ({
  topics: cmd.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) }))
})

export const decideCommitOffsets = (
  group: GroupState | undefined,
  cmd: CommitOffsets,
  now: number,
  policy: GroupPolicy
): Decision<OffsetCommitResponse> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  // An unknown group is created by a commit from outside group management only.
  if (group === undefined && cmd.generationId >= 0) return em.decision(everyPartition(cmd, ErrorCode.ILLEGAL_GENERATION))
  const error = validate(em.state, cmd)
  if (error !== ErrorCode.NONE) return em.decision(everyPartition(cmd, error))
  const state = em.state.state
  if (state === "CompletingRebalance") return em.decision(everyPartition(cmd, ErrorCode.REBALANCE_IN_PROGRESS))
  if (state === "Stable" || state === "PreparingRebalance") {
    em.emit(new MemberHeartbeat({ groupId: cmd.groupId, memberId: cmd.memberId, at: now }))
  }
  const offsets: Array<{ topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string }> = []
  const response: OffsetCommitResponse = {
    topics: cmd.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        const metadata = p.committedMetadata ?? ""
        if (metadata.length > policy.maxOffsetMetadataBytes) {
          return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE }
        }
        offsets.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata })
        return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE }
      })
    }))
  }
  if (offsets.length > 0) em.emit(new GroupOffsetsCommitted({ groupId: cmd.groupId, offsets, at: now }))
  return em.decision(response)
}
