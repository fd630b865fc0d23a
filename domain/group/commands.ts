/**
 * The group coordinator's requests and responses as plain values, field for field as in the
 * Kafka JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete,
 * DescribeGroups and ListGroups messages (camelCase names from the protocol's JSON schemas), so the protocol
 * handlers map them one to one. Fields that only some API versions carry are noted; a null
 * string where an old version's field is non-nullable is written as "" by the codec.
 */
import type { Protocol } from "./Group.js"

export interface JoinGroupRequest {
  readonly groupId: string
  /** "" for a member that has no id yet. */
  readonly memberId: string
  /** v5+ (KIP-345 static membership); null otherwise. */
  readonly groupInstanceId: string | null
  /** From the request header. */
  readonly clientId: string
  /** The peer's address. */
  readonly clientHost: string
  readonly sessionTimeoutMs: number
  /** v1+; v0 uses the session timeout. */
  readonly rebalanceTimeoutMs: number
  readonly protocolType: string
  readonly protocols: ReadonlyArray<Protocol>
  /** The request's API version: v4+ gets MEMBER_ID_REQUIRED, v9+ may skip the assignment. */
  readonly apiVersion: number
}

export interface JoinGroupResponseMember {
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly metadata: Uint8Array
}

export interface JoinGroupResponse {
  readonly errorCode: number
  readonly generationId: number
  /** v7+ */
  readonly protocolType: string | null
  readonly protocolName: string | null
  /** "" when there is none. */
  readonly leader: string
  /** v9+: the static leader rejoined a Stable group and must not run the assignor. */
  readonly skipAssignment: boolean
  readonly memberId: string
  /** Only the leader gets the members (with their metadata for the chosen protocol). */
  readonly members: ReadonlyArray<JoinGroupResponseMember>
}

export interface SyncGroupAssignment {
  readonly memberId: string
  readonly assignment: Uint8Array
}

export interface SyncGroupRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  /** v5+; null when absent. */
  readonly protocolType: string | null
  readonly protocolName: string | null
  /** The leader's assignments; empty from followers. */
  readonly assignments: ReadonlyArray<SyncGroupAssignment>
}

export interface SyncGroupResponse {
  readonly errorCode: number
  /** v5+ */
  readonly protocolType: string | null
  readonly protocolName: string | null
  readonly assignment: Uint8Array
}

export interface HeartbeatRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
}

export interface HeartbeatResponse {
  readonly errorCode: number
}

export interface MemberIdentity {
  /** "" when a static member is named by its groupInstanceId only (v3+). */
  readonly memberId: string
  readonly groupInstanceId: string | null
}

export interface LeaveGroupRequest {
  readonly groupId: string
  /** v0-v2: exactly one member (the request's memberId); v3+: the request's members. */
  readonly members: ReadonlyArray<MemberIdentity>
  readonly apiVersion: number
}

export interface LeaveGroupMemberResponse extends MemberIdentity {
  readonly errorCode: number
}

export interface LeaveGroupResponse {
  /** v0-v2 carry only this: the member's error. */
  readonly errorCode: number
  /** v3+ */
  readonly members: ReadonlyArray<LeaveGroupMemberResponse>
}

export interface OffsetCommitPartition {
  readonly partitionIndex: number
  readonly committedOffset: number
  /** v6+; -1 when unknown. */
  readonly committedLeaderEpoch: number
  readonly committedMetadata: string | null
}

export interface OffsetCommitTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<OffsetCommitPartition>
}

export interface OffsetCommitRequest {
  readonly groupId: string
  /** -1 for a commit from outside group management (with memberId ""). */
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly topics: ReadonlyArray<OffsetCommitTopic>
}

export interface OffsetCommitResponse {
  readonly topics: ReadonlyArray<{
    readonly name: string
    readonly partitions: ReadonlyArray<{ readonly partitionIndex: number; readonly errorCode: number }>
  }>
}

export interface OffsetFetchRequest {
  readonly groupId: string
  /** null: every committed offset of the group (v2+). */
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitionIndexes: ReadonlyArray<number> }> | null
}

export interface OffsetFetchPartition {
  readonly partitionIndex: number
  /** -1 when nothing is committed. */
  readonly committedOffset: number
  readonly committedLeaderEpoch: number
  readonly metadata: string
  readonly errorCode: number
}

export interface OffsetFetchResponse {
  readonly errorCode: number
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: ReadonlyArray<OffsetFetchPartition> }>
}

export interface OffsetDeleteRequest {
  readonly groupId: string
  readonly topics: ReadonlyArray<{ readonly name: string; readonly partitions: ReadonlyArray<{ readonly partitionIndex: number }> }>
}

export interface OffsetDeleteResponse {
  /** The group's error; with one, `topics` is empty. */
  readonly errorCode: number
  readonly topics: ReadonlyArray<{
    readonly name: string
    readonly partitions: ReadonlyArray<{ readonly partitionIndex: number; readonly errorCode: number }>
  }>
}

export interface DescribeGroupsRequest {
  readonly groupIds: ReadonlyArray<string>
  /** v6+ answers an unknown group with GROUP_ID_NOT_FOUND instead of a Dead group. */
  readonly apiVersion: number
}

export interface DescribedMember {
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly clientId: string
  readonly clientHost: string
  /** Only while Stable: metadata for the chosen protocol, and the member's assignment. */
  readonly memberMetadata: Uint8Array
  readonly memberAssignment: Uint8Array
}

export interface DescribedGroup {
  readonly errorCode: number
  readonly groupId: string
  /** As Kafka spells it: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead. */
  readonly groupState: string
  readonly protocolType: string
  /** The chosen protocol while Stable, "" otherwise. */
  readonly protocolData: string
  readonly members: ReadonlyArray<DescribedMember>
}

export interface DescribeGroupsResponse {
  readonly groups: ReadonlyArray<DescribedGroup>
}

export interface ListGroupsRequest {
  /** v4+; empty or absent: every state. Case-insensitive. */
  readonly statesFilter?: ReadonlyArray<string>
}

export interface ListGroupsResponse {
  readonly errorCode: number
  readonly groups: ReadonlyArray<{ readonly groupId: string; readonly protocolType: string; readonly groupState: string }>
}

// Commands: what the deciders take. The service adds what a pure function cannot make itself.

export interface JoinGroup extends JoinGroupRequest {
  readonly _tag: "JoinGroup"
  /** The id a new member gets (clientId + "-" + a UUID); unused when the member has one. */
  readonly newMemberId: string
}

export interface SyncGroup extends SyncGroupRequest {
  readonly _tag: "SyncGroup"
}

export interface Heartbeat extends HeartbeatRequest {
  readonly _tag: "Heartbeat"
}

export interface LeaveGroup extends LeaveGroupRequest {
  readonly _tag: "LeaveGroup"
}

export interface CommitOffsets extends OffsetCommitRequest {
  readonly _tag: "CommitOffsets"
}

/** Timers: session, pending-member, pending-sync and rebalance deadlines at `now`. */
export interface Tick {
  readonly _tag: "Tick"
  readonly groupId: string
}

/** Topics were deleted: the group forgets their committed offsets (Kafka's handleDeletedPartitions). */
export interface DeleteTopicOffsets {
  readonly _tag: "DeleteTopicOffsets"
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
}

/** DeleteGroups for one group: only an empty group may go (with its committed offsets). */
export interface DeleteGroup {
  readonly _tag: "DeleteGroup"
  readonly groupId: string
}

/** OffsetDelete: the group forgets some partitions' committed offsets (topics known to exist). */
export interface DeleteOffsets extends OffsetDeleteRequest {
  readonly _tag: "DeleteOffsets"
}

export type GroupCommand =
  | JoinGroup
  | SyncGroup
  | Heartbeat
  | LeaveGroup
  | CommitOffsets
  | Tick
  | DeleteTopicOffsets
  | DeleteGroup
  | DeleteOffsets
