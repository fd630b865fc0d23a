/**
 * MQTT and Kafka across three `robustmq start --cluster-etcd` processes over a real etcd: MQTT.js
 * publishers on every node, with no MQTT subscriber anywhere, and a kafkajs consumer of the
 * bridge topic "mqtt" gets every publish exactly once (the MQTT topic as key), whichever node
 * leads the partition; the leader SIGKILLed and started again on its data dir while the others
 * publish, a consumer afterwards has every acknowledged message (at least once); a record a
 * kafkajs producer sends to "mqtt" with key `cmd/1` reaches an MQTT subscriber of `cmd/1` on
 * another node; a publish forwarded to the leader for Kafka reaches its plain subscribers once
 * and its share-group members only when picked; records of another Kafka topic stay on their
 * leader's node, where a share group with a member elsewhere gets every one. Skipped without etcd.
 */
import { type Consumer, Kafka, logLevel } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kafkaNodeId } from "../../src/cluster/kafka/placement.js"
import { connect, type TestClient } from "../support/clients.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { waitFor } from "../support/waitFor.js"
import { etcdNodes, memberCount } from "../support/etcdNodes.js"

const BRIDGE = "mqtt"
const IDS = ["n1", "n2", "n3"] as const

interface Read {
  readonly key: string
  readonly value: string
}

describe.skipIf(!hasEtcd)("MQTT publishes on every node reach Kafka readers of the bridge topic (real etcd)", () => {
  let etcd: EtcdServer
  const cluster = etcdNodes(() => etcd.endpoint, "robustmq-bridge")
  const { nodes, node } = cluster
  const startNode = cluster.start
  const members = memberCount
  const consumers: Array<Consumer> = []
  const clients: Array<TestClient> = []

  const kafka = (clientId: string, via: string) =>
    new Kafka({
      clientId,
      brokers: [`127.0.0.1:${node(via).kafkaPort}`],
      logLevel: process.env.KDEBUG ? logLevel.INFO : logLevel.NOTHING,
      retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 }
    })
  /** The node leading `mqtt`/0, asked from `via`. */
  const bridgeLeader = async (via: string): Promise<string | undefined> => {
    const admin = kafka(`admin-${Date.now()}`, via).admin()
    try {
      await admin.connect()
      const meta = await admin.fetchTopicMetadata({ topics: [BRIDGE] })
      const leader = meta.topics[0]?.partitions.find((p) => p.partitionId === 0)?.leader
      return IDS.find((id) => leader !== undefined && kafkaNodeId(id) === leader)
    } catch {
      return undefined
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }
  /** A consumer of the bridge topic from its beginning, in a group of its own: what it reads. */
  const readBridge = async (name: string, via: string): Promise<Array<Read>> => {
    const read: Array<Read> = []
    const consumer = kafka(name, via).consumer({ groupId: `bridge-${name}-${Date.now()}`, sessionTimeout: 10_000, heartbeatInterval: 500, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
    consumers.push(consumer)
    await consumer.connect()
    await consumer.subscribe({ topic: BRIDGE, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void read.push({ key: message.key?.toString() ?? "", value: message.value?.toString() ?? "" }) })
    return read
  }
  const mqttClient = async (id: string, clientId: string) => {
    const c = await connect(`mqtt://127.0.0.1:${node(id).port}`, { clientId, clean: true })
    clients.push(c)
    return c
  }
  const countOf = (read: ReadonlyArray<Read>) => {
    const counts = new Map<string, number>()
    for (const r of read) counts.set(r.value, (counts.get(r.value) ?? 0) + 1)
    return counts
  }

  beforeAll(async () => {
    etcd = await startEtcd()
    for (const id of IDS) await startNode(id)
    await waitFor("every node to see 3 members", async () => (await Promise.all([...nodes.values()].map(members))).every((n) => n === 3), 30_000)
    await waitFor("a leader of mqtt/0 seen from every node", async () => {
      const seen = await Promise.all(IDS.map(bridgeLeader))
      return seen[0] !== undefined && seen.every((l) => l === seen[0])
    }, 30_000)
  }, 90_000)

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end(true).catch(() => {})))
    await Promise.all(consumers.map((c) => Promise.race([c.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 5000))])))
    await cluster.cleanup()
    await etcd?.stop()
  }, 60_000)

  it("QoS 1 publishes on all three nodes, no MQTT subscriber: a consumer of \"mqtt\" gets each exactly once, keyed by its MQTT topic", async () => {
    const leader = (await bridgeLeader("n1"))!
    console.log(`kafka bridge: ${leader} leads ${BRIDGE}/0`)
    const N = 200
    const publishers = await Promise.all(IDS.map((id) => mqttClient(id, `pub-${id}`)))
    await Promise.all(publishers.map(async (p, n) => {
      for (let i = 0; i < N; i++) await p.client.publishAsync(`bridge/${IDS[n]}/${i % 5}`, `${IDS[n]}-${i}`, { qos: 1 })
    }))
    const read = await readBridge("exactly-once", IDS.find((id) => id !== leader)!)
    const wanted = IDS.flatMap((id) => Array.from({ length: N }, (_, i) => `${id}-${i}`))
    await waitFor(`all ${wanted.length} publishes in Kafka`, () => wanted.every((v) => countOf(read).has(v)), 40_000).catch((e) => {
      const counts = countOf(read)
      throw new Error(`${(e as Error).message}; per node read: ${IDS.map((id) => `${id} ${wanted.filter((v) => v.startsWith(id) && counts.has(v)).length}`).join(", ")}`)
    })
    await new Promise((r) => setTimeout(r, 1500)) // anything more would be a duplicate
    const mine = read.filter((r) => r.key.startsWith("bridge/"))
    const counts = countOf(mine)
    expect([...counts.entries()].filter(([, n]) => n !== 1), "read more than once").toEqual([])
    expect(mine.length).toBe(wanted.length)
    for (const r of mine) expect(r.key).toBe(`bridge/${r.value.split("-")[0]}/${Number(r.value.split("-")[1]) % 5}`)
  }, 120_000)

  it("the leader of mqtt/0 SIGKILLed and restarted while the others publish: a consumer afterwards has every acknowledged publish", async () => {
    const leader = (await bridgeLeader("n1"))!
    const others = IDS.filter((id) => id !== leader)
    const acked: Array<string> = []
    let publishing = true
    const publishers = await Promise.all(others.map((id) => mqttClient(id, `restart-pub-${id}`)))
    const loops = publishers.map(async (p, n) => {
      for (let i = 0; publishing; i++) {
        const value = `restart-${others[n]}-${i}`
        await p.client.publishAsync(`restart/${others[n]}`, value, { qos: 1 })
        acked.push(value)
        await new Promise((r) => setTimeout(r, 5))
      }
    })
    await waitFor("some publishes before the kill", () => acked.length >= 100, 20_000)
    const killedAt = acked.length
    node(leader).child.kill("SIGKILL")
    await new Promise<void>((r) => (node(leader).exit() !== null ? r() : node(leader).child.once("exit", () => r())))
    // Its lease runs out (2 s): nobody sends it anything any more.
    await waitFor(`${leader} gone from the member list`, async () => (await members(node(others[0]!))) === 2, 20_000)
    const downAt = acked.length
    await startNode(leader)
    await waitFor(`${leader} back in the member list`, async () => (await members(node(others[0]!))) === 3, 30_000)
    const backAt = acked.length
    await waitFor("more publishes after the restart", () => acked.length >= backAt + 300, 20_000)
    publishing = false
    await Promise.all(loops)
    console.log(`kafka bridge: ${acked.length} publishes acknowledged on ${others.join(" and ")}; ${leader} SIGKILLed after ${killedAt}, out of the member list after ${downAt}, back after ${backAt}`)

    const read = await readBridge("after-restart", others[0]!)
    await waitFor(`every acknowledged publish (${acked.length}) in Kafka`, () => {
      const counts = countOf(read)
      return acked.every((v) => counts.has(v))
    }, 60_000).catch((e) => {
      const counts = countOf(read)
      const missing = acked.filter((v) => !counts.has(v))
      throw new Error(`${(e as Error).message}; ${missing.length} missing, e.g. ${missing.slice(0, 10).join(", ")}`)
    })
    const dupes = read.filter((r) => r.value.startsWith("restart-")).length - new Set(read.map((r) => r.value).filter((v) => v.startsWith("restart-"))).size
    console.log(`kafka bridge: after the restart the consumer read every acknowledged publish; ${dupes} duplicate(s) (at least once)`)
    // The first test's publishes are still there (the leader kept its data).
    expect(new Set(read.filter((r) => r.key.startsWith("bridge/")).map((r) => r.value)).size).toBe(600)
  }, 180_000)

  it("a record produced with kafkajs to \"mqtt\" with key cmd/1 reaches an MQTT subscriber of cmd/1 on another node", async () => {
    const leader = (await bridgeLeader("n1"))!
    const elsewhere = IDS.find((id) => id !== leader)!
    const subscriber = await mqttClient(elsewhere, "cmd-subscriber")
    await subscriber.client.subscribeAsync("cmd/1", { qos: 1 })
    const producer = kafka("cmd-producer", leader).producer()
    await producer.connect()
    await producer.send({ topic: BRIDGE, acks: -1, messages: [{ key: "cmd/1", value: "reboot" }] })
    await producer.disconnect()
    const [got] = await subscriber.waitFor(1, 10_000)
    expect(got).toMatchObject({ topic: "cmd/1", payload: "reboot" })
    await new Promise((r) => setTimeout(r, 500))
    expect(subscriber.messages.length, "delivered once").toBe(1)
  }, 60_000)

  it("a publish that also goes to the leader for Kafka reaches the leader's plain subscriber once, and a share group spread over two nodes once in total", async () => {
    const leader = (await bridgeLeader("n1"))!
    const [publisherNode, memberNode] = IDS.filter((id) => id !== leader) as [string, string]
    const plain = await mqttClient(leader, "dup-plain")
    await plain.client.subscribeAsync("dup/#", { qos: 1 })
    const members = [await mqttClient(leader, "dup-member-leader"), await mqttClient(memberNode, "dup-member-other")]
    await Promise.all(members.map((m) => m.client.subscribeAsync("$share/g/dup/#", { qos: 1 })))
    // Only-for-Kafka too: a share group whose only member is on the publishing node.
    const local = await mqttClient(publisherNode, "dup-member-local")
    await local.client.subscribeAsync("$share/h/dup/#", { qos: 1 })
    const read = await readBridge("dup", leader)
    const pub = await mqttClient(publisherNode, "dup-publisher")
    const M = 300
    for (let i = 0; i < M; i++) await pub.client.publishAsync(`dup/${i % 3}`, `dup-${i}`, { qos: 1 })
    const wanted = Array.from({ length: M }, (_, i) => `dup-${i}`)
    const total = () => members[0]!.messages.length + members[1]!.messages.length
    await waitFor(`${M} messages at the plain subscriber, the share group g and h, and Kafka`, () =>
      plain.messages.length >= M && total() >= M && local.messages.length >= M && wanted.every((v) => countOf(read).has(v)), 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}: plain ${plain.messages.length}, group g ${members.map((m) => m.messages.length)}, group h ${local.messages.length}, Kafka ${read.filter((r) => r.value.startsWith("dup-")).length}`)
    })
    await new Promise((r) => setTimeout(r, 1500))
    expect(plain.messages.map((m) => m.payload).sort()).toEqual([...wanted].sort())
    expect([...members[0]!.messages, ...members[1]!.messages].map((m) => m.payload).sort()).toEqual([...wanted].sort())
    // Both nodes took part (round-robin), so the leader's member got only its picks.
    expect(members.every((m) => m.messages.length > 0)).toBe(true)
    expect(local.messages.map((m) => m.payload).sort()).toEqual([...wanted].sort())
    expect(read.filter((r) => r.value.startsWith("dup-")).length).toBe(M)
  }, 90_000)

  it("records of another Kafka topic stay on its leader's node: its share-group member there gets every one, the member elsewhere none", async () => {
    const admin = kafka("orders-admin", "n1").admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: "orders", numPartitions: 1 }], waitForLeaders: true })
    let leader: string | undefined
    await waitFor("a leader of orders/0", async () => {
      const meta = await admin.fetchTopicMetadata({ topics: ["orders"] }).catch(() => null)
      const id = meta?.topics[0]?.partitions[0]?.leader
      leader = IDS.find((n) => id !== undefined && kafkaNodeId(n) === id)
      return leader !== undefined
    }, 20_000)
    await admin.disconnect()
    const elsewhere = IDS.find((id) => id !== leader)!
    const members = [await mqttClient(leader!, "orders-member-leader"), await mqttClient(elsewhere, "orders-member-other")]
    await Promise.all(members.map((m) => m.client.subscribeAsync("$share/o/orders", { qos: 1 })))
    const producer = kafka("orders-producer", leader!).producer()
    await producer.connect()
    await producer.send({ topic: "orders", acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ value: `order-${i}` })) })
    await producer.disconnect()
    await members[0]!.waitFor(20, 10_000)
    await new Promise((r) => setTimeout(r, 500))
    expect(members[0]!.messages.map((m) => m.payload)).toEqual(Array.from({ length: 20 }, (_, i) => `order-${i}`))
    expect(members[1]!.messages).toEqual([])
  }, 60_000)
})
