/** `robustmq retained list|show|delete` and `robustmq topics list` (MQTT topics in use). */
import { Args, Command } from "@effect/cli"
import { Console, Effect } from "effect"
import type { RetainedMessage, RetainedSummary } from "../http/admin/retained/api.js"
import type { MqttTopic } from "../http/admin/topics/api.js"
import { callApi, connectionOptions } from "./AdminClient.js"
import { listCommand, printJson, printObject } from "./apiCommand.js"
import { optionalText } from "./flags.js"

const topic = Args.text({ name: "TOPIC" })

const list = listCommand({
  name: "list",
  description: "Retained messages, by topic filter",
  filters: { filter: optionalText("filter", "FILTER", "retained messages whose topic matches FILTER (+ and # allowed)") },
  call: (api, f, page) => api.retained.list({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "topic", value: (r: RetainedSummary) => r.topic },
    { header: "qos", value: (r) => r.qos, right: true },
    { header: "bytes", value: (r) => r.bytes, right: true },
    { header: "published at", value: (r) => r.publishedAt },
    { header: "expires at", value: (r) => r.expiresAt }
  ],
  empty: "no retained messages"
})

const messageFields = (m: RetainedMessage): ReadonlyArray<readonly [string, unknown]> => [
  ["topic", m.topic],
  ["qos", m.qos],
  ["bytes", m.bytes],
  ["published at", m.publishedAt],
  ["expires at", m.expiresAt],
  ["content type", m.contentType],
  ["user properties", m.userProperties.length === 0 ? null : m.userProperties.map(([k, v]) => `${k}=${v}`).join(", ")],
  [m.encoding === "plain" ? "payload" : "payload (base64)", m.payload]
]

const show = Command.make("show", { ...connectionOptions, topic }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.retained.show({ urlParams: { topic: flags.topic } })), (m) =>
    printObject(flags.output, m, messageFields))).pipe(Command.withDescription("One retained message, with its payload and properties"))

const del = Command.make("delete", { ...connectionOptions, topic }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.retained.delete({ urlParams: { topic: flags.topic } })), (d) =>
    flags.output === "json" ? printJson(d) : Console.log(`deleted the retained message of ${d.topic}`))).pipe(
    Command.withDescription("Delete the retained message of a topic (new subscribers no longer get it)")
  )

export const retained = Command.make("retained").pipe(
  Command.withDescription("Retained MQTT messages: list, show, delete"),
  Command.withSubcommands([list, show, del])
)

export const mqttTopicsList = listCommand({
  name: "list",
  description: "MQTT topics in use: subscribed filters and retained topic names, with their counts",
  filters: { prefix: optionalText("prefix", "TEXT", "topics starting with TEXT") },
  call: (api, f, page) => api.topics.list({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "topic", value: (t: MqttTopic) => t.topic },
    { header: "subscribers", value: (t) => t.subscribers, right: true },
    { header: "retained", value: (t) => t.retained }
  ],
  empty: "no MQTT topics in use"
})
