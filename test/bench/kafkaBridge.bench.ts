/**
 * What the MQTT to Kafka forwarding adds to Forwarder.forward on the PUBLISH hot path, apart
 * from the link's own send (a counting stub here; the link's encode and write are measured by
 * the load suite, docs/cluster.md 1.3): a QoS 1 message with no remote route when there is no
 * Kafka listener, when this node leads its partition, and when another live node does. Each
 * bench call forwards 1,000 messages: ns per message = 1e6 / hz.
 * Run: npx vitest bench --run test/bench/kafkaBridge.bench.ts
 */
import { bench, describe } from "vitest"
import { topicPartition } from "../../domain/ids.js"
import type { ClusterNodeService, NodeInfo } from "../../src/cluster/ClusterNode.js"
import { Forwarder } from "../../src/cluster/Forwarder.js"
import { KafkaBridge } from "../../src/cluster/kafka/KafkaBridge.js"
import { PartitionLeaders } from "../../src/cluster/kafka/PartitionLeaders.js"
import { MovedRoutes } from "../../src/cluster/MovedRoutes.js"
import type { NodeLink } from "../../src/cluster/NodeLink.js"
import { RouteTable } from "../../src/cluster/RouteTable.js"
import { Message } from "../../src/mqtt/engine/Message.js"

const Ops = 1000
const tp = topicPartition("mqtt", 0)

let sent = 0
const link = { send: () => void sent++, rewind: () => undefined } as unknown as NodeLink
const member = { id: "n2" } as NodeInfo

const forwarder = (leader: string | null): Forwarder => {
  const routes = new RouteTable("n1")
  let bridge: KafkaBridge | null = null
  if (leader !== null) {
    const node = { id: "n1", member: (id: string) => (id === "n2" ? member : undefined) } as unknown as ClusterNodeService
    const leaders = new PartitionLeaders(node, null as never, null as never)
    leaders.view.owners.set("mqtt/0", { owner: leader, epoch: 1 })
    leaders.view.ready = true
    bridge = new KafkaBridge(node, leaders)
  }
  return new Forwarder("n1", routes, null as never, link, () => ["n2"], null as never, new MovedRoutes(link, routes), bridge)
}

const messages = Array.from({ length: Ops }, (_, i) => {
  const m = new Message(`dev/${i}/temp`, Buffer.from("21.5"), 1, false, null, 0, "c", 0)
  m.tp = tp
  m.offset = i
  m.appended = true
  return m
})

const run = (f: Forwarder) => () => {
  for (let i = 0; i < Ops; i++) f.forward(messages[i]!)
}

describe("Forwarder.forward, a QoS 1 publish no other node subscribes to", () => {
  bench("no Kafka listener (bridge null)", run(forwarder(null)))
  bench("this node leads the partition", run(forwarder("n1")))
  bench("another live node leads it (one send)", run(forwarder("n2")))
})
