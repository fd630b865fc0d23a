/**
 * LeaveGroup, after Kafka's GroupCoordinator.handleLeaveGroup: removes members (v0-v2 one by
 * member id, v3+ a batch that may name static members by group.instance.id only), which starts
 * a rebalance or lets the one in progress complete.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { LeaveGroup, LeaveGroupMemberResponse, LeaveGroupResponse } from "./commands.js"
import { type Decision, Emitter } from "./Decision.js"
import { PendingMemberRemoved } from "./events.js"
import { emptyGroup, type GroupPolicy, type GroupState, staticMemberId } from "./Group.js"
import { removeMember, settleRebalance, validateCurrentMember } from "./rebalance.js"

/** v0-v2 carry one error: the first member error (Kafka's LeaveGroupResponse.getError). */
const topLevel = (apiVersion: number, members: ReadonlyArray<LeaveGroupMemberResponse>): number => {
  if (apiVersion >= 3) return ErrorCode.NONE
  return members.find((m) => m.errorCode !== ErrorCode.NONE)?.errorCode ?? ErrorCode.NONE
}

export const decideLeaveGroup = (
  group: GroupState | undefined,
  cmd: LeaveGroup,
  now: number,
  policy: GroupPolicy
): Decision<LeaveGroupResponse> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  if (cmd.groupId.length === 0) return em.decision({ errorCode: ErrorCode.INVALID_GROUP_ID, members: [] })
  const members: Array<LeaveGroupMemberResponse> = []
  for (const identity of cmd.members) {
    const errorCode = group === undefined ? ErrorCode.UNKNOWN_MEMBER_ID : leave(em, identity.memberId, identity.groupInstanceId)
    members.push({ memberId: identity.memberId, groupInstanceId: identity.groupInstanceId, errorCode })
  }
  return em.decision({ errorCode: topLevel(cmd.apiVersion, members), members })
}

const leave = (em: Emitter, memberId: string, groupInstanceId: string | null): number => {
  if (memberId.length === 0) {
    // Administrative removal of a static member by its instance id alone (v3+).
    const current = groupInstanceId === null ? undefined : staticMemberId(em.state, groupInstanceId)
    if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
    removeMember(em, current, "left")
    return ErrorCode.NONE
  }
  if (em.state.pendingMembers.has(memberId)) {
    em.emit(new PendingMemberRemoved({ groupId: em.state.groupId, memberId, reason: "left" }))
    settleRebalance(em)
    return ErrorCode.NONE
  }
  const error = validateCurrentMember(em.state, memberId, groupInstanceId)
  if (error !== ErrorCode.NONE) return error
  removeMember(em, memberId, "left")
  return ErrorCode.NONE
}
