/**
 * Topic administration over the Kafka API: CreateTopics, DeleteTopics, CreatePartitions,
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs. Commands go through the topic registry (event-sourced, src/meta/Topics.ts);
 * `validateOnly` requests are checked without being applied. The topics MQTT writes to (the
 * default one and every binding's) cannot be deleted while the configuration names them. A
 * deleted topic takes its data and every group's committed offsets for it along (as on Kafka),
 * so a topic recreated under the same name starts empty and is read from its start.
 */
import { Effect } from "effect"
import { topicPartition } from "../../../domain/ids.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import type { TopicCommand, TopicRejected } from "../../../domain/meta/topics.js"
import type { KafkaContext } from "../KafkaContext.js"
import {
  type AlterConfigsRequest,
  type AlterConfigsResourceResponse,
  type AlterConfigsResponse,
  ConfigOperation,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse
} from "../protocol/index.js"
import type {
  CreatePartitionsRequest,
  CreatePartitionsResponse,
  CreateTopicsRequest,
  CreateTopicsResponse,
  DeleteTopicsRequest,
  DeleteTopicsResponse,
  DescribeConfigsRequest,
  DescribeConfigsResourceResult,
  DescribeConfigsResponse,
  DescribeConfigsResult
} from "../protocol/index.js"

interface Outcome {
  readonly errorCode: number
  readonly errorMessage: string | null
}

const ok: Outcome = { errorCode: ErrorCode.NONE, errorMessage: null }

/** Runs (or only checks) a command and reports the outcome as a Kafka error code. */
const run = (ctx: KafkaContext, command: TopicCommand, validateOnly: boolean) => {
  if (validateOnly) {
    const rejected = ctx.topics.check(command)
    return Effect.succeed(rejected === undefined ? ok : { errorCode: rejected.errorCode, errorMessage: rejected.message })
  }
  return ctx.topics.execute(command).pipe(
    Effect.as(ok),
    Effect.catchAll((e) =>
      Effect.succeed<Outcome>(
        "errorCode" in e
          ? { errorCode: (e as TopicRejected).errorCode, errorMessage: (e as TopicRejected).message }
          : { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: String(e) }
      )
    )
  )
}

export const handleCreateTopics = (ctx: KafkaContext, request: CreateTopicsRequest) =>
  Effect.gen(function*() {
    const topics: Array<CreateTopicsResponse["topics"][number]> = []
    for (const t of request.topics) {
      // Manual assignments may only name this broker; they then fix the partition count.
      if (t.assignments.some((a) => a.brokerIds.some((id) => id !== 0))) {
        topics.push({ name: t.name, errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: "the only broker is node 0" })
        continue
      }
      const partitions = t.assignments.length > 0 ? t.assignments.length : t.numPartitions === -1 ? ctx.config.kafka.defaultPartitions : t.numPartitions
      const replicationFactor = t.assignments.length > 0 ? 1 : t.replicationFactor === -1 ? 1 : t.replicationFactor
      const config: Record<string, string> = {}
      for (const c of t.configs) if (c.value !== null) config[c.name] = c.value
      const outcome = yield* run(ctx, { _tag: "CreateTopic", name: t.name, partitions, replicationFactor, config }, request.validateOnly)
      topics.push({ name: t.name, ...outcome })
    }
    const response: CreateTopicsResponse = { throttleTimeMs: 0, topics }
    return response
  })

/** Topics the MQTT side writes to by configuration. */
export const mqttTopics = (ctx: KafkaContext): ReadonlySet<string> =>
  new Set([ctx.config.kafka.mqttTopic, ...ctx.config.kafka.bindings.map((b) => b.topic)])

export const handleDeleteTopics = (ctx: KafkaContext, request: DeleteTopicsRequest) =>
  Effect.gen(function*() {
    const protectedTopics = mqttTopics(ctx)
    const responses: Array<DeleteTopicsResponse["responses"][number]> = []
    const deleted: Array<string> = []
    for (const name of request.topicNames) {
      if (protectedTopics.has(name)) {
        responses.push({ name, errorCode: ErrorCode.POLICY_VIOLATION })
        continue
      }
      const partitions = ctx.topics.get(name)?.partitions ?? 0
      const outcome = yield* run(ctx, { _tag: "DeleteTopic", name }, false)
      if (outcome.errorCode === ErrorCode.NONE) {
        deleted.push(name)
        for (let p = 0; p < partitions; p++) {
          yield* ctx.log.deletePartition(topicPartition(name, p)).pipe(
            Effect.catchAll((e) => Effect.logError(`deleting the data of ${name}-${p} failed`, e))
          )
        }
      }
      responses.push({ name, errorCode: outcome.errorCode })
    }
    if (deleted.length > 0) yield* ctx.groups.deleteTopicOffsets(deleted)
    const response: DeleteTopicsResponse = { throttleTimeMs: 0, responses }
    return response
  })

export const handleCreatePartitions = (ctx: KafkaContext, request: CreatePartitionsRequest) =>
  Effect.gen(function*() {
    const results: Array<CreatePartitionsResponse["results"][number]> = []
    for (const t of request.topics) {
      if (t.assignments !== null && t.assignments.some((a) => a.brokerIds.some((id) => id !== 0))) {
        results.push({ name: t.name, errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: "the only broker is node 0" })
        continue
      }
      const outcome = yield* run(ctx, { _tag: "CreatePartitions", name: t.name, count: t.count }, request.validateOnly)
      results.push({ name: t.name, ...outcome })
    }
    const response: CreatePartitionsResponse = { throttleTimeMs: 0, results }
    return response
  })

// --- DescribeConfigs -------------------------------------------------------------------------

const RESOURCE_TOPIC = 2
const RESOURCE_BROKER = 4
/** ConfigSource (KIP-226) and ConfigType (KIP-569) values. */
const SOURCE_TOPIC = 1
const SOURCE_STATIC_BROKER = 4
const SOURCE_DEFAULT = 5
const TYPE_BOOLEAN = 1
const TYPE_STRING = 2
const TYPE_INT = 3
const TYPE_LONG = 5

interface ConfigDefault {
  readonly value: string
  readonly type: number
}

/** Every topic config DescribeConfigs reports, with the value that applies when the topic sets none. */
export const topicDefaults = (ctx: KafkaContext): Record<string, ConfigDefault> => {
  const s = ctx.config.storage
  return {
    "cleanup.policy": { value: "delete", type: TYPE_STRING },
    "compression.type": { value: "producer", type: TYPE_STRING },
    "max.message.bytes": { value: "1048588", type: TYPE_INT },
    "message.timestamp.type": { value: "CreateTime", type: TYPE_STRING },
    "min.insync.replicas": { value: "1", type: TYPE_INT },
    "retention.bytes": { value: String(s.retentionBytes), type: TYPE_LONG },
    "retention.ms": { value: String(s.retentionMs), type: TYPE_LONG },
    "robustmq.storage": { value: s.kind, type: TYPE_STRING },
    "segment.bytes": { value: String(s.segmentBytes), type: TYPE_INT },
    "segment.ms": { value: String(s.segmentMs), type: TYPE_LONG }
  }
}

const brokerConfigs = (ctx: KafkaContext): Record<string, ConfigDefault> => {
  const s = ctx.config.storage
  return {
    "auto.create.topics.enable": { value: String(ctx.config.kafka.autoCreateTopics), type: TYPE_BOOLEAN },
    "log.retention.bytes": { value: String(s.retentionBytes), type: TYPE_LONG },
    "log.retention.ms": { value: String(s.retentionMs), type: TYPE_LONG },
    "log.segment.bytes": { value: String(s.segmentBytes), type: TYPE_INT },
    "message.max.bytes": { value: "1048588", type: TYPE_INT },
    "num.partitions": { value: String(ctx.config.kafka.defaultPartitions), type: TYPE_INT }
  }
}

const entry = (name: string, value: string, isDefault: boolean, source: number, type: number): DescribeConfigsResourceResult => ({
  name,
  value,
  readOnly: false,
  isDefault,
  configSource: source,
  isSensitive: false,
  synonyms: [],
  configType: type,
  documentation: null
})

export const handleDescribeConfigs = (ctx: KafkaContext, request: DescribeConfigsRequest): DescribeConfigsResponse => {
  const results = request.resources.map((r): DescribeConfigsResult => {
    const wantedKey = (name: string) => r.configurationKeys === null || r.configurationKeys.includes(name)
    const base = { resourceType: r.resourceType, resourceName: r.resourceName }
    if (r.resourceType === RESOURCE_TOPIC) {
      const topic = ctx.topics.get(r.resourceName)
      if (topic === undefined) {
        return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `topic "${r.resourceName}" does not exist`, configs: [] }
      }
      const configs = Object.entries(topicDefaults(ctx))
        .filter(([name]) => wantedKey(name))
        .map(([name, d]) => {
          const set = topic.config[name]
          return set === undefined ? entry(name, d.value, true, SOURCE_DEFAULT, d.type) : entry(name, set, false, SOURCE_TOPIC, d.type)
        })
      return { ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs }
    }
    if (r.resourceType === RESOURCE_BROKER) {
      const configs = Object.entries(brokerConfigs(ctx))
        .filter(([name]) => wantedKey(name))
        .map(([name, d]) => entry(name, d.value, false, SOURCE_STATIC_BROKER, d.type))
      return { ...base, errorCode: ErrorCode.NONE, errorMessage: null, configs }
    }
    return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `resource type ${r.resourceType} is not supported`, configs: [] }
  })
  return { throttleTimeMs: 0, results }
}

// --- AlterConfigs / IncrementalAlterConfigs ---------------------------------------------------

/** Broker configs come from the TOML file at startup; the Kafka API cannot change them. */
const BROKER_CONFIGS_STATIC = "broker configs are static: set them in the broker's configuration file and restart"

/** The outcome for a resource that is not a topic, or undefined for a topic. */
const notATopic = (resourceType: number): Outcome | undefined =>
  resourceType === RESOURCE_TOPIC
    ? undefined
    : {
      errorCode: ErrorCode.INVALID_REQUEST,
      errorMessage: resourceType === RESOURCE_BROKER ? BROKER_CONFIGS_STATIC : `resource type ${resourceType} is not supported`
    }

/**
 * AlterConfigs: each topic's listed configs replace its whole set (Kafka semantics: configs not
 * listed go back to their defaults; a null value leaves the key out).
 */
export const handleAlterConfigs = (ctx: KafkaContext, request: AlterConfigsRequest) =>
  Effect.gen(function*() {
    const responses: Array<AlterConfigsResourceResponse> = []
    for (const r of request.resources) {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName }
      const refused = notATopic(r.resourceType) ?? duplicateKey(r.configs)
      if (refused !== undefined) {
        responses.push({ ...base, ...refused })
        continue
      }
      const config: Record<string, string> = {}
      for (const c of r.configs) if (c.value !== null) config[c.name] = c.value
      const outcome = yield* run(ctx, { _tag: "AlterTopicConfig", name: r.resourceName, config }, request.validateOnly)
      responses.push({ ...base, ...outcome })
    }
    const response: AlterConfigsResponse = { throttleTimeMs: 0, responses }
    return response
  })

/**
 * IncrementalAlterConfigs: SET and DELETE (back to the default) per key. APPEND and SUBTRACT
 * are for list-valued configs, which no topic config here is.
 */
export const handleIncrementalAlterConfigs = (ctx: KafkaContext, request: IncrementalAlterConfigsRequest) =>
  Effect.gen(function*() {
    const responses: Array<AlterConfigsResourceResponse> = []
    for (const r of request.resources) {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName }
      const refused = notATopic(r.resourceType) ?? incrementalProblem(r.configs)
      if (refused !== undefined) {
        responses.push({ ...base, ...refused })
        continue
      }
      const set: Record<string, string> = {}
      const reset: Array<string> = []
      for (const c of r.configs) {
        if (c.configOperation === ConfigOperation.Set) set[c.name] = c.value!
        else reset.push(c.name)
      }
      const outcome = yield* run(ctx, { _tag: "IncrementalAlterTopicConfig", name: r.resourceName, set, reset }, request.validateOnly)
      responses.push({ ...base, ...outcome })
    }
    const response: IncrementalAlterConfigsResponse = { throttleTimeMs: 0, responses }
    return response
  })

/** A key named twice in one resource is INVALID_REQUEST, as on Kafka (which value would win?). */
const duplicateKey = (configs: ReadonlyArray<{ readonly name: string }>): Outcome | undefined => {
  const seen = new Set<string>()
  for (const c of configs) {
    if (seen.has(c.name)) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `config "${c.name}" is named more than once` }
    seen.add(c.name)
  }
  return undefined
}

/** What makes one resource's incremental entries unusable before the registry sees them. */
const incrementalProblem = (
  configs: IncrementalAlterConfigsRequest["resources"][number]["configs"]
): Outcome | undefined => {
  const duplicate = duplicateKey(configs)
  if (duplicate !== undefined) return duplicate
  for (const c of configs) {
    if (c.configOperation === ConfigOperation.Append || c.configOperation === ConfigOperation.Subtract) {
      return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `"${c.name}" is not a list: APPEND and SUBTRACT do not apply` }
    }
    if (c.configOperation !== ConfigOperation.Set && c.configOperation !== ConfigOperation.Delete) {
      return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `unknown config operation ${c.configOperation}` }
    }
    if (c.configOperation === ConfigOperation.Set && c.value === null) {
      return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `SET of "${c.name}" needs a value` }
    }
  }
  return undefined
}
