/**
 * Kafka ACL checks of the consumer-group requests, as Kafka's KafkaApis takes them: Read on the
 * group to join, sync, heartbeat, leave and commit (and Read on each committed topic); Describe
 * to find its coordinator, fetch its offsets (topics it may not Describe are refused or left out)
 * and describe it; Delete to delete it or its offsets. ListGroups lists every group to a
 * principal with Describe on the cluster, else only the groups it may Describe. Refusals are
 * GROUP_AUTHORIZATION_FAILED (and TOPIC_AUTHORIZATION_FAILED per topic).
 */
import { Effect } from "effect"
import { AclOperation as Op, CLUSTER_NAME, ResourceType as RT } from "../../../../domain/kafka/acl/AclBinding.js"
import { ErrorCode } from "../../../../domain/kafka/ErrorCode.js"
import type {
  DeleteGroupsRequest,
  DeleteGroupsResponse,
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  FindCoordinatorRequest,
  FindCoordinatorResponse,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupResponse,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  SyncGroupResponse
} from "../../protocol/index.js"
import type { ConnectionAcl } from "../ConnectionAcl.js"
import { split } from "./split.js"

const GROUP_DENIED = ErrorCode.GROUP_AUTHORIZATION_FAILED
const TOPIC_DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED

const mayGroup = (acl: ConnectionAcl, op: number, groupId: string) => acl.allows(op, RT.Group, groupId)

export const gateFindCoordinator = (acl: ConnectionAcl, req: FindCoordinatorRequest, run: () => FindCoordinatorResponse): FindCoordinatorResponse =>
  req.keyType !== 0 || mayGroup(acl, Op.Describe, req.key)
    ? run()
    : { throttleTimeMs: 0, errorCode: GROUP_DENIED, errorMessage: `not authorized to use group ${req.key}`, nodeId: -1, host: "", port: -1 }

export const gateJoinGroup = <E>(acl: ConnectionAcl, req: JoinGroupRequest, run: () => Effect.Effect<JoinGroupResponse, E>): Effect.Effect<JoinGroupResponse, E> =>
  mayGroup(acl, Op.Read, req.groupId)
    ? run()
    : Effect.succeed({ throttleTimeMs: 0, errorCode: GROUP_DENIED, generationId: -1, protocolName: "", leader: "", memberId: req.memberId, members: [] })

export const gateSyncGroup = <E>(acl: ConnectionAcl, groupId: string, run: () => Effect.Effect<SyncGroupResponse, E>): Effect.Effect<SyncGroupResponse, E> =>
  mayGroup(acl, Op.Read, groupId) ? run() : Effect.succeed({ throttleTimeMs: 0, errorCode: GROUP_DENIED, assignment: new Uint8Array(0) })

export const gateHeartbeat = <E>(acl: ConnectionAcl, groupId: string, run: () => Effect.Effect<HeartbeatResponse, E>): Effect.Effect<HeartbeatResponse, E> =>
  mayGroup(acl, Op.Read, groupId) ? run() : Effect.succeed({ throttleTimeMs: 0, errorCode: GROUP_DENIED })

export const gateLeaveGroup = <E>(acl: ConnectionAcl, groupId: string, run: () => Effect.Effect<LeaveGroupResponse, E>): Effect.Effect<LeaveGroupResponse, E> =>
  mayGroup(acl, Op.Read, groupId) ? run() : Effect.succeed({ throttleTimeMs: 0, errorCode: GROUP_DENIED, members: [] })

export const gateOffsetCommit = <E>(
  acl: ConnectionAcl,
  req: OffsetCommitRequest,
  run: (req: OffsetCommitRequest) => Effect.Effect<OffsetCommitResponse, E>
): Effect.Effect<OffsetCommitResponse, E> => {
  const refuse = (topics: OffsetCommitRequest["topics"], errorCode: number) =>
    topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) }))
  if (!mayGroup(acl, Op.Read, req.groupId)) return Effect.succeed({ throttleTimeMs: 0, topics: refuse(req.topics, GROUP_DENIED) })
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Read, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = refuse(denied, TOPIC_DENIED)
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, topics: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...refused] }))
}

export const gateOffsetFetch = <E>(
  acl: ConnectionAcl,
  req: OffsetFetchRequest,
  run: (req: OffsetFetchRequest) => Effect.Effect<OffsetFetchResponse, E>
): Effect.Effect<OffsetFetchResponse, E> => {
  const refuse = (topics: ReadonlyArray<{ name: string; partitionIndexes: ReadonlyArray<number> }>, errorCode: number) =>
    topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((i) => ({ partitionIndex: i, committedOffset: -1, metadata: null, errorCode })) }))
  if (!mayGroup(acl, Op.Describe, req.groupId)) {
    // v2+ read the top-level code; v0-1 only the per-partition ones.
    return Effect.succeed({ throttleTimeMs: 0, errorCode: GROUP_DENIED, topics: refuse(req.topics ?? [], GROUP_DENIED) })
  }
  if (req.topics === null) {
    return Effect.map(run(req), (res) => ({ ...res, topics: res.topics.filter((t) => acl.allows(Op.Describe, RT.Topic, t.name)) }))
  }
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Describe, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = refuse(denied, TOPIC_DENIED)
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, errorCode: 0, topics: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...refused] }))
}

export const gateDescribeGroups = <E>(
  acl: ConnectionAcl,
  req: DescribeGroupsRequest,
  run: (req: DescribeGroupsRequest) => Effect.Effect<DescribeGroupsResponse, E>
): Effect.Effect<DescribeGroupsResponse, E> => {
  const { allowed, denied } = split(req.groups, (g) => mayGroup(acl, Op.Describe, g))
  if (denied.length === 0) return run(req)
  const refused = denied.map((groupId) => ({ errorCode: GROUP_DENIED, groupId, groupState: "", protocolType: "", protocolData: "", members: [], authorizedOperations: -2147483648 }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, groups: refused })
  return Effect.map(run({ ...req, groups: allowed }), (res) => ({ ...res, groups: [...res.groups, ...refused] }))
}

export const gateListGroups = <E>(acl: ConnectionAcl, run: () => Effect.Effect<ListGroupsResponse, E>): Effect.Effect<ListGroupsResponse, E> =>
  acl.allows(Op.Describe, RT.Cluster, CLUSTER_NAME)
    ? run()
    : Effect.map(run(), (res) => ({ ...res, groups: res.groups.filter((g) => mayGroup(acl, Op.Describe, g.groupId)) }))

export const gateDeleteGroups = <E>(
  acl: ConnectionAcl,
  req: DeleteGroupsRequest,
  run: (req: DeleteGroupsRequest) => Effect.Effect<DeleteGroupsResponse, E>
): Effect.Effect<DeleteGroupsResponse, E> => {
  const { allowed, denied } = split(req.groupsNames, (g) => mayGroup(acl, Op.Delete, g))
  if (denied.length === 0) return run(req)
  const refused = denied.map((groupId) => ({ groupId, errorCode: GROUP_DENIED }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, results: refused })
  return Effect.map(run({ groupsNames: allowed }), (res) => ({ ...res, results: [...res.results, ...refused] }))
}

export const gateOffsetDelete = <E>(
  acl: ConnectionAcl,
  req: OffsetDeleteRequest,
  run: (req: OffsetDeleteRequest) => Effect.Effect<OffsetDeleteResponse, E>
): Effect.Effect<OffsetDeleteResponse, E> => {
  if (!mayGroup(acl, Op.Delete, req.groupId)) return Effect.succeed({ errorCode: GROUP_DENIED, throttleTimeMs: 0, topics: [] })
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Read, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: TOPIC_DENIED })) }))
  if (allowed.length === 0) return Effect.succeed({ errorCode: 0, throttleTimeMs: 0, topics: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...refused] }))
}
