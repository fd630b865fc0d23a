/**
 * Kafka across three `robustmq start --cluster-etcd` processes over a real etcd (issue 11 item
 * 5): kcat lists three brokers and partition leaders on all of them from any node; a kafkajs
 * producer and a consumer group whose members start from different nodes move every record
 * exactly once; a Produce to a node that does not lead the partition is answered
 * NOT_LEADER_OR_FOLLOWER; a 4th node takes over the group's slot when it joins; when the
 * group's coordinator is SIGKILLed, its slot moves to a live node within seconds and the
 * consumers go on from the offsets committed before; a SIGKILLed leader's partitions answer
 * LEADER_NOT_AVAILABLE until it comes back with its data; a coordinator stopped with SIGTERM
 * hands on at once. The times are printed. Skipped without etcd or kcat.
 */
import { spawnSync } from "node:child_process"
import { type Consumer, Kafka, logLevel, Partitioners } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { encodeBatch } from "../../domain/message/RecordBatch.js"
import { groupSlot, kafkaNodeId } from "../../src/cluster/kafka/placement.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { adminApi } from "../support/adminApi.js"
import { KafkaWire } from "../support/KafkaWire.js"
import { useProcesses } from "../support/processes.js"
import { useRobustmqCli } from "../support/robustmqCli.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { waitFor } from "../support/waitFor.js"
import { etcdNodes, memberCount } from "../support/etcdNodes.js"

const hasKcat = spawnSync("kcat", ["-V"]).status === 0
const TOPIC = "orders"
const PARTITIONS = 6

interface Leaders {
  readonly brokers: ReadonlyArray<number>
  /** Partition -> leader id (-1: none). */
  readonly leaders: ReadonlyArray<number>
}

/** `kcat -L` against one node, parsed: its broker ids and the topic's partition leaders. */
const kcatList = async (spawn: ReturnType<typeof useProcesses>, port: number): Promise<Leaders & { readonly text: string }> => {
  const run = await spawn("kcat", ["-L", "-b", `127.0.0.1:${port}`, "-t", TOPIC, "-m", "5"]).exited
  const brokers = [...run.stdout.matchAll(/broker (\d+) at /g)].map((m) => Number(m[1]))
  const leaders: Array<number> = []
  for (const m of run.stdout.matchAll(/partition (\d+), leader (-?\d+)/g)) leaders[Number(m[1])] = Number(m[2])
  return { brokers, leaders, text: run.stdout }
}

const batch = (value: string): Buffer =>
  Buffer.from(encodeBatch(0, [{ key: null, value: Buffer.from(value), headers: [], timestamp: Date.now() }]))

describe.skipIf(!hasEtcd || !hasKcat)("Kafka across three nodes over a real etcd", () => {
  let etcd: EtcdServer
  const cluster = etcdNodes(() => etcd.endpoint, "robustmq")
  const { nodes, node } = cluster
  const startNode = cluster.start
  const members = memberCount
  const spawn = useProcesses()
  const cli = useRobustmqCli()
  const consumers: Array<Consumer> = []

  const byKafkaId = (kafkaId: number) => [...nodes.keys()].find((id) => kafkaNodeId(id) === kafkaId)!

  beforeAll(async () => {
    etcd = await startEtcd()
    for (const id of ["n1", "n2", "n3"]) await startNode(id)
    await waitFor("every node to see 3 members", async () => (await Promise.all([...nodes.values()].map(members))).every((n) => n === 3))
    // The control plane is cluster-wide: a topic made on n1 is every node's.
    const first = nodes.values().next().value!
    const made = await adminApi(`http://127.0.0.1:${first.httpPort}`).post("/api/v1/kafka/topics", { name: TOPIC, partitions: PARTITIONS })
    expect(made.status, JSON.stringify(made.body)).toBe(201)
    for (const n of nodes.values()) {
      await waitFor(`${TOPIC} on the node at ${n.httpPort}`, async () => (await fetch(`http://127.0.0.1:${n.httpPort}/api/v1/kafka/topics/${TOPIC}`)).ok)
    }
  }, 90_000)

  afterAll(async () => {
    // A kafkajs consumer whose coordinator moved can take long to leave: bounded, all at once.
    await Promise.all(consumers.map((c) => Promise.race([c.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 5000))])))
    await cluster.cleanup()
    await etcd?.stop()
  }, 60_000)

  it("kcat -L against any node lists the 3 brokers and partition leaders on all of them", async () => {
    const ids = ["n1", "n2", "n3"].map(kafkaNodeId).sort()
    for (const n of nodes.values()) {
      let listed: Awaited<ReturnType<typeof kcatList>> | undefined
      await waitFor(`kcat to see a leader for every partition on port ${n.kafkaPort}`, async () => {
        listed = await kcatList(spawn, n.kafkaPort)
        return listed.leaders.length === PARTITIONS && listed.leaders.every((l) => l >= 0)
      })
      expect([...listed!.brokers].sort(), listed!.text).toEqual(ids)
      // Spread evenly: 6 partitions, 2 on each node.
      for (const id of ids) expect(listed!.leaders.filter((l) => l === id).length, listed!.text).toBe(2)
    }
    // The cluster status says the same (its counts include the MQTT bridge topic's partition), and
    // the 64 group slots spread 22/21/21.
    const status = await fetch(`http://127.0.0.1:${node("n2").httpPort}/api/v1/cluster`).then((r) => r.json()) as {
      members: ReadonlyArray<{ id: string; kafkaNodeId: number; partitions: number; groupSlots: number }>
    }
    expect(status.members.map((m) => [m.id, m.kafkaNodeId])).toEqual(["n1", "n2", "n3"].map((id) => [id, kafkaNodeId(id)]))
    for (const m of status.members) expect(m.partitions).toBeGreaterThanOrEqual(2)
    expect(status.members.map((m) => m.groupSlots).sort()).toEqual([21, 21, 22])
    const run = await cli.run(["cluster", "status", "--url", `http://127.0.0.1:${node("n3").httpPort}`])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/KAFKA ID\s+PARTITIONS\s+GROUP SLOTS/)
    expect(run.stdout).toMatch(new RegExp(`^n1\\s.*\\s${kafkaNodeId("n1")}\\s+\\d+\\s+2[12]\\s`, "m"))
  })

  it("a Produce to a node that does not lead the partition gets NOT_LEADER_OR_FOLLOWER; its leader takes it", async () => {
    const { leaders } = await kcatList(spawn, node("n1").kafkaPort)
    const leader = byKafkaId(leaders[0]!)
    const other = [...nodes.keys()].find((id) => id !== leader)!
    const produce = (port: number) =>
      KafkaWire.connect(port).then(async (wire) => {
        const answer = await wire.request(ApiKey.Produce, 8, {
          transactionalId: null,
          acks: 1,
          timeoutMs: 5000,
          topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, records: batch("raw") }] }]
        })
        wire.socket.destroy()
        return answer.responses[0]!.partitions[0]!.errorCode
      })
    expect(await produce(node(other).kafkaPort)).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    expect(await produce(node(leader).kafkaPort)).toBe(ErrorCode.NONE)
  })

  it("a consumer group with members on different nodes gets every record exactly once, and goes on from its committed offsets when its coordinator is SIGKILLed", async () => {
    // A group whose slot goes to the 4th member once there is one (members are ordered by id).
    const group = Array.from({ length: 1000 }, (_, i) => `cluster-group-${i}`).find((g) => groupSlot(g) % 4 === 3)!
    const kafka = (id: string, bootstrap: string) =>
      new Kafka({ clientId: id, brokers: [`127.0.0.1:${node(bootstrap).kafkaPort}`], logLevel: process.env.KDEBUG ? logLevel.INFO : logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
    const received: Array<string> = []
    const assigned = new Map<string, number>()
    const startConsumer = async (id: string, bootstrap: string) => {
      const consumer = kafka(id, bootstrap).consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
      consumers.push(consumer)
      // Before run: run resolves only once the first join is through.
      consumer.on(consumer.events.GROUP_JOIN, (e) => void assigned.set(id, e.payload.memberAssignment[TOPIC]?.length ?? 0))
      await consumer.connect()
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
      await consumer.run({ autoCommitInterval: 200, eachMessage: async ({ message }) => void received.push(message.value!.toString()) })
      return consumer
    }
    // Two members, started from different nodes, both in the group before anything is sent.
    for (const [id, bootstrap] of [["c2", "n2"], ["c3", "n3"]] as const) await startConsumer(id, bootstrap)
    await waitFor("both consumers to share the partitions", () => {
      const counts = [...assigned.values()]
      return counts.length === 2 && counts.every((n) => n > 0) && counts[0]! + counts[1]! === PARTITIONS
    }, 30_000)

    const producer = kafka("p1", "n1").producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    const first = Array.from({ length: 600 }, (_, i) => `first-${i}`)
    await producer.send({ topic: TOPIC, acks: -1, messages: first.map((value, i) => ({ key: `k${i}`, value })) })
    await waitFor("the 600 records", () => received.filter((v) => v.startsWith("first-")).length >= 600, 30_000)
    expect(new Set(received.filter((v) => v.startsWith("first-")))).toEqual(new Set(first))
    expect(received.filter((v) => v.startsWith("first-")).length).toBe(600)

    // Wait until the group's offsets cover everything read (auto commit every 200 ms).
    const admin = kafka("admin", "n1").admin()
    await admin.connect()
    const ends = await admin.fetchTopicOffsets(TOPIC)
    const target = ends.reduce((sum, p) => sum + Number(p.high), 0)
    await waitFor("the group to commit every offset", async () => {
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [TOPIC] })
      return committed!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) === target
    }, 15_000)
    await admin.disconnect()

    // n4 joins: it leads no partition of the topic (they were all claimed before), and the
    // group's slot (chosen for this) is preferred on n4 now, so its coordinator hands it over.
    const coordinatorAt = async (asked: string) => {
      const wire = await KafkaWire.connect(node(asked).kafkaPort)
      const answer = await wire.request(ApiKey.FindCoordinator, 1, { key: group, keyType: 0 })
      wire.socket.destroy()
      return answer.errorCode === ErrorCode.NONE ? byKafkaId(answer.nodeId) : undefined
    }
    const joinedAt = Date.now()
    await startNode("n4")
    await waitFor("n4 to coordinate the group", async () => (await coordinatorAt("n1")) === "n4", 15_000)
    console.log(`kafka cluster: n4 joined; the group's slot was handed to it ${Date.now() - joinedAt} ms after its process started`)
    expect((await kcatList(spawn, node("n1").kafkaPort)).leaders.every((l) => byKafkaId(l) !== "n4")).toBe(true)

    // SIGKILL the coordinator; time until a live node answers FindCoordinator for the group.
    const before = received.length
    assigned.clear()
    const killedAt = Date.now()
    node("n4").child.kill("SIGKILL")
    let movedTo: string | undefined
    await waitFor("the group's coordinator to move to a live node", async () => {
      movedTo = await coordinatorAt("n1")
      return movedTo !== undefined && movedTo !== "n4"
    }, 15_000)
    const movedMs = Date.now() - killedAt
    console.log(`kafka cluster: coordinator n4 SIGKILLed; ${movedTo} coordinates the group after ${movedMs} ms (lease_ttl 2 s)`)
    expect(movedMs).toBeLessThan(10_000)
    // The members rejoin at the new coordinator (it starts the group afresh, with its offsets
    // from etcd). Records sent during a rebalance may be read twice by any Kafka consumer
    // (at least once), so the next ones go out once both members are back.
    await waitFor("both consumers to rejoin at the new coordinator", () => {
      const counts = [...assigned.values()]
      return counts.length === 2 && counts.every((n) => n > 0) && counts[0]! + counts[1]! === PARTITIONS
    }, 30_000)
    console.log(`kafka cluster: both members back in the group ${Date.now() - killedAt} ms after the SIGKILL`)

    // New records: read once each, and nothing committed before the kill comes again.
    const second = Array.from({ length: 300 }, (_, i) => `second-${i}`)
    await producer.send({ topic: TOPIC, acks: -1, messages: second.map((value, i) => ({ key: `s${i}`, value })) })
    await waitFor("the 300 new records after the coordinator moved", () => received.filter((v) => v.startsWith("second-")).length >= 300, 40_000)
    await new Promise((r) => setTimeout(r, 1000))
    const after = received.slice(before)
    expect(after.filter((v) => v.startsWith("first-")), "records committed before the kill came again").toEqual([])
    expect(new Set(after)).toEqual(new Set(second))
    expect(after.length).toBe(300)
    await producer.disconnect()
  }, 150_000)

  it("a SIGKILLed leader's partitions answer LEADER_NOT_AVAILABLE until it comes back with its data", async () => {
    const { leaders } = await kcatList(spawn, node("n1").kafkaPort)
    const partition = leaders.findIndex((l) => byKafkaId(l) === "n3")
    expect(partition).toBeGreaterThanOrEqual(0)
    const latest = async (id: string) => {
      const wire = await KafkaWire.connect(node(id).kafkaPort)
      const answer = await wire.request(ApiKey.ListOffsets, 4, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1 }] }]
      })
      wire.socket.destroy()
      return answer.topics[0]!.partitions[0]!
    }
    const stored = (await latest("n3")).offset
    expect(stored).toBeGreaterThan(0)
    node("n3").child.kill("SIGKILL")
    await waitFor("n1 to report n3's partitions without a leader", async () => (await kcatList(spawn, node("n1").kafkaPort)).leaders[partition] === -1, 15_000)
    // Not moved to a node without the data: asked anywhere, nobody leads it.
    const wire = await KafkaWire.connect(node("n1").kafkaPort)
    const produced = await wire.request(ApiKey.Produce, 8, {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5000,
      topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, records: batch("while n3 is down") }] }]
    })
    wire.socket.destroy()
    expect(produced.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.LEADER_NOT_AVAILABLE)
    expect((await latest("n2")).errorCode).toBe(ErrorCode.LEADER_NOT_AVAILABLE)
    // Back with its data dir: it leads the partition again, with every record it had.
    await startNode("n3")
    await waitFor("n3 to lead its partition again", async () => byKafkaId((await kcatList(spawn, node("n1").kafkaPort)).leaders[partition]!) === "n3", 20_000)
    expect(await latest("n3")).toMatchObject({ errorCode: ErrorCode.NONE, offset: stored })
  }, 60_000)

  it("a coordinator stopped with SIGTERM leaves at once: its groups are coordinated elsewhere well within a lease", async () => {
    const group = "sigterm-group"
    const coordinatorAt = async (asked: string) => {
      const wire = await KafkaWire.connect(node(asked).kafkaPort)
      const answer = await wire.request(ApiKey.FindCoordinator, 1, { key: group, keyType: 0 })
      wire.socket.destroy()
      return answer.errorCode === ErrorCode.NONE ? byKafkaId(answer.nodeId) : undefined
    }
    let victim: string | undefined
    await waitFor("a coordinator for the group", async () => (victim = await coordinatorAt("n2")) !== undefined)
    const asked = ["n1", "n2", "n3"].find((id) => id !== victim)!
    const stopped = node(victim!).stop(5000)
    const stoppedAt = Date.now()
    await waitFor("another node to coordinate the group", async () => {
      const now = await coordinatorAt(asked).catch(() => undefined)
      return now !== undefined && now !== victim
    }, 10_000)
    const movedMs = Date.now() - stoppedAt
    console.log(`kafka cluster: coordinator ${victim} stopped with SIGTERM; the group moved after ${movedMs} ms`)
    expect(movedMs).toBeLessThan(2000)
    await stopped
  }, 30_000)
})
