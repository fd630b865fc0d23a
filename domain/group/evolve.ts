/**
 * Folds one group event into the group state. Pure: every change copies what it touches, so a
 * state handed out earlier never changes under its holder.
 */
import { EMPTY_BYTES, emptyGroup, type GroupState, type Member } from "./Group.js"
import type { GroupEvent } from "./events.js"

const withMember = (group: GroupState, memberId: string, update: (m: Member) => Member): GroupState => {
  const member = group.members.get(memberId)
  if (member === undefined) return group
  const members = new Map(group.members)
  members.set(memberId, update(member))
  return { ...group, members }
}

const mapMembers = (group: GroupState, update: (m: Member) => Member): ReadonlyMap<string, Member> => {
  const members = new Map<string, Member>()
  for (const [id, m] of group.members) members.set(id, update(m))
  return members
}

const without = <K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> => {
  if (!map.has(key)) return map
  const copy = new Map(map)
  copy.delete(key)
  return copy
}

const withoutItem = <T>(set: ReadonlySet<T>, item: T): ReadonlySet<T> => {
  if (!set.has(item)) return set
  const copy = new Set(set)
  copy.delete(item)
  return copy
}

export const evolve = (state: GroupState | undefined, event: GroupEvent): GroupState => {
  // A deleted (Dead) group is gone: the next event under its id starts a new one.
  const group = state === undefined || state.state === "Dead" ? emptyGroup(event.groupId) : state
  switch (event._tag) {
    case "MemberJoined": {
      const existing = group.members.get(event.memberId)
      const members = new Map(group.members)
      members.set(event.memberId, {
        memberId: event.memberId,
        groupInstanceId: event.groupInstanceId,
        clientId: event.clientId,
        clientHost: event.clientHost,
        sessionTimeoutMs: event.sessionTimeoutMs,
        rebalanceTimeoutMs: event.rebalanceTimeoutMs,
        protocolType: event.protocolType,
        protocols: event.protocols,
        assignment: existing?.assignment ?? EMPTY_BYTES,
        lastHeardAt: event.at,
        isNew: existing?.isNew ?? true,
        awaitingJoin: true,
        awaitingSync: false
      })
      if (existing !== undefined) return { ...group, members }
      // A new member joining a brand-new group mid-rebalance extends the initial delay.
      const rebalance = group.rebalance !== null && group.generationId === 0
        ? { ...group.rebalance, newMemberAdded: true }
        : group.rebalance
      return {
        ...group,
        members,
        protocolType: group.members.size === 0 ? event.protocolType : group.protocolType,
        leaderId: group.leaderId ?? event.memberId,
        pendingMembers: without(group.pendingMembers, event.memberId),
        rebalance
      }
    }
    case "MemberRemoved": {
      if (!group.members.has(event.memberId)) return group
      const members = without(group.members, event.memberId)
      const leaderId = group.leaderId === event.memberId ? (members.keys().next().value ?? null) : group.leaderId
      return { ...group, members, leaderId, pendingSync: withoutItem(group.pendingSync, event.memberId) }
    }
    case "StaticMemberReplaced": {
      const old = group.members.get(event.oldMemberId)
      if (old === undefined) return group
      // Keep the member's place (join order decides the next leader).
      const members = new Map<string, Member>()
      for (const [id, m] of group.members) {
        if (id !== event.oldMemberId) members.set(id, m)
        else {
          members.set(event.newMemberId, {
            ...old,
            memberId: event.newMemberId,
            sessionTimeoutMs: event.sessionTimeoutMs,
            rebalanceTimeoutMs: event.rebalanceTimeoutMs,
            protocols: event.protocols,
            lastHeardAt: event.at,
            awaitingJoin: false,
            awaitingSync: false
          })
        }
      }
      const pendingSync = group.pendingSync.has(event.oldMemberId)
        ? new Set([...withoutItem(group.pendingSync, event.oldMemberId), event.newMemberId])
        : group.pendingSync
      return {
        ...group,
        members,
        leaderId: group.leaderId === event.oldMemberId ? event.newMemberId : group.leaderId,
        pendingSync
      }
    }
    case "GroupRebalanceStarted": {
      // Assignments handed out in CompletingRebalance are void once a new rebalance starts.
      const members = group.state === "CompletingRebalance"
        ? mapMembers(group, (m) => ({ ...m, assignment: EMPTY_BYTES, awaitingSync: false }))
        : mapMembers(group, (m) => (m.awaitingSync ? { ...m, awaitingSync: false } : m))
      return {
        ...group,
        state: "PreparingRebalance",
        members,
        rebalance: {
          initial: event.initial,
          deadline: event.deadline,
          delayMs: event.delayMs,
          remainingMs: event.remainingMs,
          newMemberAdded: false
        },
        pendingSync: new Set(),
        syncDeadline: 0
      }
    }
    case "GroupRebalanceTimerRearmed":
      return {
        ...group,
        rebalance: {
          initial: event.initial,
          deadline: event.deadline,
          delayMs: event.delayMs,
          remainingMs: event.remainingMs,
          newMemberAdded: false
        }
      }
    case "GroupGenerationCompleted": {
      const members = mapMembers(group, (m) => ({
        ...m,
        assignment: EMPTY_BYTES,
        lastHeardAt: event.at,
        isNew: false,
        awaitingJoin: false,
        awaitingSync: false
      }))
      const empty = members.size === 0
      return {
        ...group,
        state: empty ? "Empty" : "CompletingRebalance",
        generationId: event.generationId,
        protocolName: event.protocolName,
        leaderId: event.leaderId,
        members,
        rebalance: null,
        pendingSync: empty ? new Set() : new Set(members.keys()),
        syncDeadline: empty ? 0 : event.at + event.syncTimeoutMs
      }
    }
    case "GroupAssignmentsSynced": {
      const given = new Map(event.assignments.map((a) => [a.memberId, a.assignment] as const))
      const members = mapMembers(group, (m) => ({
        ...m,
        assignment: given.get(m.memberId) ?? EMPTY_BYTES,
        // Answered members start a fresh session (Kafka's propagateAssignment).
        lastHeardAt: m.awaitingSync ? event.at : m.lastHeardAt,
        awaitingSync: false
      }))
      return { ...group, state: "Stable", members }
    }
    case "GroupOffsetsCommitted": {
      const offsets = new Map(group.offsets)
      for (const o of event.offsets) {
        const partitions = new Map(offsets.get(o.topic) ?? [])
        partitions.set(o.partition, {
          offset: o.offset,
          leaderEpoch: o.leaderEpoch,
          metadata: o.metadata,
          commitTimestamp: event.at
        })
        offsets.set(o.topic, partitions)
      }
      return { ...group, offsets }
    }
    case "GroupOffsetsDeleted": {
      const offsets = new Map(group.offsets)
      for (const topic of event.topics) offsets.delete(topic)
      return { ...group, offsets }
    }
    case "GroupPartitionOffsetsDeleted": {
      const offsets = new Map(group.offsets)
      for (const p of event.partitions) {
        const partitions = offsets.get(p.topic)
        if (partitions === undefined || !partitions.has(p.partition)) continue
        const left = new Map(partitions)
        left.delete(p.partition)
        if (left.size === 0) offsets.delete(p.topic)
        else offsets.set(p.topic, left)
      }
      return { ...group, offsets }
    }
    case "GroupDeleted":
      return { ...emptyGroup(event.groupId), state: "Dead" }
    case "MemberHeartbeat":
      return withMember(group, event.memberId, (m) => ({ ...m, lastHeardAt: event.at }))
    case "PendingMemberAdded": {
      const pendingMembers = new Map(group.pendingMembers)
      pendingMembers.set(event.memberId, event.expiresAt)
      return { ...group, pendingMembers }
    }
    case "PendingMemberRemoved":
      return { ...group, pendingMembers: without(group.pendingMembers, event.memberId) }
    case "MemberSyncReceived": {
      const next = withMember(group, event.memberId, (m) => ({
        ...m,
        lastHeardAt: event.at,
        awaitingSync: group.state === "CompletingRebalance"
      }))
      return { ...next, pendingSync: withoutItem(group.pendingSync, event.memberId) }
    }
  }
}

/** Folds events in order. */
export const evolveAll = (state: GroupState | undefined, events: ReadonlyArray<GroupEvent>): GroupState | undefined => {
  let s = state
  for (const e of events) s = evolve(s, e)
  return s
}
