/**
 * Kafka group slots and partition leaders between in-process nodes over one memory
 * Coordination: the slots split between the members, a node answers NOT_COORDINATOR for a
 * group whose slot another node serves, and when that node stops, the other takes the slot
 * with the offsets committed there (they were in the coordination service, not in the stopped
 * node's storage). Over a real etcd with separate processes: kafka-cluster.test.ts.
 */
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import type { KafkaCluster } from "../../src/cluster/kafka/KafkaCluster.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"
import { waitFor } from "../support/waitFor.js"

const commit = (cluster: KafkaCluster, groupId: string, offset: number) =>
  Effect.runPromise(cluster.groups.commitOffsets({
    groupId,
    generationId: -1,
    memberId: "",
    groupInstanceId: null,
    topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }] }]
  }))

const committed = async (cluster: KafkaCluster, groupId: string) => {
  const reply = await Effect.runPromise(cluster.groups.fetchOffsets({ groupId, topics: [{ name: "t", partitionIndexes: [0] }] }))
  return { errorCode: reply.errorCode, offset: reply.topics[0]!.partitions[0]!.committedOffset }
}

describe("Kafka group slots (memory coordination)", () => {
  const brokers: Array<TestBroker> = []
  afterEach(async () => {
    for (const b of brokers.splice(0)) {
      await b.stop()
      b.cleanup()
    }
  })

  it("a group's offsets follow its slot to the node that takes it over", async () => {
    const { service } = await Effect.runPromise(MemoryCoordination.make)
    const n1 = await startBroker({ coordination: service, cluster: { nodeId: "n1" } })
    const n2 = await startBroker({ coordination: service, cluster: { nodeId: "n2" } })
    brokers.push(n2)
    const c1 = n1.kafka!.context.cluster!
    const c2 = n2.kafka!.context.cluster!
    await waitFor("the 64 slots served 32/32", () => c1.slots.servedCount() === 32 && c2.slots.servedCount() === 32)
    const group = Array.from({ length: 100 }, (_, i) => `g${i}`).find((g) => c2.coordinatorOf(g)?.id === "n1")!
    expect(c1.coordinatorOf(group)?.id).toBe("n1")

    expect((await commit(c1, group, 42)).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NONE)
    expect((await commit(c2, group, 7)).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NOT_COORDINATOR)
    expect((await committed(c2, group)).errorCode).toBe(ErrorCode.NOT_COORDINATOR)
    expect(await committed(c1, group)).toEqual({ errorCode: ErrorCode.NONE, offset: 42 })

    await n1.stop()
    n1.cleanup()
    await waitFor("n2 to serve every slot", () => c2.slots.servedCount() === 64)
    expect(c2.coordinatorOf(group)?.id).toBe("n2")
    expect(await committed(c2, group)).toEqual({ errorCode: ErrorCode.NONE, offset: 42 })
  })

  it("each partition gets one leader among the members; the other node answers NOT_LEADER_OR_FOLLOWER", async () => {
    const { service } = await Effect.runPromise(MemoryCoordination.make)
    const n1 = await startBroker({ coordination: service, cluster: { nodeId: "n1" } })
    const n2 = await startBroker({ coordination: service, cluster: { nodeId: "n2" } })
    brokers.push(n1, n2)
    await waitFor("both members", () => n1.node.members().length === 2 && n2.node.members().length === 2)
    for (const b of [n1, n2]) {
      await Effect.runPromise(b.kafka!.context.topics.execute({ _tag: "CreateTopic", name: "t", partitions: 4, replicationFactor: 1, config: {} }))
    }
    const c1 = n1.kafka!.context.cluster!
    const c2 = n2.kafka!.context.cluster!
    await waitFor("a leader for every partition on both nodes", () =>
      [0, 1, 2, 3].every((p) => c1.leaders.leaderOf("t", p) !== undefined && c2.leaders.leaderOf("t", p) !== undefined))
    for (let p = 0; p < 4; p++) {
      expect(c1.leaders.leaderOf("t", p)).toEqual(c2.leaders.leaderOf("t", p))
      expect([c1.leaders.unsafeCheck("t", p), c2.leaders.unsafeCheck("t", p)].sort()).toEqual([ErrorCode.NONE, ErrorCode.NOT_LEADER_OR_FOLLOWER])
    }
    const owners = [0, 1, 2, 3].map((p) => c1.leaders.leaderOf("t", p)!.owner)
    expect(owners.filter((o) => o === "n1").length).toBe(2)
  })
})
