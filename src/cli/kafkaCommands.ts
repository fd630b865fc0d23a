/**
 * `robustmq topics list|show|create|delete|mqtt` (Kafka topics, and the MQTT topics in use) and
 * `robustmq groups list|describe|delete` (Kafka consumer groups with their lag), over
 * /api/v1/kafka and /api/v1/topics.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import type { KafkaGroup, KafkaGroupDetail, KafkaGroupMember, KafkaGroupOffset, KafkaPartition, KafkaTopic, KafkaTopicConfig, KafkaTopicDetail } from "../http/admin/kafka/api.js"
import { callApi, connectionOptions } from "./AdminClient.js"
import { listCommand, pathParam, printJson } from "./apiCommand.js"
import { nameValuePairs, optionalChoice, optionalText, wholeNumber } from "./flags.js"
import type { Column } from "./output.js"
import { renderTable } from "./output.js"
import { mqttTopicsList } from "./retainedCommands.js"

const topicName = Args.text({ name: "TOPIC" })
const groupId = Args.text({ name: "GROUP_ID" })

const topicsList = listCommand({
  name: "list",
  description: "Kafka topics with their partitions and records written",
  filters: { prefix: optionalText("prefix", "TEXT", "topics whose name starts with TEXT") },
  call: (api, f, page) => api.kafka.listTopics({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "topic", value: (t: KafkaTopic) => t.name },
    { header: "partitions", value: (t) => t.partitions, right: true },
    { header: "records written", value: (t) => t.recordsWritten, right: true },
    { header: "internal", value: (t) => t.internal },
    { header: "mqtt", value: (t) => t.mqtt },
    { header: "created at", value: (t) => t.createdAt }
  ],
  empty: "no Kafka topics"
})

const partitionColumns: ReadonlyArray<Column<KafkaPartition>> = [
  { header: "partition", value: (p) => p.partition, right: true },
  { header: "log start", value: (p) => p.logStartOffset, right: true },
  { header: "high watermark", value: (p) => p.highWatermark, right: true },
  { header: "records", value: (p) => p.records, right: true }
]
const configColumns: ReadonlyArray<Column<KafkaTopicConfig>> = [
  { header: "config", value: (c) => c.name },
  { header: "value", value: (c) => c.value },
  { header: "source", value: (c) => c.source }
]

/** A topic's header lines, its partitions and its configs, as three blocks. */
const printTopic = (t: KafkaTopicDetail) =>
  Console.log([
    `topic       ${t.name}`,
    `created at  ${t.createdAt}`,
    `internal    ${t.internal}`,
    `mqtt        ${t.mqtt}`,
    "",
    renderTable(partitionColumns, t.partitions),
    "",
    renderTable(configColumns, t.configs)
  ].join("\n"))

const topicsShow = Command.make("show", { ...connectionOptions, name: topicName }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.kafka.showTopic({ path: { name: pathParam(flags.name) } })), (t) =>
    flags.output === "json" ? printJson(t) : printTopic(t))).pipe(
    Command.withDescription("One Kafka topic: partitions (log start, high watermark, records) and every config with its source")
  )

const partitions = optionalText("partitions", "N", "number of partitions (default kafka.default_partitions)")
const config = Options.text("config").pipe(
  Options.withPseudoName("NAME=VALUE"),
  Options.withDescription("a topic config, e.g. retention.ms=86400000; repeat for more"),
  Options.repeated
)

const topicsCreate = Command.make("create", { ...connectionOptions, name: topicName, partitions, config }, (flags) =>
  Effect.gen(function*() {
    const count = Option.isSome(flags.partitions) ? yield* wholeNumber("partitions", flags.partitions.value) : undefined
    const configs = yield* nameValuePairs("config", flags.config)
    const created = yield* callApi(flags, (api) =>
      api.kafka.createTopic({
        payload: { name: flags.name, ...(count === undefined ? {} : { partitions: count }), ...(configs === undefined ? {} : { configs }) }
      }))
    if (flags.output === "json") return yield* printJson(created)
    yield* Console.log(`created Kafka topic ${created.name} with ${created.partitions.length} partition(s)`)
  })).pipe(Command.withDescription("Create a Kafka topic (partitions, configs)"))

const topicsDelete = Command.make("delete", { ...connectionOptions, name: topicName }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.kafka.deleteTopic({ path: { name: pathParam(flags.name) } })), (d) =>
    flags.output === "json" ? printJson(d) : Console.log(`deleted Kafka topic ${d.name}`))).pipe(
    Command.withDescription("Delete a Kafka topic and its records")
  )

const mqttTopics = mqttTopicsList.pipe(Command.withDescription("MQTT topics in use: subscribed filters and retained topic names, with their counts"))

export const topics = Command.make("topics").pipe(
  Command.withDescription("Kafka topics: list, show, create, delete; `topics mqtt list`: the MQTT topics in use"),
  Command.withSubcommands([
    topicsList,
    topicsShow,
    topicsCreate,
    topicsDelete,
    Command.make("mqtt").pipe(Command.withDescription("MQTT topics in use"), Command.withSubcommands([mqttTopics]))
  ])
)

const groupsList = listCommand({
  name: "list",
  description: "Kafka consumer groups with their state, members and lag",
  filters: {
    prefix: optionalText("prefix", "TEXT", "group ids starting with TEXT"),
    state: optionalChoice("state", ["Empty", "PreparingRebalance", "CompletingRebalance", "Stable"], "groups in this state")
  },
  call: (api, f, page) => api.kafka.listGroups({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "group", value: (g: KafkaGroup) => g.groupId },
    { header: "state", value: (g) => g.state },
    { header: "protocol type", value: (g) => g.protocolType },
    { header: "members", value: (g) => g.members, right: true },
    { header: "lag", value: (g) => g.lag, right: true }
  ],
  empty: "no consumer groups"
})

const memberColumns: ReadonlyArray<Column<KafkaGroupMember>> = [
  { header: "member", value: (m) => m.memberId },
  { header: "client id", value: (m) => m.clientId },
  { header: "host", value: (m) => m.host },
  {
    header: "assignment",
    value: (m) => m.assignment === null ? null : Object.entries(m.assignment).map(([t, ps]) => `${t}:${ps.join(",")}`).join(" ")
  }
]
const offsetColumns: ReadonlyArray<Column<KafkaGroupOffset>> = [
  { header: "topic", value: (o) => o.topic },
  { header: "partition", value: (o) => o.partition, right: true },
  { header: "offset", value: (o) => o.offset, right: true },
  { header: "high watermark", value: (o) => o.highWatermark, right: true },
  { header: "lag", value: (o) => o.lag, right: true }
]

const printGroup = (g: KafkaGroupDetail) =>
  Console.log([
    `group       ${g.groupId}`,
    `state       ${g.state}`,
    `protocol    ${g.protocol ?? "-"} (${g.protocolType ?? "-"})`,
    `generation  ${g.generation}`,
    `leader      ${g.leader ?? "-"}`,
    `lag         ${g.lag}`,
    "",
    g.members.length === 0 ? "no members" : renderTable(memberColumns, g.members),
    "",
    g.offsets.length === 0 ? "no committed offsets" : renderTable(offsetColumns, g.offsets)
  ].join("\n"))

const groupsDescribe = Command.make("describe", { ...connectionOptions, groupId }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.kafka.showGroup({ path: { groupId: pathParam(flags.groupId) } })), (g) =>
    flags.output === "json" ? printJson(g) : printGroup(g))).pipe(
    Command.withDescription("One consumer group: members and their assignments, committed offsets and lag per partition")
  )

const groupsDelete = Command.make("delete", { ...connectionOptions, groupId }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.kafka.deleteGroup({ path: { groupId: pathParam(flags.groupId) } })), (d) =>
    flags.output === "json" ? printJson(d) : Console.log(`deleted consumer group ${d.groupId}`))).pipe(
    Command.withDescription("Delete a consumer group and its committed offsets (it must have no members)")
  )

export const groups = Command.make("groups").pipe(
  Command.withDescription("Kafka consumer groups: list, describe, delete"),
  Command.withSubcommands([groupsList, groupsDescribe, groupsDelete])
)
