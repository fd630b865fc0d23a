/**
 * Kafka ACL checks of the data and metadata requests: Produce (Write on the topic), Fetch (Read),
 * ListOffsets and Metadata (Describe; Metadata leaves out, or for named topics refuses, what the
 * principal may not Describe, and auto-creates only with Create on the cluster or the topic),
 * DeleteRecords (Delete) and InitProducerId (IdempotentWrite on the cluster, or Write on some
 * topic, as since Kafka 2.8). Refusals are TOPIC_AUTHORIZATION_FAILED per topic and
 * CLUSTER_AUTHORIZATION_FAILED for the cluster. Once per request, never per record.
 */
import { Effect } from "effect"
import { AclOperation as Op, CLUSTER_NAME, ResourceType as RT } from "../../../../domain/kafka/acl/AclBinding.js"
import { ErrorCode } from "../../../../domain/kafka/ErrorCode.js"
import type { KafkaContext } from "../../KafkaContext.js"
import type {
  DeleteRecordsRequest,
  DeleteRecordsResponse,
  FetchRequest,
  FetchResponse,
  InitProducerIdRequest,
  InitProducerIdResponse,
  ListOffsetsRequest,
  ListOffsetsResponse,
  MetadataRequest,
  MetadataResponse,
  MetadataResponseTopic,
  ProduceRequest,
  ProduceResponse
} from "../../protocol/index.js"
import type { ConnectionAcl } from "../ConnectionAcl.js"
import { split } from "./split.js"

const TOPIC_DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED

export const gateProduce = <E>(
  acl: ConnectionAcl,
  req: ProduceRequest,
  run: (req: ProduceRequest) => Effect.Effect<ProduceResponse | null, E>
): Effect.Effect<ProduceResponse | null, E> => {
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Write, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: TOPIC_DENIED, baseOffset: -1 }))
  }))
  if (allowed.length === 0) return Effect.succeed(req.acks === 0 ? null : { responses: refused, throttleTimeMs: 0 })
  return Effect.map(run({ ...req, topics: allowed }), (res) => (res === null ? null : { ...res, responses: [...res.responses, ...refused] }))
}

export const gateFetch = <E>(
  acl: ConnectionAcl,
  req: FetchRequest,
  run: (req: FetchRequest) => Effect.Effect<FetchResponse, E>
): Effect.Effect<FetchResponse, E> => {
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Read, RT.Topic, t.topic))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => ({
    topic: t.topic,
    partitions: t.partitions.map((p) => ({
      partitionIndex: p.partition,
      errorCode: TOPIC_DENIED,
      highWatermark: -1,
      lastStableOffset: -1,
      logStartOffset: -1,
      records: null
    }))
  }))
  // Nothing left to wait for: answer now rather than long-poll on an empty request.
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, responses: [...res.responses, ...refused] }))
}

export const gateListOffsets = <E>(
  acl: ConnectionAcl,
  req: ListOffsetsRequest,
  run: (req: ListOffsetsRequest) => Effect.Effect<ListOffsetsResponse, E>
): Effect.Effect<ListOffsetsResponse, E> => {
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Describe, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: TOPIC_DENIED, timestamp: -1, offset: -1, leaderEpoch: -1 }))
  }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, topics: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...refused] }))
}

export const gateDeleteRecords = <E>(
  acl: ConnectionAcl,
  req: DeleteRecordsRequest,
  run: (req: DeleteRecordsRequest) => Effect.Effect<DeleteRecordsResponse, E>
): Effect.Effect<DeleteRecordsResponse, E> => {
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Delete, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode: TOPIC_DENIED }))
  }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, topics: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...refused] }))
}

const refusedTopic = (name: string): MetadataResponseTopic => ({ errorCode: TOPIC_DENIED, name, isInternal: false, partitions: [] })

/**
 * Named topics the principal may not Describe, or that do not exist and that it may not create
 * while auto-creation is on, come back TOPIC_AUTHORIZATION_FAILED (Kafka's answer); a request
 * for every topic lists only the describable ones.
 */
export const gateMetadata = <E>(
  ctx: KafkaContext,
  acl: ConnectionAcl,
  req: MetadataRequest,
  apiVersion: number,
  run: (req: MetadataRequest) => Effect.Effect<MetadataResponse, E>
): Effect.Effect<MetadataResponse, E> => {
  const all = req.topics === null || (apiVersion === 0 && req.topics.length === 0)
  if (all) {
    return Effect.map(run(req), (res) => ({ ...res, topics: res.topics.filter((t) => acl.allows(Op.Describe, RT.Topic, t.name)) }))
  }
  const autoCreate = req.allowAutoTopicCreation && ctx.config.kafka.autoCreateTopics
  const mayCreate = (name: string) => acl.allows(Op.Create, RT.Cluster, CLUSTER_NAME) || acl.allows(Op.Create, RT.Topic, name)
  const { allowed, denied } = split(req.topics!, (t) =>
    acl.allows(Op.Describe, RT.Topic, t.name) && (!autoCreate || ctx.topics.get(t.name) !== undefined || mayCreate(t.name)))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => refusedTopic(t.name))
  // An empty list would mean "every topic" in v0: ask for none only when some remain.
  if (allowed.length === 0) return Effect.map(run({ ...req, topics: [] }), (res) => ({ ...res, topics: refused }))
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...refused] }))
}

export const gateInitProducerId = (
  ctx: KafkaContext,
  acl: ConnectionAcl,
  req: InitProducerIdRequest,
  run: (req: InitProducerIdRequest) => InitProducerIdResponse
): InitProducerIdResponse => {
  if (req.transactionalId !== null) return run(req) // refused by the handler: no transactions
  const may = acl.allows(Op.IdempotentWrite, RT.Cluster, CLUSTER_NAME) || ctx.topics.list().some((t) => acl.allows(Op.Write, RT.Topic, t.name))
  return may ? run(req) : { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 }
}
