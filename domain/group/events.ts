/**
 * Consumer-group events, Schema-encoded into the EventStore (stream `group-<groupId>`). Version
 * 1 of each; an upcaster goes here when one changes.
 *
 * Durable events rebuild the group on replay: membership, rebalances, generations,
 * assignments and committed offsets. Transient events (`TRANSIENT_EVENT_TYPES`) are folded
 * into the live read model only and never stored: heartbeats and sync arrivals would flood
 * the store, and pending member ids mean nothing after a restart, since every member then
 * gets a fresh deadline anyway (see `resumed`).
 */
import { Schema } from "effect"

const Bytes = Schema.Uint8ArrayFromBase64

export const StoredProtocol = Schema.Struct({ name: Schema.String, metadata: Bytes })

/** A member was added (new member) or rejoined (known member: protocols and timeouts updated). */
export class MemberJoined extends Schema.TaggedClass<MemberJoined>()("MemberJoined", {
  groupId: Schema.String,
  memberId: Schema.String,
  groupInstanceId: Schema.NullOr(Schema.String),
  clientId: Schema.String,
  clientHost: Schema.String,
  sessionTimeoutMs: Schema.Number,
  rebalanceTimeoutMs: Schema.Number,
  protocolType: Schema.String,
  protocols: Schema.Array(StoredProtocol),
  at: Schema.Number
}) {}

export const RemovalReason = Schema.Literal("left", "session-timeout", "rebalance-timeout", "sync-timeout")
export type RemovalReason = typeof RemovalReason.Type

export class MemberRemoved extends Schema.TaggedClass<MemberRemoved>()("MemberRemoved", {
  groupId: Schema.String,
  memberId: Schema.String,
  reason: RemovalReason,
  at: Schema.Number
}) {}

/**
 * A static member (group.instance.id) rejoined without its member id: it gets a new one, keeps
 * its place and assignment, and the old id is fenced (KIP-345).
 */
export class StaticMemberReplaced extends Schema.TaggedClass<StaticMemberReplaced>()("StaticMemberReplaced", {
  groupId: Schema.String,
  groupInstanceId: Schema.String,
  oldMemberId: Schema.String,
  newMemberId: Schema.String,
  sessionTimeoutMs: Schema.Number,
  rebalanceTimeoutMs: Schema.Number,
  protocols: Schema.Array(StoredProtocol),
  at: Schema.Number
}) {}

/** The group entered PreparingRebalance: members must rejoin before `deadline`. */
export class GroupRebalanceStarted extends Schema.TaggedClass<GroupRebalanceStarted>()("GroupRebalanceStarted", {
  groupId: Schema.String,
  /** Started from Empty: wait the initial rebalance delay for more members. */
  initial: Schema.Boolean,
  deadline: Schema.Number,
  delayMs: Schema.Number,
  remainingMs: Schema.Number,
  at: Schema.Number
}) {}

/** The JoinGroup phase waits longer: another initial-delay phase, or nobody rejoined yet. */
export class GroupRebalanceTimerRearmed extends Schema.TaggedClass<GroupRebalanceTimerRearmed>()("GroupRebalanceTimerRearmed", {
  groupId: Schema.String,
  initial: Schema.Boolean,
  deadline: Schema.Number,
  delayMs: Schema.Number,
  remainingMs: Schema.Number
}) {}

/** The JoinGroup phase completed: a new generation (CompletingRebalance, or Empty without members). */
export class GroupGenerationCompleted extends Schema.TaggedClass<GroupGenerationCompleted>()("GroupGenerationCompleted", {
  groupId: Schema.String,
  generationId: Schema.Number,
  protocolName: Schema.NullOr(Schema.String),
  leaderId: Schema.NullOr(Schema.String),
  members: Schema.Array(Schema.String),
  /** Members must send SyncGroup within this (Kafka's pending-sync timeout, the rebalance timeout). */
  syncTimeoutMs: Schema.Number,
  at: Schema.Number
}) {}

export const StoredAssignment = Schema.Struct({ memberId: Schema.String, assignment: Bytes })

/** The leader's assignment for the generation: the group is Stable. */
export class GroupAssignmentsSynced extends Schema.TaggedClass<GroupAssignmentsSynced>()("GroupAssignmentsSynced", {
  groupId: Schema.String,
  generationId: Schema.Number,
  assignments: Schema.Array(StoredAssignment),
  at: Schema.Number
}) {}

export const StoredOffset = Schema.Struct({
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number,
  leaderEpoch: Schema.Number,
  metadata: Schema.String
})

export class GroupOffsetsCommitted extends Schema.TaggedClass<GroupOffsetsCommitted>()("GroupOffsetsCommitted", {
  groupId: Schema.String,
  offsets: Schema.Array(StoredOffset),
  at: Schema.Number
}) {}

/** The topics were deleted: their committed offsets are gone (a topic recreated later starts without). */
export class GroupOffsetsDeleted extends Schema.TaggedClass<GroupOffsetsDeleted>()("GroupOffsetsDeleted", {
  groupId: Schema.String,
  topics: Schema.Array(Schema.String),
  at: Schema.Number
}) {}

export const StoredPartition = Schema.Struct({ topic: Schema.String, partition: Schema.Number })

/** OffsetDelete: these partitions' committed offsets are gone (the group itself stays). */
export class GroupPartitionOffsetsDeleted extends Schema.TaggedClass<GroupPartitionOffsetsDeleted>()("GroupPartitionOffsetsDeleted", {
  groupId: Schema.String,
  partitions: Schema.Array(StoredPartition),
  at: Schema.Number
}) {}

/**
 * An empty group was deleted (DeleteGroups): it and its committed offsets are gone. Folding it
 * leaves a Dead group, which the coordinator and the rebuild drop; a later event for the same
 * id starts a new group.
 */
export class GroupDeleted extends Schema.TaggedClass<GroupDeleted>()("GroupDeleted", {
  groupId: Schema.String,
  at: Schema.Number
}) {}

// Transient: folded into the live read model, never stored.

/** A heartbeat, or a commit that counts as one. */
export class MemberHeartbeat extends Schema.TaggedClass<MemberHeartbeat>()("MemberHeartbeat", {
  groupId: Schema.String,
  memberId: Schema.String,
  at: Schema.Number
}) {}

/** JoinGroup v4+ without a member id: the id is handed out with MEMBER_ID_REQUIRED (KIP-394). */
export class PendingMemberAdded extends Schema.TaggedClass<PendingMemberAdded>()("PendingMemberAdded", {
  groupId: Schema.String,
  memberId: Schema.String,
  expiresAt: Schema.Number
}) {}

export class PendingMemberRemoved extends Schema.TaggedClass<PendingMemberRemoved>()("PendingMemberRemoved", {
  groupId: Schema.String,
  memberId: Schema.String,
  reason: Schema.Literal("left", "session-timeout")
}) {}

/** A valid SyncGroup arrived (the member now waits for the assignment, or got it). */
export class MemberSyncReceived extends Schema.TaggedClass<MemberSyncReceived>()("MemberSyncReceived", {
  groupId: Schema.String,
  memberId: Schema.String,
  at: Schema.Number
}) {}

export const GroupEvent = Schema.Union(
  MemberJoined,
  MemberRemoved,
  StaticMemberReplaced,
  GroupRebalanceStarted,
  GroupRebalanceTimerRearmed,
  GroupGenerationCompleted,
  GroupAssignmentsSynced,
  GroupOffsetsCommitted,
  GroupOffsetsDeleted,
  GroupPartitionOffsetsDeleted,
  GroupDeleted,
  MemberHeartbeat,
  PendingMemberAdded,
  PendingMemberRemoved,
  MemberSyncReceived
)
export type GroupEvent = typeof GroupEvent.Type

export const TRANSIENT_EVENT_TYPES: ReadonlySet<string> = new Set([
  "MemberHeartbeat",
  "PendingMemberAdded",
  "PendingMemberRemoved",
  "MemberSyncReceived"
])

/** The stored event types (all folded into the groups snapshot, so all prunable behind it). */
export const DURABLE_EVENT_TYPES: ReadonlyArray<string> = [
  "MemberJoined",
  "MemberRemoved",
  "StaticMemberReplaced",
  "GroupRebalanceStarted",
  "GroupRebalanceTimerRearmed",
  "GroupGenerationCompleted",
  "GroupAssignmentsSynced",
  "GroupOffsetsCommitted",
  "GroupOffsetsDeleted",
  "GroupPartitionOffsetsDeleted",
  "GroupDeleted"
]

export const isDurable = (event: GroupEvent): boolean => !TRANSIENT_EVENT_TYPES.has(event._tag)

export const groupStream = (groupId: string): string => `group-${groupId}`
export const isGroupStream = (stream: string): boolean => stream.startsWith("group-")
export const groupIdOfStream = (stream: string): string => stream.slice("group-".length)
