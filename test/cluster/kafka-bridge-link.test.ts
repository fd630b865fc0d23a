/**
 * MQTT to Kafka across nodes, in one process (three brokers over one memory Coordination, real
 * MQTT.js and kafkajs clients): the link from a publishing node to the leader of `mqtt`/0 drops
 * mid-stream and a kafkajs consumer at the leader still gets every acknowledged publish (the
 * leader's catch-up covers the whole partition); the leader's own publishes and a node without
 * a Kafka listener send nothing over the link for Kafka. Processes, etcd and a SIGKILLed
 * leader: kafka-bridge.test.ts.
 */
import { Effect } from "effect"
import { type Consumer, Kafka, logLevel } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import { startMemoryCluster } from "../support/memoryCluster.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const leaderOf = (n: TestBroker) => n.kafka!.context.cluster!.leaders.leaderOf("mqtt", 0)?.owner

describe("MQTT publishes reach the Kafka leader across a dropped link (memory coordination)", () => {
  const nodes: Array<TestBroker> = []
  const clients: Array<TestClient> = []
  const consumers: Array<Consumer> = []
  const client = async (node: TestBroker, clientId: string) => {
    const c = await connect(node.url, { clientId })
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    nodes.push(...(await startMemoryCluster(["n1", "n2", "n3"])))
    await waitUntil(() => nodes.every((n) => leaderOf(n) !== undefined && leaderOf(n) === leaderOf(nodes[0]!)), 10_000, () => "one leader of mqtt/0 seen everywhere")
  })
  afterAll(async () => {
    for (const c of clients) await c.end(true)
    await Promise.all(consumers.map((c) => Promise.race([c.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 5000))])))
    for (const n of nodes) {
      await n.stop()
      n.cleanup()
    }
  })

  it("a publishing node's link to the leader drops mid-stream: a consumer at the leader gets all 3,000 acknowledged publishes", async () => {
    const leader = nodes.find((n) => n.node.id === leaderOf(n))!
    const [publisherNode] = nodes.filter((n) => n !== leader)
    const pub = await client(publisherNode!, "blip-publisher")
    const total = 3000
    const end = () => leader.server.engine.log.unsafeEndOffset("mqtt-0" as never)
    const before = end()
    const asked = leader.routing.catchUp!.stats.asked
    const acked = Promise.all(Array.from({ length: total }, (_, i) => pub.client.publishAsync("blip/k", `blip-${i}`, { qos: 1 })))
    await waitUntil(() => end() - before >= 300, 10_000, () => `${end() - before} logged at the leader before the blip`)
    // A network blip: the publisher's connection to the leader goes, with whatever it had not sent yet.
    publisherNode!.routing.link!.forget(leader.node.id)
    await acked

    const read: Array<string> = []
    const kafka = new Kafka({ clientId: "blip", brokers: [`127.0.0.1:${leader.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
    const consumer = kafka.consumer({ groupId: "blip-reader", retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
    consumers.push(consumer)
    await consumer.connect()
    await consumer.subscribe({ topic: "mqtt", fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void read.push(message.value!.toString()) })
    const wanted = Array.from({ length: total }, (_, i) => `blip-${i}`)
    await waitUntil(() => new Set(read).size >= total, 30_000, () => `${new Set(read).size} of ${total} in Kafka`)
    expect(new Set(read)).toEqual(new Set(wanted))
    // The blip cut a batch short or fell between batches; either way the new link's first
    // coverage made the leader ask (at least once), and nothing was lost.
    expect(leader.routing.catchUp!.stats.asked).toBeGreaterThan(asked)
    console.log(`kafka bridge (link blip): ${read.length} read for ${total} published; the leader asked ${leader.routing.catchUp!.stats.asked - asked} catch-up(s)`)
  }, 60_000)

  it("the leader's own publishes with no subscriber elsewhere cross no link", async () => {
    const leader = nodes.find((n) => n.node.id === leaderOf(n))!
    const pub = await client(leader, "leader-publisher")
    const forwarded = leader.routing.link!.stats.forwarded
    for (let i = 0; i < 100; i++) await pub.client.publishAsync("local/k", `l-${i}`, { qos: 1 })
    await quiet(200)
    expect(leader.routing.link!.stats.forwarded).toBe(forwarded)
  })
})

describe("without a Kafka listener nothing goes to partition leaders (memory coordination)", () => {
  const nodes: Array<TestBroker> = []
  beforeAll(async () => {
    const { service } = await Effect.runPromise(MemoryCoordination.make)
    for (const id of ["k1", "k2"]) nodes.push(await startBroker({ coordination: service, cluster: { nodeId: id }, kafka: { enabled: false } }))
    await waitUntil(() => nodes.every((n) => n.node.members().length === 2), 5000, () => "two members on every node")
  })
  afterAll(async () => {
    for (const n of nodes) {
      await n.stop()
      n.cleanup()
    }
  })

  it("QoS 1 publishes with no subscriber on the other node are not forwarded", async () => {
    const clients = await Promise.all(nodes.map((n, i) => connect(n.url, { clientId: `plain-${i}` })))
    try {
      for (const c of clients) for (let i = 0; i < 50; i++) await c.client.publishAsync("nokafka/k", `n-${i}`, { qos: 1 })
      await quiet(200)
      expect(nodes.map((n) => n.routing.link!.stats.forwarded)).toEqual([0, 0])
    } finally {
      for (const c of clients) await c.end(true)
    }
  })
})
