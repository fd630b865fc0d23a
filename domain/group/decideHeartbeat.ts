/**
 * Heartbeat, after Kafka's GroupCoordinator.handleHeartbeat: keeps a member's session alive and
 * tells it when a rebalance needs it (REBALANCE_IN_PROGRESS makes the client rejoin).
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { Heartbeat, HeartbeatResponse } from "./commands.js"
import { type Decision, Emitter } from "./Decision.js"
import { MemberHeartbeat } from "./events.js"
import { emptyGroup, type GroupPolicy, type GroupState } from "./Group.js"
import { validateCurrentMember } from "./rebalance.js"

export const decideHeartbeat = (
  group: GroupState | undefined,
  cmd: Heartbeat,
  now: number,
  policy: GroupPolicy
): Decision<HeartbeatResponse> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  const answer = (errorCode: number) => em.decision<HeartbeatResponse>({ errorCode })
  if (cmd.groupId.length === 0) return answer(ErrorCode.INVALID_GROUP_ID)
  if (group === undefined) return answer(ErrorCode.UNKNOWN_MEMBER_ID)
  if (group.state === "Dead") return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE)
  const error = validateCurrentMember(group, cmd.memberId, cmd.groupInstanceId)
  if (error !== ErrorCode.NONE) return answer(error)
  if (cmd.generationId !== group.generationId) return answer(ErrorCode.ILLEGAL_GENERATION)
  switch (group.state) {
    case "Empty":
      return answer(ErrorCode.UNKNOWN_MEMBER_ID)
    case "PreparingRebalance":
      em.emit(new MemberHeartbeat({ groupId: cmd.groupId, memberId: cmd.memberId, at: now }))
      return answer(ErrorCode.REBALANCE_IN_PROGRESS)
    case "CompletingRebalance":
    case "Stable":
      // Clients may heartbeat between their JoinGroup answer and SyncGroup: a normal heartbeat.
      em.emit(new MemberHeartbeat({ groupId: cmd.groupId, memberId: cmd.memberId, at: now }))
      return answer(ErrorCode.NONE)
  }
}
