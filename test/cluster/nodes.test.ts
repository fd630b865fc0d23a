/**
 * Nodes joining a cluster: in-process brokers over one memory Coordination see each other with
 * their bound ports, and a node that stops leaves at once. The same over a real etcd is in
 * test/cluster/cluster-etcd.test.ts (separate processes, the CLI flags).
 */
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"
import { waitFor } from "../support/waitFor.js"

describe("cluster nodes (memory coordination)", () => {
  const brokers: Array<TestBroker> = []
  afterEach(async () => {
    for (const b of brokers.splice(0)) {
      await b.stop()
      b.cleanup()
    }
  })

  it("a single node without [cluster] is a cluster of one that coordinates nothing", async () => {
    const b = await startBroker()
    brokers.push(b)
    expect(b.node.enabled).toBe(false)
    expect(b.node.members().map((m) => m.id)).toEqual([b.node.id])
    expect(b.node.coordination).toBeNull()
  })

  it("nodes see each other with their bound ports, and a stopped node leaves", async () => {
    const { service } = await Effect.runPromise(MemoryCoordination.make)
    const n1 = await startBroker({ coordination: service, cluster: { nodeId: "n1" } })
    const n2 = await startBroker({ coordination: service, cluster: { nodeId: "n2" } })
    brokers.push(n1, n2)
    await waitFor("both members on both nodes", () => n1.node.members().length === 2 && n2.node.members().length === 2)
    const seen = n1.node.member("n2")!
    expect(seen).toMatchObject({ id: "n2", host: "127.0.0.1", mqttPort: n2.port, kafkaPort: n2.kafkaPort, pid: process.pid })
    expect(n2.node.self().mqttPort).toBe(n2.port)
    expect(n1.node.members().map((m) => m.id)).toEqual(["n1", "n2"])
    await n2.stop()
    await waitFor("n2 gone from n1's view", () => n1.node.members().length === 1)
    expect(n1.node.members().map((m) => m.id)).toEqual(["n1"])
  })
})
