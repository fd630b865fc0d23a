/**
 * A classic (pre-KIP-848) Kafka consumer group as data: members, generation, chosen protocol,
 * leader, assignments and committed offsets, plus the bookkeeping of a rebalance in progress.
 * Pure values and helpers only; `evolve` builds them and the deciders read them.
 *
 * Two kinds of fields live here. Durable ones (members and their protocols, generation, state,
 * leader, assignments, offsets) are rebuilt from stored events. Soft ones (when a member was last
 * heard from, pending members, who is waiting for a JoinGroup or SyncGroup answer, rebalance
 * deadlines) describe live connections; they come from transient events or are reset by
 * `resumed` after a restart, as Kafka resets them when a coordinator loads a group.
 */

export type GroupStateName = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead"

export interface Protocol {
  readonly name: string
  readonly metadata: Uint8Array
}

export interface Member {
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly clientId: string
  readonly clientHost: string
  readonly sessionTimeoutMs: number
  readonly rebalanceTimeoutMs: number
  readonly protocolType: string
  /** In the member's order of preference. */
  readonly protocols: ReadonlyArray<Protocol>
  /** Its part of the leader's assignment for the current generation (empty until synced). */
  readonly assignment: Uint8Array
  // Soft state.
  /** Last join, sync, heartbeat or commit (ms). */
  readonly lastHeardAt: number
  /** Joined but not yet through a completed rebalance: expires after the new-member timeout. */
  readonly isNew: boolean
  /** Has (re)joined in the rebalance in progress and waits for its JoinGroup answer. */
  readonly awaitingJoin: boolean
  /** Has sent SyncGroup in CompletingRebalance and waits for the leader's assignment. */
  readonly awaitingSync: boolean
}

export interface CommittedOffset {
  readonly offset: number
  readonly leaderEpoch: number
  readonly metadata: string
  readonly commitTimestamp: number
}

/** The JoinGroup phase's timer (Kafka's DelayedJoin / InitialDelayedJoin). */
export interface RebalanceTimer {
  /** An initial delay (group was Empty): completes only when the timer fires, never early. */
  readonly initial: boolean
  readonly deadline: number
  /** Length of the current wait (initial delay phases). */
  readonly delayMs: number
  /** Time left of the rebalance timeout for further initial-delay phases. */
  readonly remainingMs: number
  /** A new member joined during this initial-delay phase: wait another phase. */
  readonly newMemberAdded: boolean
}

export interface GroupState {
  readonly groupId: string
  readonly state: GroupStateName
  readonly generationId: number
  /** Set by the first member to join an empty group; kept while the group is Empty. */
  readonly protocolType: string | null
  /** The protocol chosen for the current generation. */
  readonly protocolName: string | null
  readonly leaderId: string | null
  /** In join order: the first is the leader unless it leaves. */
  readonly members: ReadonlyMap<string, Member>
  /** topic -> partition -> committed offset. */
  readonly offsets: ReadonlyMap<string, ReadonlyMap<number, CommittedOffset>>
  // Soft state.
  /** Only while PreparingRebalance. */
  readonly rebalance: RebalanceTimer | null
  /** Member ids handed out with MEMBER_ID_REQUIRED, not joined yet: id -> expiry. */
  readonly pendingMembers: ReadonlyMap<string, number>
  /** Members of the new generation that have not sent SyncGroup yet (Kafka's pending-sync timeout). */
  readonly pendingSync: ReadonlySet<string>
  readonly syncDeadline: number
}

/** The coordinator's settings that shape decisions (Kafka's group.* broker configs). */
export interface GroupPolicy {
  /** group.min.session.timeout.ms */
  readonly minSessionTimeoutMs: number
  /** group.max.session.timeout.ms */
  readonly maxSessionTimeoutMs: number
  /** group.initial.rebalance.delay.ms: Kafka's default is 3000; ours is 0 (answer at once). */
  readonly initialRebalanceDelayMs: number
  /** How long a new member may wait in a rebalance without heartbeats (Kafka: 5 minutes). */
  readonly newMemberJoinTimeoutMs: number
  /** group.max.size */
  readonly maxGroupSize: number
  /** offset.metadata.max.bytes */
  readonly maxOffsetMetadataBytes: number
}

export const defaultGroupPolicy: GroupPolicy = {
  minSessionTimeoutMs: 6_000,
  maxSessionTimeoutMs: 1_800_000,
  initialRebalanceDelayMs: 0,
  newMemberJoinTimeoutMs: 300_000,
  maxGroupSize: Number.MAX_SAFE_INTEGER,
  maxOffsetMetadataBytes: 4096
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0)

export const emptyGroup = (groupId: string): GroupState => ({
  groupId,
  state: "Empty",
  generationId: 0,
  protocolType: null,
  protocolName: null,
  leaderId: null,
  members: new Map(),
  offsets: new Map(),
  rebalance: null,
  pendingMembers: new Map(),
  pendingSync: new Set(),
  syncDeadline: 0
})

/** Kafka's group.rebalanceTimeoutMs: the longest rebalance timeout of any member. */
export const rebalanceTimeoutOf = (group: GroupState): number => {
  let max = 0
  for (const m of group.members.values()) if (m.rebalanceTimeoutMs > max) max = m.rebalanceTimeoutMs
  return max
}

/** The member that holds a static `groupInstanceId`, if any. */
export const staticMemberId = (group: GroupState, groupInstanceId: string): string | undefined => {
  for (const m of group.members.values()) if (m.groupInstanceId === groupInstanceId) return m.memberId
  return undefined
}

/** Every current member (and none pending) has rejoined: the JoinGroup phase can complete. */
export const hasAllMembersJoined = (group: GroupState): boolean => {
  if (group.pendingMembers.size > 0) return false
  for (const m of group.members.values()) if (!m.awaitingJoin) return false
  return true
}

/**
 * Kafka's supportsProtocols: an empty group takes any non-empty protocol type and list; otherwise
 * the type must match and one of the protocols must be supported by every current member.
 */
export const supportsProtocols = (group: GroupState, protocolType: string, protocols: ReadonlyArray<Protocol>): boolean => {
  if (group.members.size === 0) return protocolType.length > 0 && protocols.length > 0
  if (group.protocolType !== protocolType) return false
  return protocols.some((p) => everyMemberSupports(group, p.name))
}

const everyMemberSupports = (group: GroupState, name: string): boolean => {
  for (const m of group.members.values()) if (!m.protocols.some((p) => p.name === name)) return false
  return true
}

/**
 * The protocol for the next generation: among those every member supports, each member votes
 * for its first preference and the most votes win. Kafka breaks ties arbitrarily; here the
 * leader's preference order decides, so the choice is deterministic.
 */
export const selectProtocol = (group: GroupState): string | null => {
  const first = group.members.get(group.leaderId ?? "") ?? group.members.values().next().value
  if (first === undefined) return null
  const candidates = first.protocols.map((p) => p.name).filter((name) => everyMemberSupports(group, name))
  if (candidates.length === 0) return first.protocols[0]?.name ?? null
  const votes = new Map<string, number>()
  for (const m of group.members.values()) {
    const vote = m.protocols.find((p) => candidates.includes(p.name))
    if (vote !== undefined) votes.set(vote.name, (votes.get(vote.name) ?? 0) + 1)
  }
  let best = candidates[0]!
  for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name
  return best
}

/** Same protocols in the same order with the same metadata bytes (Kafka's MemberMetadata.matches). */
export const sameProtocols = (a: ReadonlyArray<Protocol>, b: ReadonlyArray<Protocol>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.name !== b[i]!.name || !sameBytes(a[i]!.metadata, b[i]!.metadata)) return false
  }
  return true
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The member's metadata for `protocolName` (empty when it has none). */
export const metadataFor = (member: Member, protocolName: string | null): Uint8Array =>
  member.protocols.find((p) => p.name === protocolName)?.metadata ?? EMPTY_BYTES

/**
 * Whether a member's session has run out at `now` (Kafka's hasSatisfiedHeartbeat): a new member
 * waiting for its first generation gets the new-member timeout; a known member waiting for a
 * JoinGroup or SyncGroup answer cannot heartbeat and is kept; everyone else must be heard from
 * within its session timeout.
 */
export const sessionExpired = (member: Member, now: number, policy: GroupPolicy): boolean => {
  if (member.isNew) return member.lastHeardAt + policy.newMemberJoinTimeoutMs <= now
  if (member.awaitingJoin || member.awaitingSync) return false
  return member.lastHeardAt + member.sessionTimeoutMs <= now
}

/**
 * The group as a freshly started coordinator holds it: nobody is waiting for an answer any more
 * (those connections are gone), pending member ids are forgotten, and every member and timer
 * starts a fresh deadline from `now`, so members that never come back are removed.
 */
export const resumed = (group: GroupState, now: number): GroupState => {
  const members = new Map<string, Member>()
  for (const [id, m] of group.members) {
    members.set(id, { ...m, lastHeardAt: now, isNew: false, awaitingJoin: false, awaitingSync: false })
  }
  const next = { ...group, members, pendingMembers: new Map<string, number>() }
  const timeout = rebalanceTimeoutOf(next)
  return {
    ...next,
    rebalance: group.state === "PreparingRebalance"
      ? { initial: false, deadline: now + timeout, delayMs: timeout, remainingMs: 0, newMemberAdded: false }
      : null,
    pendingSync: group.state === "CompletingRebalance" ? new Set(members.keys()) : new Set<string>(),
    syncDeadline: group.state === "CompletingRebalance" ? now + timeout : 0
  }
}
