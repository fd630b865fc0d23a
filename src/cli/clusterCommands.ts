/** `robustmq cluster status`: the members of the cluster the node at --url is in, their addresses and what each holds. */
import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import type { ClusterMemberView } from "../http/admin/cluster/api.js"
import { callApi, connectionOptions } from "./AdminClient.js"
import { printJson } from "./apiCommand.js"
import { renderTable } from "./output.js"

const port = (p: number) => (p < 0 ? "off" : String(p))

const status = Command.make("status", connectionOptions, (flags) =>
  Effect.gen(function*() {
    const s = yield* callApi(flags, (api) => api.cluster.status())
    if (flags.output === "json") return yield* printJson(s)
    if (!s.enabled) return yield* Console.log(`single node ${s.node} (no [cluster]: start with --cluster-etcd URL to join one)`)
    yield* Console.log(`cluster ${s.name}: ${s.members.length} member(s), asked ${s.node}`)
    yield* Console.log(renderTable<ClusterMemberView>([
      { header: "node", value: (m) => (m.self ? `${m.id} *` : m.id) },
      { header: "host", value: (m) => m.host },
      { header: "mqtt", value: (m) => port(m.mqttPort), right: true },
      { header: "kafka", value: (m) => port(m.kafkaPort), right: true },
      { header: "kafka tls", value: (m) => port(m.kafkaTlsPort), right: true },
      { header: "http", value: (m) => port(m.httpPort), right: true },
      { header: "link", value: (m) => port(m.linkPort), right: true },
      { header: "routes", value: (m) => m.routes, right: true },
      { header: "sessions", value: (m) => m.sessions, right: true },
      { header: "kafka id", value: (m) => m.kafkaNodeId, right: true },
      { header: "partitions", value: (m) => m.partitions, right: true },
      { header: "group slots", value: (m) => m.groupSlots, right: true },
      { header: "serving data of", value: (m) => m.serving.join(",") },
      { header: "pid", value: (m) => m.pid, right: true },
      { header: "up since", value: (m) => m.startedAt },
      { header: "version", value: (m) => m.version }
    ], s.members))
    yield* Console.log(`link: ${s.link.forwarded} forwarded (${s.link.forwardedBytes} bytes), ${s.link.received} received, ${s.link.dropped} dropped`)
  })
).pipe(Command.withDescription("The members of the cluster the broker at --url belongs to: addresses, routes, sessions, Kafka partitions led and group slots"))

export const cluster = Command.make("cluster").pipe(
  Command.withDescription("The cluster this broker is in"),
  Command.withSubcommands([status])
)
