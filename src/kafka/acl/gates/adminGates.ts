/**
 * Kafka ACL checks of the admin requests: CreateTopics (Create on the cluster or the topic),
 * DeleteTopics (Delete), CreatePartitions (Alter), DescribeConfigs (DescribeConfigs) and
 * AlterConfigs / IncrementalAlterConfigs (AlterConfigs) on the topic, or on the cluster for
 * broker resources. Refusals are TOPIC_AUTHORIZATION_FAILED per topic and
 * CLUSTER_AUTHORIZATION_FAILED for broker resources, each with a message.
 */
import { Effect } from "effect"
import { AclOperation as Op, CLUSTER_NAME, ResourceType as RT } from "../../../../domain/kafka/acl/AclBinding.js"
import { ErrorCode } from "../../../../domain/kafka/ErrorCode.js"
import type {
  AlterConfigsResponse,
  CreatePartitionsRequest,
  CreatePartitionsResponse,
  CreateTopicsRequest,
  CreateTopicsResponse,
  DeleteTopicsRequest,
  DeleteTopicsResponse,
  DescribeConfigsRequest,
  DescribeConfigsResponse
} from "../../protocol/index.js"
import type { ConnectionAcl } from "../ConnectionAcl.js"
import { split } from "./split.js"

const TOPIC_DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED
/** DescribeConfigs / AlterConfigs resource type of a topic (ConfigResource.Type); others are the broker's. */
const TOPIC_RESOURCE = 2

const denial = (op: string, resourceType: number, name: string) =>
  resourceType === TOPIC_RESOURCE
    ? { errorCode: TOPIC_DENIED, errorMessage: `not authorized to ${op} topic ${name}` }
    : { errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: `not authorized to ${op} the cluster` }

const mayConfig = (acl: ConnectionAcl, op: number, resourceType: number, name: string) =>
  resourceType === TOPIC_RESOURCE ? acl.allows(op, RT.Topic, name) : acl.allows(op, RT.Cluster, CLUSTER_NAME)

export const gateCreateTopics = <E>(
  acl: ConnectionAcl,
  req: CreateTopicsRequest,
  run: (req: CreateTopicsRequest) => Effect.Effect<CreateTopicsResponse, E>
): Effect.Effect<CreateTopicsResponse, E> => {
  const onCluster = acl.allows(Op.Create, RT.Cluster, CLUSTER_NAME)
  const { allowed, denied } = split(req.topics, (t) => onCluster || acl.allows(Op.Create, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => ({ name: t.name, errorCode: TOPIC_DENIED, errorMessage: `not authorized to create topic ${t.name}` }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, topics: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, topics: [...res.topics, ...refused] }))
}

export const gateDeleteTopics = <E>(
  acl: ConnectionAcl,
  req: DeleteTopicsRequest,
  run: (req: DeleteTopicsRequest) => Effect.Effect<DeleteTopicsResponse, E>
): Effect.Effect<DeleteTopicsResponse, E> => {
  const { allowed, denied } = split(req.topicNames, (name) => acl.allows(Op.Delete, RT.Topic, name))
  if (denied.length === 0) return run(req)
  const refused = denied.map((name) => ({ name, errorCode: TOPIC_DENIED }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, responses: refused })
  return Effect.map(run({ ...req, topicNames: allowed }), (res) => ({ ...res, responses: [...res.responses, ...refused] }))
}

export const gateCreatePartitions = <E>(
  acl: ConnectionAcl,
  req: CreatePartitionsRequest,
  run: (req: CreatePartitionsRequest) => Effect.Effect<CreatePartitionsResponse, E>
): Effect.Effect<CreatePartitionsResponse, E> => {
  const { allowed, denied } = split(req.topics, (t) => acl.allows(Op.Alter, RT.Topic, t.name))
  if (denied.length === 0) return run(req)
  const refused = denied.map((t) => ({ name: t.name, errorCode: TOPIC_DENIED, errorMessage: `not authorized to alter topic ${t.name}` }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, results: refused })
  return Effect.map(run({ ...req, topics: allowed }), (res) => ({ ...res, results: [...res.results, ...refused] }))
}

export const gateDescribeConfigs = (
  acl: ConnectionAcl,
  req: DescribeConfigsRequest,
  run: (req: DescribeConfigsRequest) => DescribeConfigsResponse
): DescribeConfigsResponse => {
  const { allowed, denied } = split(req.resources, (r) => mayConfig(acl, Op.DescribeConfigs, r.resourceType, r.resourceName))
  if (denied.length === 0) return run(req)
  const refused = denied.map((r) => ({ ...denial("describe configs of", r.resourceType, r.resourceName), resourceType: r.resourceType, resourceName: r.resourceName, configs: [] }))
  const res = allowed.length === 0 ? { throttleTimeMs: 0, results: [] } : run({ ...req, resources: allowed })
  return { ...res, results: [...res.results, ...refused] }
}

/** AlterConfigs and IncrementalAlterConfigs: the same resources, the same answer shape. */
export const gateAlterConfigs = <R extends { readonly resources: ReadonlyArray<{ readonly resourceType: number; readonly resourceName: string }> }, E>(
  acl: ConnectionAcl,
  req: R,
  run: (req: R) => Effect.Effect<AlterConfigsResponse, E>
): Effect.Effect<AlterConfigsResponse, E> => {
  const { allowed, denied } = split(req.resources, (r) => mayConfig(acl, Op.AlterConfigs, r.resourceType, r.resourceName))
  if (denied.length === 0) return run(req)
  const refused = denied.map((r) => ({ ...denial("alter configs of", r.resourceType, r.resourceName), resourceType: r.resourceType, resourceName: r.resourceName }))
  if (allowed.length === 0) return Effect.succeed({ throttleTimeMs: 0, responses: refused })
  return Effect.map(run({ ...req, resources: allowed }), (res) => ({ ...res, responses: [...res.responses, ...refused] }))
}
