/** GET /api/v1/cluster: the members, their addresses and what each holds. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { Unavailable } from "../errors.js"

export class ClusterMemberView extends Schema.Class<ClusterMemberView>("ClusterMemberView")({
  id: Schema.String,
  host: Schema.String,
  mqttPort: Schema.Number,
  kafkaPort: Schema.Number.annotations({ description: "-1: Kafka off" }),
  kafkaTlsPort: Schema.Number.annotations({ description: "Kafka over TLS; -1: off" }),
  httpPort: Schema.Number.annotations({ description: "-1: HTTP off" }),
  linkPort: Schema.Number,
  pid: Schema.Number,
  startedAt: Schema.String,
  version: Schema.String,
  self: Schema.Boolean.annotations({ description: "the node that answered" }),
  routes: Schema.Number.annotations({ description: "route keys in its summary (plain filters and share groups with subscribers there)" }),
  sessions: Schema.NullOr(Schema.Number).annotations({ description: "MQTT sessions it holds; null: ask that node" }),
  kafkaNodeId: Schema.Number.annotations({ description: "its Kafka broker id (a numeric node id as it is, any other hashed)" }),
  partitions: Schema.Number.annotations({ description: "Kafka partitions it leads (in etcd; a dead member keeps its own until it returns)" }),
  groupSlots: Schema.Number.annotations({ description: "of the 64 Kafka group coordination slots, how many it owns" }),
  serving: Schema.Array(Schema.String).annotations({
    description: "the members whose data it serves Kafka partitions from while they are down (--workers: a sibling's store)"
  })
}) {}

export class ClusterStatus extends Schema.Class<ClusterStatus>("ClusterStatus")({
  enabled: Schema.Boolean.annotations({ description: "false: a single node (no [cluster])" }),
  name: Schema.String,
  node: Schema.String,
  members: Schema.Array(ClusterMemberView),
  link: Schema.Struct({
    forwarded: Schema.Number.annotations({ description: "messages sent to other nodes" }),
    forwardedBytes: Schema.Number,
    received: Schema.Number.annotations({ description: "messages other nodes forwarded here" }),
    dropped: Schema.Number.annotations({ description: "messages for a node that was unreachable or too far behind" })
  })
}) {}

export class ClusterApi extends HttpApiGroup.make("cluster")
  .add(HttpApiEndpoint.get("status", "/api/v1/cluster").addSuccess(ClusterStatus))
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
