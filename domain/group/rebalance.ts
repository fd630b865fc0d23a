/**
 * The rebalance mechanics every group decider shares, after Kafka's GroupCoordinator:
 * starting a rebalance (with the initial delay for an empty group), removing a member and what
 * that sets off, and completing the JoinGroup phase into a new generation, either when every
 * member has rejoined or when the rebalance timer fires.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { Emitter } from "./Decision.js"
import {
  GroupGenerationCompleted,
  GroupRebalanceStarted,
  GroupRebalanceTimerRearmed,
  MemberRemoved,
  type RemovalReason
} from "./events.js"
import { type GroupState, hasAllMembersJoined, rebalanceTimeoutOf, selectProtocol, staticMemberId } from "./Group.js"

/**
 * Kafka's prepareRebalance: enter PreparingRebalance and arm the join timer, then try to
 * complete at once (tryCompleteElseWatch: a group nobody is left in completes immediately).
 */
export const prepareRebalance = (em: Emitter): void => {
  const group = em.state
  const timeout = rebalanceTimeoutOf(group)
  if (group.state === "Empty") {
    // group.initial.rebalance.delay.ms: wait for more members before the first generation.
    const delay = em.policy.initialRebalanceDelayMs
    em.emit(
      new GroupRebalanceStarted({
        groupId: group.groupId,
        initial: true,
        deadline: em.now + delay,
        delayMs: delay,
        remainingMs: Math.max(timeout - delay, 0),
        at: em.now
      })
    )
  } else {
    em.emit(
      new GroupRebalanceStarted({
        groupId: group.groupId,
        initial: false,
        deadline: em.now + timeout,
        delayMs: timeout,
        remainingMs: 0,
        at: em.now
      })
    )
  }
  settleRebalance(em)
}

/** Kafka's canRebalance: a rebalance already preparing just continues. */
export const maybePrepareRebalance = (em: Emitter): void => {
  const s = em.state.state
  if (s === "Stable" || s === "CompletingRebalance" || s === "Empty") prepareRebalance(em)
}

/** Kafka's removeMemberAndUpdateGroup. */
export const removeMember = (em: Emitter, memberId: string, reason: RemovalReason): void => {
  em.emit(new MemberRemoved({ groupId: em.state.groupId, memberId, reason, at: em.now }))
  const s = em.state.state
  if (s === "Stable" || s === "CompletingRebalance") maybePrepareRebalance(em)
  else if (s === "PreparingRebalance") settleRebalance(em)
}

/**
 * Completes the JoinGroup phase if it can complete now: its timer has fired, or (after an
 * initial delay, never during one) every member has rejoined. Bounded: a fired timer either
 * completes or is re-armed once with `newMemberAdded` cleared.
 */
export const settleRebalance = (em: Emitter): void => {
  for (let round = 0; round < 4; round++) {
    const group = em.state
    const timer = group.rebalance
    if (group.state !== "PreparingRebalance" || timer === null) return
    if (em.now >= timer.deadline) {
      if (timer.initial && timer.newMemberAdded && timer.remainingMs > 0) {
        // Kafka's InitialDelayedJoin: someone joined during the delay, wait another phase.
        const delay = Math.min(em.policy.initialRebalanceDelayMs, timer.remainingMs)
        em.emit(
          new GroupRebalanceTimerRearmed({
            groupId: group.groupId,
            initial: true,
            deadline: em.now + delay,
            delayMs: delay,
            remainingMs: Math.max(timer.remainingMs - timer.delayMs, 0)
          })
        )
        continue
      }
      completeJoin(em)
      return
    }
    if (!timer.initial && hasAllMembersJoined(group)) completeJoin(em)
    return
  }
}

/** Kafka's onCompleteJoin: drop dynamic members that did not rejoin, then a new generation. */
const completeJoin = (em: Emitter): void => {
  for (const m of [...em.state.members.values()]) {
    if (!m.awaitingJoin && m.groupInstanceId === null) {
      em.emit(new MemberRemoved({ groupId: em.state.groupId, memberId: m.memberId, reason: "rebalance-timeout", at: em.now }))
    }
  }
  const group = em.state
  let leaderId = group.leaderId
  if (group.members.size > 0) {
    leaderId = joinedLeader(group)
    if (leaderId === null) {
      // Only static members that have not rejoined: wait for them (or their session timeouts).
      const timeout = rebalanceTimeoutOf(group)
      em.emit(
        new GroupRebalanceTimerRearmed({
          groupId: group.groupId,
          initial: false,
          deadline: em.now + timeout,
          delayMs: timeout,
          remainingMs: 0
        })
      )
      return
    }
  }
  const elected = { ...group, leaderId }
  em.emit(
    new GroupGenerationCompleted({
      groupId: group.groupId,
      generationId: group.generationId + 1,
      protocolName: group.members.size > 0 ? selectProtocol(elected) : null,
      leaderId: group.members.size > 0 ? leaderId : null,
      members: [...group.members.keys()],
      syncTimeoutMs: rebalanceTimeoutOf(group),
      at: em.now
    })
  )
}

/** Kafka's maybeElectNewJoinedLeader: keep the leader if it rejoined, else the first that did. */
const joinedLeader = (group: GroupState): string | null => {
  const current = group.leaderId === null ? undefined : group.members.get(group.leaderId)
  if (current !== undefined && current.awaitingJoin) return current.memberId
  for (const m of group.members.values()) if (m.awaitingJoin) return m.memberId
  return null
}

/**
 * Kafka's validateCurrentMember: a static member's instance id must map to this member id
 * (another id means it was replaced: FENCED_INSTANCE_ID), and the member must exist.
 */
export const validateCurrentMember = (group: GroupState, memberId: string, groupInstanceId: string | null): number => {
  if (groupInstanceId !== null) {
    const current = staticMemberId(group, groupInstanceId)
    if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
    if (current !== memberId) return ErrorCode.FENCED_INSTANCE_ID
  }
  return group.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID
}
