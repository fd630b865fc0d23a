/**
 * The Kafka routes over the Kafka listener's own services: topic changes go through the topic
 * registry's commands (the same validation and `topics` events as CreateTopics and AlterConfigs),
 * a deletion through DeleteTopics' handler (data and committed offsets go too), group deletion
 * through the coordinator (DeleteGroups). With `kafka.enabled = false` reads answer 404 and
 * changes 409, saying so.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import { assignedPartitions } from "../../../../domain/group/assignment.js"
import type { GroupState } from "../../../../domain/group/Group.js"
import { topicPartition } from "../../../../domain/ids.js"
import { ErrorCode } from "../../../../domain/kafka/ErrorCode.js"
import { isInternalTopic, type TopicCommand, type TopicRejected, type TopicState } from "../../../../domain/meta/topics.js"
import type { StorageError, VersionConflict } from "../../../../services/errors.js"
import { partitionLags, totalLag } from "../../../kafka/groups/groupLag.js"
import { handleDeleteTopics, mqttTopics, topicDefaults } from "../../../kafka/handlers/admin.js"
import type { KafkaContext } from "../../../kafka/KafkaContext.js"
import { KafkaServer } from "../../../kafka/KafkaServer.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { BadRequest, Conflict, NotFound, ServerError } from "../errors.js"
import { pageByKey } from "../paging.js"
import { KafkaGroup, KafkaGroupDetail, KafkaGroupMember, KafkaGroupOffset, KafkaPartition, KafkaTopic, KafkaTopicConfig, KafkaTopicDetail } from "./api.js"

const KAFKA_OFF = "the Kafka listener is off (kafka.enabled = false): set kafka.enabled = true (or ROBUSTMQ_KAFKA_ENABLED=true) and restart the broker"

/** The Kafka listener's context, or `off` when Kafka is not running. */
const kafka = <E>(off: (message: string) => E): Effect.Effect<KafkaContext, E> =>
  Effect.flatMap(Effect.serviceOption(KafkaServer), (server) =>
    Option.isSome(server) ? Effect.succeed(server.value.context) : Effect.fail(off(KAFKA_OFF)))

const readOff = (message: string) => new NotFound({ message })
const changeOff = (message: string) => new Conflict({ message })

const noTopic = (name: string) => new NotFound({ message: `no Kafka topic "${name}": GET /api/v1/kafka/topics lists them` })
const noGroup = (groupId: string) => new NotFound({ message: `no consumer group "${groupId}": GET /api/v1/kafka/groups lists them` })

const storageFailed = (what: string) => (e: StorageError | VersionConflict): Effect.Effect<never, ServerError> =>
  Effect.zipRight(Effect.logError(`admin: ${what} failed`, e), Effect.fail(new ServerError({ message: `${what} failed in storage: the broker's log has the details` })))

// --- topics ----------------------------------------------------------------------------------

const topicOf = (ctx: KafkaContext, topic: TopicState, mqtt: ReadonlySet<string>): KafkaTopic => {
  let recordsWritten = 0
  for (let p = 0; p < topic.partitions; p++) recordsWritten += ctx.log.unsafeHighWatermark(topicPartition(topic.name, p))
  return new KafkaTopic({
    name: topic.name,
    partitions: topic.partitions,
    internal: isInternalTopic(topic.name),
    mqtt: mqtt.has(topic.name),
    recordsWritten,
    createdAt: new Date(topic.createdAt).toISOString()
  })
}

const topicDetail = (ctx: KafkaContext, name: string) =>
  Effect.gen(function*() {
    const topic = ctx.topics.get(name)
    if (topic === undefined) return yield* Effect.fail(noTopic(name))
    const partitions: Array<KafkaPartition> = []
    for (let p = 0; p < topic.partitions; p++) {
      const tp = topicPartition(name, p)
      const highWatermark = ctx.log.unsafeHighWatermark(tp)
      const logStartOffset = yield* ctx.startOffset(tp).pipe(Effect.catchAll(storageFailed(`reading the log start of ${name}-${p}`)))
      partitions.push(new KafkaPartition({ partition: p, highWatermark, logStartOffset, records: Math.max(0, highWatermark - logStartOffset) }))
    }
    const configs = Object.entries(topicDefaults(ctx)).map(([key, d]) => {
      const set = topic.config[key]
      return new KafkaTopicConfig({ name: key, value: set ?? d.value, source: set === undefined ? "default" : "topic" })
    })
    return new KafkaTopicDetail({
      name,
      internal: isInternalTopic(name),
      mqtt: mqttTopics(ctx).has(name),
      createdAt: new Date(topic.createdAt).toISOString(),
      partitions,
      configs
    })
  })

/** A refused topic command as the status that says why: exists 409, unknown 404, invalid 400. */
const topicRefused = (e: TopicRejected | StorageError | VersionConflict, what: string): Effect.Effect<never, NotFound | BadRequest | Conflict | ServerError> => {
  if (!("errorCode" in e)) return storageFailed(what)(e)
  const message = e.message
  if (e.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) return Effect.fail(new Conflict({ message }))
  if (e.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return Effect.fail(new NotFound({ message }))
  return Effect.fail(new BadRequest({ message }))
}

/** Runs a topic command and answers with the topic as it is afterwards. */
const changeTopic = (ctx: KafkaContext, command: TopicCommand, what: string) =>
  ctx.topics.execute(command).pipe(
    Effect.catchAll((e) => topicRefused(e, what)),
    Effect.zipRight(Effect.logInfo(`admin: ${what}`)),
    Effect.zipRight(topicDetail(ctx, command.name))
  )

// --- groups ----------------------------------------------------------------------------------

/** A group the API shows: known and not deleted. */
const liveGroup = (ctx: KafkaContext, groupId: string): GroupState | undefined => {
  const group = ctx.groups.unsafeGroup(groupId)
  return group === undefined || group.state === "Dead" ? undefined : group
}

const groupOf = (ctx: KafkaContext, group: GroupState): KafkaGroup =>
  new KafkaGroup({
    groupId: group.groupId,
    state: group.state as KafkaGroup["state"],
    protocolType: group.protocolType,
    members: group.members.size,
    lag: totalLag(group, ctx.log)
  })

const groupDetail = (ctx: KafkaContext, group: GroupState): KafkaGroupDetail => {
  const consumer = group.protocolType === "consumer"
  const offsets = [...partitionLags(group, ctx.log)].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  return new KafkaGroupDetail({
    groupId: group.groupId,
    state: group.state as KafkaGroup["state"],
    protocolType: group.protocolType,
    protocol: group.protocolName,
    generation: group.generationId,
    leader: group.leaderId,
    members: [...group.members.values()].map((m) => new KafkaGroupMember({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      // Kafka writes the host as "/address".
      host: m.clientHost.startsWith("/") ? m.clientHost.slice(1) : m.clientHost,
      assignment: consumer ? assignedPartitions(m.assignment) ?? null : null
    })),
    offsets: offsets.map((o) => new KafkaGroupOffset(o)),
    lag: offsets.reduce((sum, o) => sum + o.lag, 0)
  })
}

export const KafkaLive = HttpApiBuilder.group(BrokerApi, "kafka", (handlers) =>
  handlers
    .handle("listTopics", ({ urlParams: q }) =>
      withBroker(Effect.map(kafka(readOff), (ctx) => {
        const prefix = q.prefix
        const page = pageByKey(ctx.topics.list(), (t) => t.name, {
          after: q.cursor,
          limit: q.limit,
          keep: prefix === undefined ? undefined : (t) => t.name.startsWith(prefix)
        })
        const mqtt = mqttTopics(ctx)
        return { items: page.items.map((t) => topicOf(ctx, t, mqtt)), next: page.next }
      })))
    .handle("showTopic", ({ path }) => withBroker(Effect.flatMap(kafka(readOff), (ctx) => topicDetail(ctx, path.name))))
    .handle("createTopic", ({ payload: p }) =>
      withBroker(Effect.flatMap(kafka(changeOff), (ctx) =>
        changeTopic(ctx, {
          _tag: "CreateTopic",
          name: p.name,
          partitions: p.partitions ?? ctx.config.kafka.defaultPartitions,
          replicationFactor: 1,
          config: p.configs ?? {}
        }, `created Kafka topic ${p.name}`))))
    .handle("deleteTopic", ({ path }) =>
      withBroker(Effect.flatMap(kafka(changeOff), (ctx) =>
        Effect.gen(function*() {
          const name = path.name
          if (ctx.topics.get(name) === undefined) return yield* Effect.fail(noTopic(name))
          const response = yield* handleDeleteTopics(ctx, { topicNames: [name], timeoutMs: 0 })
          const errorCode = response.responses[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR
          if (errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return yield* Effect.fail(noTopic(name))
          if (errorCode === ErrorCode.POLICY_VIOLATION) {
            return yield* Effect.fail(new Conflict({
              message: `MQTT publishes are written to "${name}" (kafka.mqtt_topic or a [kafka.bindings] topic): take it out of the configuration and restart before deleting it`
            }))
          }
          if (errorCode !== ErrorCode.NONE) {
            return yield* Effect.fail(new ServerError({ message: `deleting Kafka topic "${name}" failed (Kafka error code ${errorCode}); try again` }))
          }
          yield* Effect.logInfo(`admin: deleted Kafka topic ${name}`)
          return { name }
        }))))
    .handle("alterTopicConfigs", ({ path, payload }) =>
      withBroker(Effect.flatMap(kafka(changeOff), (ctx) =>
        changeTopic(ctx, {
          _tag: "IncrementalAlterTopicConfig",
          name: path.name,
          set: payload.set ?? {},
          reset: payload.reset ?? []
        }, `altered the configs of Kafka topic ${path.name}`))))
    .handle("replaceTopicConfigs", ({ path, payload }) =>
      withBroker(Effect.flatMap(kafka(changeOff), (ctx) =>
        changeTopic(ctx, { _tag: "AlterTopicConfig", name: path.name, config: payload.configs }, `replaced the configs of Kafka topic ${path.name}`))))
    .handle("listGroups", ({ urlParams: q }) =>
      withBroker(Effect.map(kafka(readOff), (ctx) => {
        const page = pageByKey(ctx.groups.unsafeGroups(), (g) => g.groupId, {
          after: q.cursor,
          limit: q.limit,
          keep: (g) => g.state !== "Dead" && (q.state === undefined || g.state === q.state) && (q.prefix === undefined || g.groupId.startsWith(q.prefix))
        })
        return { items: page.items.map((g) => groupOf(ctx, g)), next: page.next }
      })))
    .handle("showGroup", ({ path }) =>
      withBroker(Effect.flatMap(kafka(readOff), (ctx) => {
        const group = liveGroup(ctx, path.groupId)
        return group === undefined ? Effect.fail(noGroup(path.groupId)) : Effect.succeed(groupDetail(ctx, group))
      })))
    .handle("deleteGroup", ({ path }) =>
      withBroker(Effect.flatMap(kafka(changeOff), (ctx) =>
        Effect.gen(function*() {
          const groupId = path.groupId
          const members = liveGroup(ctx, groupId)?.members.size ?? 0
          const [result] = yield* ctx.groups.deleteGroups([groupId])
          switch (result?.errorCode) {
            case ErrorCode.NONE:
              yield* Effect.logInfo(`admin: deleted consumer group ${groupId}`)
              return { groupId }
            case ErrorCode.GROUP_ID_NOT_FOUND:
              return yield* Effect.fail(noGroup(groupId))
            case ErrorCode.NON_EMPTY_GROUP:
              return yield* Effect.fail(new Conflict({
                message: `NON_EMPTY_GROUP: consumer group "${groupId}" has ${members} member(s); stop its consumers (or wait for their session timeout) and try again`
              }))
            default:
              return yield* Effect.fail(new ServerError({ message: `deleting consumer group "${groupId}" failed in storage: the broker's log has the details` }))
          }
        })))))
