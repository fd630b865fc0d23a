/**
 * JoinGroup, after Kafka's GroupCoordinator.handleJoinGroup: validation, member ids handed out
 * with MEMBER_ID_REQUIRED (v4+, KIP-394), static members (KIP-345), and whether the join waits
 * for the rebalance it starts or continues, or is answered at once with the current generation.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { JoinGroup } from "./commands.js"
import { type Decision, Emitter, type JoinOutcome } from "./Decision.js"
import { MemberJoined, PendingMemberAdded, StaticMemberReplaced } from "./events.js"
import {
  emptyGroup,
  type GroupPolicy,
  type GroupState,
  sameProtocols,
  selectProtocol,
  staticMemberId,
  supportsProtocols
} from "./Group.js"
import { maybePrepareRebalance, prepareRebalance, settleRebalance, validateCurrentMember } from "./rebalance.js"
import { currentMemberMetadata, generationJoinResponse, joinError } from "./views.js"

const reply = (response: ReturnType<typeof joinError>): JoinOutcome => ({ _tag: "Reply", response })
const wait = (memberId: string): JoinOutcome => ({ _tag: "Await", memberId })

export const decideJoinGroup = (
  group: GroupState | undefined,
  cmd: JoinGroup,
  now: number,
  policy: GroupPolicy
): Decision<JoinOutcome> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  if (cmd.groupId.length === 0) return em.decision(reply(joinError(cmd.memberId, ErrorCode.INVALID_GROUP_ID)))
  if (cmd.sessionTimeoutMs < policy.minSessionTimeoutMs || cmd.sessionTimeoutMs > policy.maxSessionTimeoutMs) {
    return em.decision(reply(joinError(cmd.memberId, ErrorCode.INVALID_SESSION_TIMEOUT)))
  }
  const isUnknown = cmd.memberId.length === 0
  // A member id for a group that does not exist: the member must start over.
  if (group === undefined && !isUnknown) return em.decision(reply(joinError(cmd.memberId, ErrorCode.UNKNOWN_MEMBER_ID)))
  const isMember = !isUnknown && em.state.members.has(cmd.memberId)
  if (!isMember && em.state.members.size >= policy.maxGroupSize) {
    return em.decision(reply(joinError("", ErrorCode.GROUP_MAX_SIZE_REACHED)))
  }
  const outcome = isUnknown ? joinNewMember(em, cmd) : joinCurrentMember(em, cmd)
  // Kafka's "attempt to complete JoinGroup" after every join.
  settleRebalance(em)
  return em.decision(outcome)
}

const joinNewMember = (em: Emitter, cmd: JoinGroup): JoinOutcome => {
  if (!supportsProtocols(em.state, cmd.protocolType, cmd.protocols)) {
    return reply(joinError("", ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
  }
  if (cmd.groupInstanceId !== null) {
    const oldMemberId = staticMemberId(em.state, cmd.groupInstanceId)
    if (oldMemberId !== undefined) return replaceStaticMember(em, cmd, oldMemberId)
    return addMemberAndRebalance(em, cmd, cmd.newMemberId)
  }
  if (cmd.apiVersion >= 4) {
    // KIP-394: hand out the id first, so a client that times out rejoins as the same member.
    em.emit(new PendingMemberAdded({ groupId: cmd.groupId, memberId: cmd.newMemberId, expiresAt: em.now + cmd.sessionTimeoutMs }))
    return reply(joinError(cmd.newMemberId, ErrorCode.MEMBER_ID_REQUIRED))
  }
  return addMemberAndRebalance(em, cmd, cmd.newMemberId)
}

const joinCurrentMember = (em: Emitter, cmd: JoinGroup): JoinOutcome => {
  if (!supportsProtocols(em.state, cmd.protocolType, cmd.protocols)) {
    return reply(joinError(cmd.memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
  }
  if (em.state.pendingMembers.has(cmd.memberId)) {
    // Pending ids are only handed to dynamic members; a static one here is not ours.
    if (cmd.groupInstanceId !== null) return reply(joinError(cmd.memberId, ErrorCode.UNKNOWN_MEMBER_ID))
    return addMemberAndRebalance(em, cmd, cmd.memberId)
  }
  const error = validateCurrentMember(em.state, cmd.memberId, cmd.groupInstanceId)
  if (error !== ErrorCode.NONE) return reply(joinError(cmd.memberId, error))
  const group = em.state
  const member = group.members.get(cmd.memberId)!
  switch (group.state) {
    case "PreparingRebalance":
      return updateMemberAndRebalance(em, cmd)
    case "CompletingRebalance":
      // Same metadata: it probably missed its JoinGroup answer; give it again.
      if (sameProtocols(member.protocols, cmd.protocols)) return reply(generationJoinResponse(group, cmd.memberId))
      return updateMemberAndRebalance(em, cmd)
    case "Stable":
      // The leader rejoining forces a rebalance: it may have seen metadata changes that do
      // not show in its own subscription (new partitions, say).
      if (group.leaderId === cmd.memberId || !sameProtocols(member.protocols, cmd.protocols)) {
        return updateMemberAndRebalance(em, cmd)
      }
      return reply({ ...generationJoinResponse(group, cmd.memberId), members: [] })
    case "Empty":
    case "Dead":
      return reply(joinError(cmd.memberId, ErrorCode.UNKNOWN_MEMBER_ID))
  }
}

const memberJoined = (cmd: JoinGroup, memberId: string, now: number) =>
  new MemberJoined({
    groupId: cmd.groupId,
    memberId,
    groupInstanceId: cmd.groupInstanceId,
    clientId: cmd.clientId,
    clientHost: cmd.clientHost,
    sessionTimeoutMs: cmd.sessionTimeoutMs,
    rebalanceTimeoutMs: cmd.rebalanceTimeoutMs,
    protocolType: cmd.protocolType,
    protocols: cmd.protocols,
    at: now
  })

const addMemberAndRebalance = (em: Emitter, cmd: JoinGroup, memberId: string): JoinOutcome => {
  em.emit(memberJoined(cmd, memberId, em.now))
  maybePrepareRebalance(em)
  return wait(memberId)
}

const updateMemberAndRebalance = (em: Emitter, cmd: JoinGroup): JoinOutcome => {
  em.emit(memberJoined(cmd, cmd.memberId, em.now))
  maybePrepareRebalance(em)
  return wait(cmd.memberId)
}

/**
 * A static member back without its member id (KIP-345): it takes a new id and its old place.
 * In a Stable group whose protocol would not change there is no rebalance: it gets the current
 * generation and then its old assignment through SyncGroup.
 */
const replaceStaticMember = (em: Emitter, cmd: JoinGroup, oldMemberId: string): JoinOutcome => {
  const before = em.state
  const newMemberId = cmd.newMemberId
  em.emit(
    new StaticMemberReplaced({
      groupId: cmd.groupId,
      groupInstanceId: cmd.groupInstanceId!,
      oldMemberId,
      newMemberId,
      sessionTimeoutMs: cmd.sessionTimeoutMs,
      rebalanceTimeoutMs: cmd.rebalanceTimeoutMs,
      protocols: cmd.protocols,
      at: em.now
    })
  )
  switch (before.state) {
    case "Stable": {
      const group = em.state
      if (selectProtocol(group) === group.protocolName) {
        const isLeader = group.leaderId === newMemberId
        if (cmd.apiVersion >= 9) {
          // JoinGroup v9: the leader learns it leads but must not run the assignor now.
          return reply({
            ...generationJoinResponse(group, newMemberId),
            members: isLeader ? currentMemberMetadata(group) : [],
            skipAssignment: isLeader
          })
        }
        // Older clients: name the old leader id, so a replaced leader does not assign.
        return reply({ ...generationJoinResponse(group, newMemberId), members: [], leader: before.leaderId ?? "" })
      }
      em.emit(memberJoined(cmd, newMemberId, em.now))
      maybePrepareRebalance(em)
      return wait(newMemberId)
    }
    case "CompletingRebalance":
      // The leader may already be assigning to the old id: start over.
      em.emit(memberJoined(cmd, newMemberId, em.now))
      prepareRebalance(em)
      return wait(newMemberId)
    default:
      em.emit(memberJoined(cmd, newMemberId, em.now))
      return wait(newMemberId)
  }
}
