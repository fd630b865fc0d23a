/** The cluster status: this node's member view, each member's route count, Kafka partitions led, group slots and the dead members' data it serves, the link's counters. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import { BrokerConfig } from "../../../../config/BrokerConfig.js"
import { ClusterRouting } from "../../../cluster/announce.js"
import { ClusterNode } from "../../../cluster/ClusterNode.js"
import { kafkaNodeId } from "../../../cluster/kafka/placement.js"
import { KafkaServer } from "../../../kafka/KafkaServer.js"
import { MqttServer } from "../../../mqtt/MqttServer.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { ClusterMemberView, ClusterStatus } from "./api.js"

export const ClusterLive = HttpApiBuilder.group(BrokerApi, "cluster", (handlers) =>
  handlers.handle("status", () =>
    withBroker(Effect.gen(function*() {
      const config = yield* BrokerConfig
      const node = yield* ClusterNode
      const routing = yield* ClusterRouting
      const engine = (yield* MqttServer).engine
      const routes = routing.routes?.countsByNode() ?? new Map<string, number>()
      const kafka = Option.getOrNull(yield* Effect.serviceOption(KafkaServer))?.context.cluster ?? null
      const partitions = kafka?.leaders.countsByNode() ?? new Map<string, number>()
      const slots = kafka?.slots.countsByNode() ?? new Map<string, number>()
      const serving = kafka?.leaders.servedStores() ?? new Map<string, ReadonlySet<string>>()
      const members = node.members().map((m) => {
        const self = m.id === node.id
        return new ClusterMemberView({
          id: m.id,
          host: m.host,
          mqttPort: m.mqttPort,
          kafkaPort: m.kafkaPort,
          kafkaTlsPort: m.kafkaTlsPort,
          httpPort: m.httpPort,
          linkPort: m.linkPort,
          pid: m.pid,
          startedAt: new Date(m.startedAt).toISOString(),
          version: m.version,
          self,
          routes: self ? engine.subscriptions.routeKeys().length : routes.get(m.id) ?? 0,
          sessions: self ? engine.sessions.size : null,
          kafkaNodeId: node.enabled ? kafkaNodeId(m.id) : 0,
          partitions: partitions.get(m.id) ?? 0,
          groupSlots: slots.get(m.id) ?? 0,
          serving: [...(serving.get(m.id) ?? [])].sort()
        })
      })
      const link = routing.link?.stats ?? { forwarded: 0, forwardedBytes: 0, received: 0, dropped: 0 }
      return new ClusterStatus({ enabled: node.enabled, name: config.cluster.name, node: node.id, members, link: { ...link } })
    }))
  )
)
