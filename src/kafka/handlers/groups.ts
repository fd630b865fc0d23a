/**
 * The consumer-group requests, mapped field for field onto the GroupCoordinator (whose decider
 * lives in domain/group): JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
 * DescribeGroups, ListGroups, DeleteGroups and OffsetDelete. Only version differences are handled here, plus the
 * checks that need the topic registry: OffsetCommit for a topic or partition that does not
 * exist is refused with UNKNOWN_TOPIC_OR_PARTITION, as Kafka does (it keeps a deleted topic's
 * offsets from coming back), and so is OffsetDelete's (KafkaApis.handleOffsetDeleteRequest).
 */
import { Effect } from "effect"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import type { KafkaConnection } from "../KafkaConnection.js"
import type { KafkaContext } from "../KafkaContext.js"
import type {
  DeleteGroupsRequest,
  DeleteGroupsResponse,
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  RequestHeader,
  SyncGroupRequest,
  SyncGroupResponse
} from "../protocol/index.js"

export const handleJoinGroup = (
  ctx: KafkaContext,
  conn: KafkaConnection,
  header: RequestHeader,
  request: JoinGroupRequest
): Effect.Effect<JoinGroupResponse> =>
  Effect.map(
    ctx.groups.joinGroup({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      clientId: header.clientId ?? "",
      clientHost: `/${conn.remoteHost}`,
      sessionTimeoutMs: request.sessionTimeoutMs,
      // v0 has no rebalance timeout: the session timeout serves (Kafka does the same).
      rebalanceTimeoutMs: header.apiVersion === 0 ? request.sessionTimeoutMs : request.rebalanceTimeoutMs,
      protocolType: request.protocolType,
      protocols: request.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
      apiVersion: header.apiVersion
    }),
    (r) => ({
      throttleTimeMs: 0,
      errorCode: r.errorCode,
      generationId: r.generationId,
      protocolName: r.protocolName ?? "",
      leader: r.leader,
      memberId: r.memberId,
      members: r.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata }))
    })
  )

export const handleSyncGroup = (ctx: KafkaContext, request: SyncGroupRequest): Effect.Effect<SyncGroupResponse> =>
  Effect.map(
    ctx.groups.syncGroup({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      protocolType: null,
      protocolName: null,
      assignments: request.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment }))
    }),
    (r) => ({ throttleTimeMs: 0, errorCode: r.errorCode, assignment: r.assignment })
  )

export const handleHeartbeat = (ctx: KafkaContext, request: HeartbeatRequest): Effect.Effect<HeartbeatResponse> =>
  Effect.map(ctx.groups.heartbeat(request), (r) => ({ throttleTimeMs: 0, errorCode: r.errorCode }))

export const handleLeaveGroup = (ctx: KafkaContext, request: LeaveGroupRequest, apiVersion: number): Effect.Effect<LeaveGroupResponse> =>
  Effect.map(
    ctx.groups.leaveGroup({
      groupId: request.groupId,
      // v0-v2 name one member; v3+ a list.
      members: apiVersion < 3 ? [{ memberId: request.memberId, groupInstanceId: null }] : request.members,
      apiVersion
    }),
    (r) => ({ throttleTimeMs: 0, errorCode: r.errorCode, members: r.members })
  )

const partitionExists = (ctx: KafkaContext, topic: string, partition: number): boolean => {
  const t = ctx.topics.get(topic)
  return t !== undefined && partition >= 0 && partition < t.partitions
}

export const handleOffsetCommit = (ctx: KafkaContext, request: OffsetCommitRequest): Effect.Effect<OffsetCommitResponse> =>
  // Checked in the same synchronous step as the coordinator's decision: a topic deleted after
  // the check cannot slip in between (see GroupCoordinator.deleteTopicOffsets).
  Effect.suspend(() => {
    const known = request.topics
      .map((t) => ({
        name: t.name,
        partitions: t.partitions
          .filter((p) => partitionExists(ctx, t.name, p.partitionIndex))
          .map((p) => ({
            partitionIndex: p.partitionIndex,
            committedOffset: p.committedOffset,
            committedLeaderEpoch: p.committedLeaderEpoch,
            committedMetadata: p.committedMetadata
          }))
      }))
      .filter((t) => t.partitions.length > 0)
    return Effect.map(
      ctx.groups.commitOffsets({
        groupId: request.groupId,
        generationId: request.generationId,
        memberId: request.memberId,
        groupInstanceId: request.groupInstanceId,
        topics: known
      }),
      (r) => {
        // The coordinator's answers for known partitions, UNKNOWN_TOPIC_OR_PARTITION for the rest, in request order.
        const answered = new Map<string, number>()
        for (const t of r.topics) for (const p of t.partitions) answered.set(`${p.partitionIndex}:${t.name}`, p.errorCode)
        return {
          throttleTimeMs: 0,
          topics: request.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({
              partitionIndex: p.partitionIndex,
              errorCode: answered.get(`${p.partitionIndex}:${t.name}`) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            }))
          }))
        }
      }
    )
  })

export const handleOffsetFetch = (ctx: KafkaContext, request: OffsetFetchRequest): Effect.Effect<OffsetFetchResponse> =>
  Effect.map(ctx.groups.fetchOffsets({ groupId: request.groupId, topics: request.topics }), (r) => ({
    throttleTimeMs: 0,
    errorCode: r.errorCode,
    topics: r.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        committedOffset: p.committedOffset,
        committedLeaderEpoch: p.committedLeaderEpoch,
        metadata: p.metadata,
        errorCode: p.errorCode
      }))
    }))
  }))

export const handleDescribeGroups = (ctx: KafkaContext, request: DescribeGroupsRequest, apiVersion: number): Effect.Effect<DescribeGroupsResponse> =>
  Effect.map(ctx.groups.describeGroups({ groupIds: request.groups, apiVersion }), (r) => ({
    throttleTimeMs: 0,
    groups: r.groups.map((g) => ({ ...g, authorizedOperations: -2147483648 }))
  }))

export const handleListGroups = (ctx: KafkaContext): Effect.Effect<ListGroupsResponse> =>
  Effect.map(ctx.groups.listGroups(), (r) => ({
    throttleTimeMs: 0,
    errorCode: r.errorCode === undefined ? ErrorCode.NONE : r.errorCode,
    groups: r.groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType }))
  }))

export const handleDeleteGroups = (ctx: KafkaContext, request: DeleteGroupsRequest): Effect.Effect<DeleteGroupsResponse> =>
  Effect.map(ctx.groups.deleteGroups(request.groupsNames), (results) => ({ throttleTimeMs: 0, results }))

/**
 * Unknown topics and partitions are answered here; the rest go to the coordinator. The answer
 * lists partitions in request order; with a group error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP)
 * only the unknown ones, as Kafka's.
 */
export const handleOffsetDelete = (ctx: KafkaContext, request: OffsetDeleteRequest): Effect.Effect<OffsetDeleteResponse> => {
  const known: Array<{ name: string; partitions: Array<{ partitionIndex: number }> }> = []
  const isKnown = (name: string, partitionIndex: number) => {
    const topic = ctx.topics.get(name)
    return topic !== undefined && partitionIndex >= 0 && partitionIndex < topic.partitions
  }
  for (const t of request.topics) {
    const partitions = t.partitions.filter((p) => isKnown(t.name, p.partitionIndex))
    if (partitions.length > 0) known.push({ name: t.name, partitions })
  }
  return Effect.map(ctx.groups.deleteOffsets({ groupId: request.groupId, topics: known }), (reply) => {
    const decided = new Map<string, number>()
    for (const t of reply.topics) for (const p of t.partitions) decided.set(`${p.partitionIndex}:${t.name}`, p.errorCode)
    const topics: Array<OffsetDeleteResponse["topics"][number]> = []
    for (const t of request.topics) {
      const partitions: Array<{ partitionIndex: number; errorCode: number }> = []
      for (const p of t.partitions) {
        const errorCode = isKnown(t.name, p.partitionIndex) ? decided.get(`${p.partitionIndex}:${t.name}`) : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        if (errorCode !== undefined) partitions.push({ partitionIndex: p.partitionIndex, errorCode })
      }
      if (partitions.length > 0) topics.push({ name: t.name, partitions })
    }
    return { errorCode: reply.errorCode, throttleTimeMs: 0, topics }
  })
}
