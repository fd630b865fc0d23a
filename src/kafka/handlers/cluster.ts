/**
 * The requests about the cluster itself: ApiVersions, Metadata (with topic auto-creation),
 * FindCoordinator and InitProducerId. This broker is one node (id 0) that leads every partition
 * and coordinates every group.
 */
import { Effect } from "effect"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { invalidTopicName, isInternalTopic, type TopicState } from "../../../domain/meta/topics.js"
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
  type MetadataResponseTopic,
  supportedApiKeys
} from "../protocol/index.js"

export const handleApiVersions = (): ApiVersionsResponse => ({
  errorCode: ErrorCode.NONE,
  apiKeys: supportedApiKeys(),
  throttleTimeMs: 0
})

const describeTopic = (topic: TopicState): MetadataResponseTopic => ({
  errorCode: ErrorCode.NONE,
  name: topic.name,
  isInternal: false,
  partitions: Array.from({ length: topic.partitions }, (_, partitionIndex) => ({
    errorCode: ErrorCode.NONE,
    partitionIndex,
    leaderId: NODE_ID,
    leaderEpoch: 0,
    replicaNodes: [NODE_ID],
    isrNodes: [NODE_ID],
    offlineReplicas: []
  }))
})

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
    if (existing !== undefined && !isInternalTopic(name)) return describeTopic(existing)
    if (invalidTopicName(name) !== undefined || isInternalTopic(name)) return missingTopic(name, ErrorCode.INVALID_TOPIC_EXCEPTION)
    if (!allowCreate || !ctx.config.kafka.autoCreateTopics) return missingTopic(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    const partitions = ctx.config.kafka.defaultPartitions
    const created = yield* ctx.topics.execute({ _tag: "CreateTopic", name, partitions, replicationFactor: 1, config: {} }).pipe(
      Effect.as(ErrorCode.NONE),
      Effect.catchAll((e) => Effect.succeed("errorCode" in e ? (e.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS ? ErrorCode.NONE : e.errorCode) : ErrorCode.KAFKA_STORAGE_ERROR))
    )
    const topic = ctx.topics.get(name)
    return created === ErrorCode.NONE && topic !== undefined ? describeTopic(topic) : missingTopic(name, created)
  })

export const handleMetadata = (ctx: KafkaContext, conn: KafkaConnection, request: MetadataRequest, apiVersion: number) =>
  Effect.gen(function*() {
    // v0: an empty list means every topic; v1+: null does.
    const all = request.topics === null || (apiVersion === 0 && request.topics.length === 0)
    const topics: Array<MetadataResponseTopic> = []
    if (all) {
      for (const t of ctx.topics.list()) if (!isInternalTopic(t.name)) topics.push(describeTopic(t))
    } else {
      for (const t of request.topics!) topics.push(yield* lookUp(ctx, t.name, request.allowAutoTopicCreation))
    }
    const response: MetadataResponse = {
      throttleTimeMs: 0,
      brokers: [{ nodeId: NODE_ID, host: ctx.advertisedHost(conn), port: conn.localPort, rack: null }],
      clusterId: CLUSTER_ID,
      controllerId: NODE_ID,
      topics
    }
    return response
  })

export const handleFindCoordinator = (ctx: KafkaContext, conn: KafkaConnection, request: FindCoordinatorRequest): FindCoordinatorResponse => {
  // keyType 1 is a transactional id: transactions are not supported.
  if (request.keyType !== 0) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: "transactions are not supported", nodeId: -1, host: "", port: -1 }
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, nodeId: NODE_ID, host: ctx.advertisedHost(conn), port: conn.localPort }
}

export const handleInitProducerId = (ctx: KafkaContext, request: InitProducerIdRequest): InitProducerIdResponse => {
  if (request.transactionalId !== null) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 }
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: ctx.nextProducerId(), producerEpoch: 0 }
}
