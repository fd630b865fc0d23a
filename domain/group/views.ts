/**
 * Read-only answers built from a group's state: JoinGroup and SyncGroup responses, and the
 * OffsetFetch, DescribeGroups and ListGroups views. Pure, shared by the deciders and by the
 * service that answers waiting requests when a generation completes.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type {
  DescribedGroup,
  JoinGroupResponse,
  JoinGroupResponseMember,
  ListGroupsResponse,
  OffsetFetchPartition,
  OffsetFetchRequest,
  OffsetFetchResponse,
  SyncGroupResponse
} from "./commands.js"
import { EMPTY_BYTES, type GroupState, metadataFor } from "./Group.js"

export const joinError = (memberId: string, errorCode: number): JoinGroupResponse => ({
  errorCode,
  generationId: -1,
  protocolType: null,
  protocolName: null,
  leader: "",
  skipAssignment: false,
  memberId,
  members: []
})

/** Every member with its metadata for the chosen protocol (what the leader assigns from). */
export const currentMemberMetadata = (group: GroupState): ReadonlyArray<JoinGroupResponseMember> =>
  [...group.members.values()].map((m) => ({
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId,
    metadata: metadataFor(m, group.protocolName)
  }))

/** The answer for the current generation: the leader gets the members, followers none. */
export const generationJoinResponse = (group: GroupState, memberId: string): JoinGroupResponse => ({
  errorCode: ErrorCode.NONE,
  generationId: group.generationId,
  protocolType: group.protocolType,
  protocolName: group.protocolName,
  leader: group.leaderId ?? "",
  skipAssignment: false,
  memberId,
  members: group.leaderId === memberId ? currentMemberMetadata(group) : []
})

export const syncError = (errorCode: number): SyncGroupResponse => ({
  errorCode,
  protocolType: null,
  protocolName: null,
  assignment: EMPTY_BYTES
})

export const syncAssignment = (group: GroupState, memberId: string): SyncGroupResponse => ({
  errorCode: ErrorCode.NONE,
  protocolType: group.protocolType,
  protocolName: group.protocolName,
  assignment: group.members.get(memberId)?.assignment ?? EMPTY_BYTES
})

/**
 * DescribeGroups for one group. Metadata and assignments are shown only while Stable (Kafka's
 * GroupMetadata.summary). An unknown group is Dead with NONE before v6, GROUP_ID_NOT_FOUND from v6.
 */
export const describeGroup = (group: GroupState | undefined, groupId: string, apiVersion: number): DescribedGroup => {
  if (group === undefined) {
    return {
      errorCode: apiVersion >= 6 ? ErrorCode.GROUP_ID_NOT_FOUND : ErrorCode.NONE,
      groupId,
      groupState: "Dead",
      protocolType: "",
      protocolData: "",
      members: []
    }
  }
  const stable = group.state === "Stable"
  return {
    errorCode: ErrorCode.NONE,
    groupId,
    groupState: group.state,
    protocolType: group.protocolType ?? "",
    protocolData: stable ? group.protocolName ?? "" : "",
    members: [...group.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberMetadata: stable ? metadataFor(m, group.protocolName) : EMPTY_BYTES,
      memberAssignment: stable ? m.assignment : EMPTY_BYTES
    }))
  }
}

const noOffset = (partitionIndex: number): OffsetFetchPartition => ({
  partitionIndex,
  committedOffset: -1,
  committedLeaderEpoch: -1,
  metadata: "",
  errorCode: ErrorCode.NONE
})

/** OffsetFetch: the committed offsets asked for (-1 where none), or all of them for `topics: null`. */
export const fetchOffsets = (group: GroupState | undefined, request: OffsetFetchRequest): OffsetFetchResponse => {
  const offsets = group?.offsets ?? new Map()
  if (request.topics === null) {
    return {
      errorCode: ErrorCode.NONE,
      topics: [...offsets].map(([name, partitions]) => ({
        name,
        partitions: [...partitions].map(([partitionIndex, o]) => ({
          partitionIndex,
          committedOffset: o.offset,
          committedLeaderEpoch: o.leaderEpoch,
          metadata: o.metadata,
          errorCode: ErrorCode.NONE
        }))
      }))
    }
  }
  return {
    errorCode: ErrorCode.NONE,
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p) => {
        const o = offsets.get(t.name)?.get(p)
        return o === undefined
          ? noOffset(p)
          : { partitionIndex: p, committedOffset: o.offset, committedLeaderEpoch: o.leaderEpoch, metadata: o.metadata, errorCode: ErrorCode.NONE }
      })
    }))
  }
}

/** ListGroups, optionally only groups in the given states (case-insensitive, v4+). */
export const listGroups = (groups: Iterable<GroupState>, statesFilter: ReadonlyArray<string> = []): ListGroupsResponse => {
  const wanted = new Set(statesFilter.map((s) => s.toLowerCase()))
  const out: Array<{ groupId: string; protocolType: string; groupState: string }> = []
  for (const g of groups) {
    if (g.state === "Dead") continue
    if (wanted.size > 0 && !wanted.has(g.state.toLowerCase())) continue
    out.push({ groupId: g.groupId, protocolType: g.protocolType ?? "", groupState: g.state })
  }
  return { errorCode: ErrorCode.NONE, groups: out }
}
