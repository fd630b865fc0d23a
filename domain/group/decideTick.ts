/**
 * The group's timers at `now`, run by the coordinator's sweep: pending member ids that were
 * never used, members whose session ran out, members that did not send SyncGroup in time, and
 * the JoinGroup phase's deadline (initial delay or rebalance timeout). Kafka runs these as
 * delayed operations in purgatories; here one pure pass per group per sweep decides them all.
 */
import { type Decision, Emitter } from "./Decision.js"
import { MemberRemoved, PendingMemberRemoved } from "./events.js"
import { type GroupPolicy, type GroupState, sessionExpired } from "./Group.js"
import { prepareRebalance, removeMember, settleRebalance } from "./rebalance.js"

export const decideTick = (group: GroupState, now: number, policy: GroupPolicy): Decision<void> => {
  const em = new Emitter(group, now, policy)
  for (const [memberId, expiresAt] of group.pendingMembers) {
    if (expiresAt <= now) {
      em.emit(new PendingMemberRemoved({ groupId: group.groupId, memberId, reason: "session-timeout" }))
      settleRebalance(em)
    }
  }
  for (const memberId of [...em.state.members.keys()]) {
    const member = em.state.members.get(memberId)
    if (member !== undefined && sessionExpired(member, now, policy)) removeMember(em, memberId, "session-timeout")
  }
  const s = em.state
  if ((s.state === "CompletingRebalance" || s.state === "Stable") && s.pendingSync.size > 0 && now >= s.syncDeadline) {
    // Kafka's pending-sync timeout: members that never sync after a generation block the group.
    for (const memberId of [...s.pendingSync]) {
      em.emit(new MemberRemoved({ groupId: s.groupId, memberId, reason: "sync-timeout", at: now }))
    }
    prepareRebalance(em)
  }
  settleRebalance(em)
  return em.decision(undefined)
}

/** Whether `decideTick` would change anything at `now` (lets the sweep skip idle groups cheaply). */
export const hasDueTimer = (group: GroupState, now: number, policy: GroupPolicy): boolean => {
  for (const expiresAt of group.pendingMembers.values()) if (expiresAt <= now) return true
  for (const m of group.members.values()) if (sessionExpired(m, now, policy)) return true
  if (group.pendingSync.size > 0 && now >= group.syncDeadline) return true
  return group.rebalance !== null && now >= group.rebalance.deadline
}
