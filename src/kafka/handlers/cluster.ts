/**
 * The requests about the cluster itself: ApiVersions, Metadata (with topic auto-creation),
 * FindCoordinator and InitProducerId. A single node (id 0) leads every partition and coordinates
 * every group; a cluster member lists the live members as brokers, each partition's leader and
 * each group's coordinator as etcd names them (src/cluster/kafka).
 */
import { Effect } from "effect"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { invalidTopicName, isInternalTopic, type TopicState } from "../../../domain/meta/topics.js"
import type { NodeInfo } from "../../cluster/ClusterNode.js"
import type { KafkaCluster } from "../../cluster/kafka/KafkaCluster.js"
import { kafkaNodeId, servingNode } from "../../cluster/kafka/placement.js"
import type { KafkaConnection } from "../KafkaConnection.js"
import { CLUSTER_ID, type KafkaContext, NODE_ID } from "../KafkaContext.js"
import {
  type ApiVersionsResponse,
  type FindCoordinatorRequest,
  type FindCoordinatorResponse,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
  type MetadataRequest,
  type MetadataResponse,
  type MetadataResponsePartition,
  type MetadataResponseTopic,
  supportedApiKeys
} from "../protocol/index.js"

export const handleApiVersions = (): ApiVersionsResponse => ({
  errorCode: ErrorCode.NONE,
  apiKeys: supportedApiKeys(),
  throttleTimeMs: 0
})

const describeTopic = (ctx: KafkaContext, topic: TopicState): MetadataResponseTopic => ({
  errorCode: ErrorCode.NONE,
  name: topic.name,
  isInternal: false,
  partitions: Array.from({ length: topic.partitions }, (_, partitionIndex) =>
    ctx.cluster === null
      ? {
        errorCode: ErrorCode.NONE,
        partitionIndex,
        leaderId: NODE_ID,
        leaderEpoch: 0,
        replicaNodes: [NODE_ID],
        isrNodes: [NODE_ID],
        offlineReplicas: []
      }
      : describeClusterPartition(ctx.cluster, topic.name, partitionIndex))
})

/**
 * A partition of a cluster: its leader (the one replica) with the leader epoch, or, while
 * nobody leads it or its leader is down, LEADER_NOT_AVAILABLE with the leader listed offline.
 */
const describeClusterPartition = (cluster: KafkaCluster, topic: string, partitionIndex: number): MetadataResponsePartition => {
  const leader = cluster.leaders.leaderOf(topic, partitionIndex)
  // A partition served from a sibling worker's data (`<node>@<home>`) is led by the node serving it.
  const serving = leader === undefined ? undefined : servingNode(leader.owner)
  const replicas = serving === undefined ? [] : [kafkaNodeId(serving)]
  if (leader !== undefined && cluster.node.member(servingNode(leader.owner)) !== undefined) {
    return { errorCode: ErrorCode.NONE, partitionIndex, leaderId: replicas[0]!, leaderEpoch: leader.epoch, replicaNodes: replicas, isrNodes: replicas, offlineReplicas: [] }
  }
  return { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, partitionIndex, leaderId: -1, leaderEpoch: leader?.epoch ?? -1, replicaNodes: replicas, isrNodes: [], offlineReplicas: replicas }
}

/**
 * Where clients reach `node`: this node as the client reached it, the others at their advertised
 * host and the port of the same kind of listener (a client that came over TLS, SASL_SSL
 * included, is sent to TLS listeners; one of plain TCP to plain ones).
 */
const addressOf = (ctx: KafkaContext, conn: KafkaConnection, node: NodeInfo): { host: string; port: number } =>
  ctx.cluster === null || node.id === ctx.cluster.node.id
    ? { host: ctx.advertisedHost(conn), port: conn.localPort }
    : { host: node.host, port: conn.overTls && node.kafkaTlsPort > 0 ? node.kafkaTlsPort : node.kafkaPort }

const missingTopic = (name: string, errorCode: number): MetadataResponseTopic => ({
  errorCode,
  name,
  isInternal: false,
  partitions: []
})

/** A topic a client asked for: described, auto-created, or an error. */
const lookUp = (ctx: KafkaContext, name: string, allowCreate: boolean) =>
  Effect.gen(function*() {
    const existing = ctx.topics.get(name)
    if (existing !== undefined && !isInternalTopic(name)) return describeTopic(ctx, existing)
    if (invalidTopicName(name) !== undefined || isInternalTopic(name)) return missingTopic(name, ErrorCode.INVALID_TOPIC_EXCEPTION)
    if (!allowCreate || !ctx.config.kafka.autoCreateTopics) return missingTopic(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    const partitions = ctx.config.kafka.defaultPartitions
    const created = yield* ctx.topics.execute({ _tag: "CreateTopic", name, partitions, replicationFactor: 1, config: {} }).pipe(
      Effect.as(ErrorCode.NONE),
      Effect.catchAll((e) => Effect.succeed("errorCode" in e ? (e.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS ? ErrorCode.NONE : e.errorCode) : ErrorCode.KAFKA_STORAGE_ERROR))
    )
    const topic = ctx.topics.get(name)
    return created === ErrorCode.NONE && topic !== undefined ? describeTopic(ctx, topic) : missingTopic(name, created)
  })

export const handleMetadata = (ctx: KafkaContext, conn: KafkaConnection, request: MetadataRequest, apiVersion: number) =>
  Effect.gen(function*() {
    // v0: an empty list means every topic; v1+: null does.
    const all = request.topics === null || (apiVersion === 0 && request.topics.length === 0)
    const topics: Array<MetadataResponseTopic> = []
    if (all) {
      for (const t of ctx.topics.list()) if (!isInternalTopic(t.name)) topics.push(describeTopic(ctx, t))
    } else {
      for (const t of request.topics!) topics.push(yield* lookUp(ctx, t.name, request.allowAutoTopicCreation))
    }
    const cluster = ctx.cluster
    const response: MetadataResponse = {
      throttleTimeMs: 0,
      brokers: cluster === null
        ? [{ nodeId: NODE_ID, host: ctx.advertisedHost(conn), port: conn.localPort, rack: null }]
        : cluster.brokers().map((m) => ({ nodeId: kafkaNodeId(m.id), ...addressOf(ctx, conn, m), rack: null })),
      clusterId: CLUSTER_ID,
      controllerId: cluster === null ? NODE_ID : cluster.controllerId(),
      topics
    }
    return response
  })

export const handleFindCoordinator = (ctx: KafkaContext, conn: KafkaConnection, request: FindCoordinatorRequest): FindCoordinatorResponse => {
  // keyType 1 is a transactional id: transactions are not supported.
  if (request.keyType !== 0) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: "transactions are not supported", nodeId: -1, host: "", port: -1 }
  }
  if (ctx.cluster === null) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, nodeId: NODE_ID, host: ctx.advertisedHost(conn), port: conn.localPort }
  }
  // The owner of the group's slot; none alive yet (it died, the slot is moving): ask again.
  const coordinator = ctx.cluster.coordinatorOf(request.key)
  if (coordinator === undefined) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: "the group's coordinator is moving to a live node", nodeId: -1, host: "", port: -1 }
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, nodeId: kafkaNodeId(coordinator.id), ...addressOf(ctx, conn, coordinator) }
}

export const handleInitProducerId = (ctx: KafkaContext, request: InitProducerIdRequest): InitProducerIdResponse => {
  if (request.transactionalId !== null) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 }
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: ctx.nextProducerId(), producerEpoch: 0 }
}
