/**
 * Consumer groups with real kafkajs members: rebalances when a member joins and when one
 * leaves (every generation's assignments cover each partition exactly once), and offsets
 * committed after every batch carry a bounded stream across those rebalances with nothing lost
 * and nothing read twice.
 *
 * Why no duplicates is the exact expectation here: kafkajs commits the offsets it has processed
 * after each batch and before it rejoins (a heartbeat answered REBALANCE_IN_PROGRESS commits
 * first), the coordinator accepts commits while the group is PreparingRebalance, and a new
 * generation completes only once every member has rejoined, so a partition's next owner always
 * starts from what the previous owner committed. A graceful leave (consumer.stop) commits the
 * batch in hand before LeaveGroup. Only a member that dies without leaving makes the next owner
 * re-read its uncommitted tail (at-least-once): the second test kills one (a kafkajs consumer in
 * a child process, SIGKILL), and checks that the session timeout hands its partitions over and
 * that what is read twice is exactly a tail of what the dead member had read.
 */
import type { Consumer } from "kafkajs"
import { describe, expect, it } from "vitest"
import type { TestBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"
import { kafkaClient, useKafkaClients, waitFor, withTimeout } from "../support/kafka.js"

const TOPIC = "rebalanced"
const CRASH_TOPIC = "crashed"
const PARTITIONS = 4

/** One GROUP_JOIN: a member's assignment in the generation the coordinator was at then. */
interface Join {
  readonly member: string
  readonly memberId: string
  readonly generation: number
  /** How many members that generation has. */
  readonly members: number
  readonly partitions: ReadonlyArray<number>
}

/**
 * Records every GROUP_JOIN of `consumer`. kafkajs does not report the generation, so it is
 * read from the coordinator's read model: a member cannot take part in a newer generation
 * before its own join of this one has been reported, so the value is the one it synced.
 */
const recordJoins = (b: TestBroker, groupId: string, topic: string, name: string, consumer: Consumer, joins: Array<Join>) =>
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const group = b.kafka!.context.groups.unsafeGroup(groupId)!
    joins.push({
      member: name,
      memberId: e.payload.memberId,
      generation: group.generationId,
      members: group.members.size,
      partitions: [...(e.payload.memberAssignment[topic] ?? [])].sort((x, y) => x - y)
    })
  })

/** Joins grouped by generation, in generation order. */
const byGeneration = (joins: ReadonlyArray<Join>): Array<[number, Array<Join>]> => {
  const generations = new Map<number, Array<Join>>()
  for (const j of joins) {
    const list = generations.get(j.generation) ?? []
    list.push(j)
    generations.set(j.generation, list)
  }
  return [...generations.entries()].sort((x, y) => x[0] - y[0])
}

/** The generation that holds exactly `names`, with every one of them reported. */
const completeGeneration = (joins: ReadonlyArray<Join>, names: ReadonlyArray<string>): Array<Join> | undefined => {
  for (const [, list] of byGeneration(joins).reverse()) {
    const members = list.map((j) => j.member).sort()
    if (list[0]!.members === names.length && members.join() === [...names].sort().join()) return list
  }
  return undefined
}

describe("kafkajs consumer groups", () => {
  const { broker } = useBrokers()
  const clients = useKafkaClients()

  it("rebalances as members join and leave; committed offsets carry every record across exactly once", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] })
    const groupId = "g-rebalance"
    const joins: Array<Join> = []
    const consumed: Array<{ member: string; partition: number; offset: number; value: string }> = []

    const startMember = async (name: string) => {
      const consumer = await clients.consumer(kafka, { groupId })
      recordJoins(b, groupId, TOPIC, name, consumer, joins)
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          consumed.push({ member: name, partition, offset: Number(message.offset), value: message.value!.toString() })
        }
      })
      return consumer
    }

    // A bounded stream: 40 sends of 10 records, one every ~50 ms, spread over every partition.
    // The last 10 sends wait until a starts leaving, so the stream runs through both rebalances.
    const TOTAL = 400
    const producer = await clients.producer(kafka)
    let produced = 0
    let aLeaving = () => {}
    const aLeaves = new Promise<void>((resolve) => (aLeaving = resolve))
    const producing = (async () => {
      for (let s = 0; s < TOTAL / 10; s++) {
        if (s === 30) await aLeaves
        const messages = Array.from({ length: 10 }, (_, i) => ({ partition: (s + i) % PARTITIONS, value: String(s * 10 + i) }))
        await producer.send({ topic: TOPIC, acks: -1, messages })
        produced += messages.length
        await new Promise((r) => setTimeout(r, 50))
      }
    })()

    const a = await startMember("a")
    await waitFor(() => completeGeneration(joins, ["a"]) !== undefined, 10_000, () => `a's first generation, joins ${JSON.stringify(joins)}`)
    await waitFor(() => consumed.length >= 60, 10_000, () => `60 records consumed by a, got ${consumed.length}`)

    await startMember("b")
    await waitFor(() => completeGeneration(joins, ["a", "b"]) !== undefined, 10_000, () => `a generation of a and b, joins ${JSON.stringify(joins)}`)
    const withB = consumed.length
    await waitFor(() => consumed.length >= withB + 60 && consumed.some((c, i) => i >= withB && c.member === "b"), 10_000, () => `b consuming`)

    expect(produced).toBeLessThan(TOTAL)
    aLeaving()
    await withTimeout(a.stop(), 5_000, "a.stop")
    const aStopped = consumed.length
    await waitFor(() => completeGeneration(joins, ["b"]) !== undefined, 10_000, () => `a generation of b alone, joins ${JSON.stringify(joins)}`)
    await withTimeout(producing, 15_000, "the producer")
    expect(produced).toBe(TOTAL)
    await waitFor(() => new Set(consumed.map((c) => c.value)).size >= TOTAL, 15_000, () => `${TOTAL} distinct records, got ${new Set(consumed.map((c) => c.value)).size}`)
    // Everything is committed once b has caught up; a duplicate would have shown up by then.
    await waitFor(async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [TOPIC] })
      return offsets!.partitions.reduce((sum, p) => sum + Number(p.offset), 0) === TOTAL
    }, 10_000, () => "b's commits to reach the end of every partition")

    // Nothing lost, nothing twice.
    const values = consumed.map((c) => Number(c.value)).sort((x, y) => x - y)
    expect(values).toEqual(Array.from({ length: TOTAL }, (_, i) => i))
    // Per partition, offsets arrive in order with no gap across owners.
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = consumed.filter((c) => c.partition === p).map((c) => c.offset)
      expect(offsets).toEqual(Array.from({ length: TOTAL / PARTITIONS }, (_, i) => i))
    }
    expect(consumed.slice(aStopped).every((c) => c.member === "b")).toBe(true)

    // Every generation: no partition assigned twice; a fully reported one covers them all.
    for (const [generation, list] of byGeneration(joins)) {
      const all = list.flatMap((j) => j.partitions)
      expect(new Set(all).size, `generation ${generation}: ${JSON.stringify(list)}`).toBe(all.length)
      if (list.length === list[0]!.members) expect(all.sort(), `generation ${generation}`).toEqual([0, 1, 2, 3])
    }
    const phases = [["a"], ["a", "b"]].map((names) => completeGeneration(joins, names)!)
    expect(phases[1]!.map((j) => j.partitions.length)).toEqual([2, 2])
    expect(completeGeneration(joins, ["b"])![0]!.partitions).toEqual([0, 1, 2, 3])
    expect(phases[0]![0]!.generation).toBeLessThan(phases[1]![0]!.generation)
  })

  it("a member killed without leaving loses its partitions after its session timeout; only its uncommitted tail is read again", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: CRASH_TOPIC, numPartitions: PARTITIONS }] })
    const groupId = "g-crash"
    const joins: Array<Join> = []
    const survivor: Array<{ partition: number; offset: number; value: string }> = []
    const a = await clients.consumer(kafka, { groupId })
    recordJoins(b, groupId, CRASH_TOPIC, "a", a, joins)
    await a.subscribe({ topic: CRASH_TOPIC, fromBeginning: true })
    await a.run({
      eachMessage: async ({ partition, message }) =>
        void survivor.push({ partition, offset: Number(message.offset), value: message.value!.toString() })
    })
    await waitFor(() => joins.length > 0, 10_000, () => "a's first join")
    // The child spends 25 ms on each record: killed 10 records into a batch of 40, it has
    // committed nothing of that batch.
    const child = clients.childConsumer(b.kafkaPort, groupId, CRASH_TOPIC, 25)
    await waitFor(() => completeGeneration(joins, ["a"]) !== undefined && joins.some((j) => j.members === 2) && child.joins.length > 0, 15_000, () =>
      `a generation of a and the child, a's joins ${JSON.stringify(joins)}, the child's ${JSON.stringify(child.joins)}`)

    // Half the stream at once (40 records per partition), the rest while the member dies.
    const TOTAL = 320
    const producer = await clients.producer(kafka)
    const send = (from: number, count: number) =>
      producer.send({
        topic: CRASH_TOPIC,
        acks: -1,
        messages: Array.from({ length: count }, (_, i) => ({ partition: (from + i) % PARTITIONS, value: String(from + i) }))
      })
    await send(0, TOTAL / 2)
    await waitFor(() => child.consumed.length >= 10, 10_000, () => `the child consuming, got ${child.consumed.length}`)
    await child.kill()
    const killedAt = Date.now()
    const childPartitions = child.joins.at(-1)!.partitions
    expect(childPartitions).toHaveLength(PARTITIONS / 2)
    const producing = (async () => {
      for (let from = TOTAL / 2; from < TOTAL; from += 8) {
        await send(from, 8)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()

    const joinsBefore = joins.length
    await waitFor(() => joins.slice(joinsBefore).some((j) => j.partitions.length === PARTITIONS), 15_000, () => `a taking every partition, joins ${JSON.stringify(joins)}`)
    const takeoverMs = Date.now() - killedAt
    // The coordinator waits out the 6 s session (less the time since the last heartbeat).
    expect(takeoverMs).toBeGreaterThan(4_500)
    expect(takeoverMs).toBeLessThan(9_000)
    await withTimeout(producing, 15_000, "the producer")
    const distinct = () => new Set([...survivor, ...child.consumed].map((c) => c.value)).size
    await waitFor(() => distinct() === TOTAL, 15_000, () => `${TOTAL} distinct records, got ${distinct()}`)

    // Nothing lost; the survivor itself read nothing twice.
    let readTwice = 0
    expect(survivor.length).toBe(new Set(survivor.map((c) => c.value)).size)
    for (let p = 0; p < PARTITIONS; p++) {
      const mine = survivor.filter((c) => c.partition === p).map((c) => c.offset)
      const dead = child.consumed.filter((c) => c.partition === p).map((c) => c.offset)
      expect([...new Set([...mine, ...dead])].sort((x, y) => x - y)).toEqual(Array.from({ length: TOTAL / PARTITIONS }, (_, i) => i))
      // Read twice: only on the dead member's partitions, and only a tail of what it had read
      // (from its last commit to its last record), never anything earlier.
      const twice = dead.filter((o) => mine.includes(o)).sort((x, y) => x - y)
      if (!childPartitions.includes(p)) expect(twice, `partition ${p}`).toEqual([])
      else if (twice.length > 0) {
        expect(twice, `partition ${p}`).toEqual(Array.from({ length: twice.length }, (_, i) => twice[0]! + i))
        expect(twice.at(-1), `partition ${p}`).toBe(Math.max(...dead))
      }
      readTwice += twice.length
    }
    // The child was killed inside an uncommitted batch: its records were read again.
    expect(readTwice).toBeGreaterThan(0)
    expect(readTwice).toBeLessThanOrEqual(child.consumed.length)
  })

  it("a running group takes up partitions added by createPartitions (the leader rebalances)", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const admin = await clients.admin(kafka)
    await admin.createTopics({ topics: [{ topic: "grown", numPartitions: 2 }] })
    const groupId = "g-grown"
    const joins: Array<Join> = []
    const got: Array<[number, string]> = []
    // Metadata is refreshed every 300 ms, so the members notice the new partitions soon.
    await Promise.all(["a", "b"].map(async (name) => {
      const c = await clients.consumer(kafka, { groupId, metadataMaxAge: 300 })
      recordJoins(b, groupId, "grown", name, c, joins)
      await c.subscribe({ topic: "grown", fromBeginning: true })
      await c.run({ eachMessage: async ({ partition, message }) => void got.push([partition, message.value!.toString()]) })
    }))
    await waitFor(() => completeGeneration(joins, ["a", "b"]) !== undefined, 10_000, () => `a generation of both, joins ${JSON.stringify(joins)}`)

    await admin.createPartitions({ topicPartitions: [{ topic: "grown", count: 4 }] })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "grown", messages: [0, 1, 2, 3].map((partition) => ({ partition, value: `p${partition}` })) })
    await waitFor(() => got.length === 4, 10_000, () => `a record from every partition, got ${JSON.stringify(got)}, joins ${JSON.stringify(joins)}`)
    expect(got.map(([p]) => p).sort()).toEqual([0, 1, 2, 3])
    const last = completeGeneration(joins, ["a", "b"])!
    expect(last.flatMap((j) => j.partitions).sort()).toEqual([0, 1, 2, 3])
  })

  it("refuses a session timeout below the coordinator's minimum (6 s) with INVALID_SESSION_TIMEOUT", async () => {
    const b = await broker()
    const kafka = kafkaClient(b.kafkaPort)
    const consumer = await clients.consumer(kafka, { groupId: "g-hasty", sessionTimeout: 1_000, heartbeatInterval: 100 })
    let crash: { type?: string } | undefined
    consumer.on(consumer.events.CRASH, (e) => void (crash = e.payload.error as { type?: string }))
    await consumer.subscribe({ topic: "hasty" })
    await consumer.run({ eachMessage: async () => {} })
    await waitFor(() => crash !== undefined, 10_000, () => "the consumer's crash")
    expect(crash!.type).toBe("INVALID_SESSION_TIMEOUT")
    expect(b.kafka!.context.groups.unsafeGroup("g-hasty")?.members.size ?? 0).toBe(0)
  })
})
