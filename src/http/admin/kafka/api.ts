/**
 * The Kafka routes: topics (list, show with partitions and configs, create, delete, alter
 * configs) and consumer groups (list, show with members, assignments, committed offsets and
 * lag, delete). Every field is described here: the console and the CLI read these schemas.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { BadRequest, Conflict, NotFound, ServerError, Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"

const ConfigMap = Schema.Record({ key: Schema.String, value: Schema.String })

// --- topics ----------------------------------------------------------------------------------

export class KafkaTopic extends Schema.Class<KafkaTopic>("KafkaTopic")({
  name: Schema.String,
  partitions: Schema.Number.annotations({ description: "number of partitions" }),
  internal: Schema.Boolean.annotations({ description: "the broker's own topic (name starts with __)" }),
  mqtt: Schema.Boolean.annotations({
    description: "MQTT publishes are written here (kafka.mqtt_topic or a [kafka.bindings] topic); it cannot be deleted while the configuration names it"
  }),
  recordsWritten: Schema.Number.annotations({
    description: "records written over the topic's life: its partitions' high watermarks summed (records since removed by retention or DeleteRecords count too)"
  }),
  createdAt: Schema.String.annotations({ description: "ISO 8601" })
}) {}

export class KafkaPartition extends Schema.Class<KafkaPartition>("KafkaPartition")({
  partition: Schema.Number,
  highWatermark: Schema.Number.annotations({ description: "the offset the next record gets; consumers read up to here" }),
  logStartOffset: Schema.Number.annotations({ description: "the first offset still held (retention and DeleteRecords move it)" }),
  records: Schema.Number.annotations({ description: "records held: highWatermark - logStartOffset" })
}) {}

export class KafkaTopicConfig extends Schema.Class<KafkaTopicConfig>("KafkaTopicConfig")({
  name: Schema.String.annotations({ description: "e.g. retention.ms, retention.bytes, cleanup.policy" }),
  value: Schema.String,
  source: Schema.Literal("topic", "default").annotations({ description: "topic: set on this topic; default: the broker's value ([storage] settings)" })
}) {}

export class KafkaTopicDetail extends Schema.Class<KafkaTopicDetail>("KafkaTopicDetail")({
  name: Schema.String,
  internal: KafkaTopic.fields.internal,
  mqtt: KafkaTopic.fields.mqtt,
  createdAt: KafkaTopic.fields.createdAt,
  partitions: Schema.Array(KafkaPartition),
  configs: Schema.Array(KafkaTopicConfig).annotations({ description: "every topic config the broker knows, with the value that applies" })
}) {}

export const KafkaTopicPage = Page(KafkaTopic)

export class CreateKafkaTopic extends Schema.Class<CreateKafkaTopic>("CreateKafkaTopic")({
  name: Schema.String.annotations({ description: "ASCII letters, digits, '.', '_' and '-', at most 249 characters, not starting with __" }),
  partitions: Schema.optional(Schema.Int).annotations({ description: "1 to 10000 (default kafka.default_partitions)" }),
  configs: Schema.optional(ConfigMap).annotations({ description: "topic configs, e.g. { \"retention.ms\": \"86400000\" }" })
}) {}

export class AlterKafkaTopicConfigs extends Schema.Class<AlterKafkaTopicConfigs>("AlterKafkaTopicConfigs")({
  set: Schema.optional(ConfigMap).annotations({ description: "configs to set; others keep their value" }),
  reset: Schema.optional(Schema.Array(Schema.String)).annotations({ description: "configs to return to their default" })
}) {}

export class ReplaceKafkaTopicConfigs extends Schema.Class<ReplaceKafkaTopicConfigs>("ReplaceKafkaTopicConfigs")({
  configs: ConfigMap.annotations({ description: "the topic's whole set of configs: those left out return to their default" })
}) {}

export class DeletedKafkaTopic extends Schema.Class<DeletedKafkaTopic>("DeletedKafkaTopic")({ name: Schema.String }) {}

// --- groups ----------------------------------------------------------------------------------

export const GroupStateName = Schema.Literal("Empty", "PreparingRebalance", "CompletingRebalance", "Stable")

export class KafkaGroup extends Schema.Class<KafkaGroup>("KafkaGroup")({
  groupId: Schema.String,
  state: GroupStateName,
  protocolType: Schema.NullOr(Schema.String).annotations({ description: "\"consumer\" for consumer groups; null before any member joined" }),
  members: Schema.Number.annotations({ description: "number of members" }),
  lag: Schema.Number.annotations({ description: "records behind the high watermarks, summed over the partitions the group has committed offsets for" })
}) {}

export class KafkaGroupMember extends Schema.Class<KafkaGroupMember>("KafkaGroupMember")({
  memberId: Schema.String,
  groupInstanceId: Schema.NullOr(Schema.String).annotations({ description: "static membership id (KIP-345), if any" }),
  clientId: Schema.String,
  host: Schema.String.annotations({ description: "the member's address" }),
  assignment: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.Number) })).annotations({
    description: "topic -> partitions assigned to this member ({} until the group is synced); null when not a consumer-protocol assignment"
  })
}) {}

export class KafkaGroupOffset extends Schema.Class<KafkaGroupOffset>("KafkaGroupOffset")({
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.Number.annotations({ description: "committed offset: the next record the group reads" }),
  highWatermark: Schema.Number,
  lag: Schema.Number.annotations({ description: "highWatermark - offset (at least 0)" })
}) {}

export class KafkaGroupDetail extends Schema.Class<KafkaGroupDetail>("KafkaGroupDetail")({
  groupId: Schema.String,
  state: GroupStateName,
  protocolType: KafkaGroup.fields.protocolType,
  protocol: Schema.NullOr(Schema.String).annotations({ description: "the assignor of the current generation (e.g. RoundRobinAssigner)" }),
  generation: Schema.Number,
  leader: Schema.NullOr(Schema.String).annotations({ description: "member id of the group's leader" }),
  members: Schema.Array(KafkaGroupMember),
  offsets: Schema.Array(KafkaGroupOffset).annotations({ description: "committed offsets, by topic and partition" }),
  lag: KafkaGroup.fields.lag
}) {}

export const KafkaGroupPage = Page(KafkaGroup)

export class DeletedKafkaGroup extends Schema.Class<DeletedKafkaGroup>("DeletedKafkaGroup")({ groupId: Schema.String }) {}

// --- routes ----------------------------------------------------------------------------------

const topicPath = Schema.Struct({ name: Schema.String })
const groupPath = Schema.Struct({ groupId: Schema.String })

export class KafkaApi extends HttpApiGroup.make("kafka")
  .add(
    HttpApiEndpoint.get("listTopics", "/api/v1/kafka/topics")
      .setUrlParams(Schema.Struct({ ...PageParams, prefix: Schema.optional(Schema.String).annotations({ description: "topic name prefix" }) }))
      .addSuccess(KafkaTopicPage)
      .addError(NotFound)
  )
  .add(HttpApiEndpoint.get("showTopic", "/api/v1/kafka/topics/:name").setPath(topicPath).addSuccess(KafkaTopicDetail).addError(NotFound))
  .add(
    HttpApiEndpoint.post("createTopic", "/api/v1/kafka/topics")
      .setPayload(CreateKafkaTopic)
      .addSuccess(KafkaTopicDetail, { status: 201 })
      .addError(NotFound)
      .addError(BadRequest)
      .addError(Conflict)
  )
  .add(HttpApiEndpoint.del("deleteTopic", "/api/v1/kafka/topics/:name").setPath(topicPath).addSuccess(DeletedKafkaTopic).addError(NotFound).addError(Conflict))
  .add(
    HttpApiEndpoint.patch("alterTopicConfigs", "/api/v1/kafka/topics/:name/configs")
      .setPath(topicPath)
      .setPayload(AlterKafkaTopicConfigs)
      .addSuccess(KafkaTopicDetail)
      .addError(NotFound)
      .addError(BadRequest)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.put("replaceTopicConfigs", "/api/v1/kafka/topics/:name/configs")
      .setPath(topicPath)
      .setPayload(ReplaceKafkaTopicConfigs)
      .addSuccess(KafkaTopicDetail)
      .addError(NotFound)
      .addError(BadRequest)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.get("listGroups", "/api/v1/kafka/groups")
      .setUrlParams(Schema.Struct({
        ...PageParams,
        prefix: Schema.optional(Schema.String).annotations({ description: "group id prefix" }),
        state: Schema.optional(GroupStateName)
      }))
      .addSuccess(KafkaGroupPage)
      .addError(NotFound)
  )
  .add(HttpApiEndpoint.get("showGroup", "/api/v1/kafka/groups/:groupId").setPath(groupPath).addSuccess(KafkaGroupDetail).addError(NotFound))
  .add(HttpApiEndpoint.del("deleteGroup", "/api/v1/kafka/groups/:groupId").setPath(groupPath).addSuccess(DeletedKafkaGroup).addError(NotFound).addError(Conflict))
  .addError(ServerError)
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
