/** Brokers in this process over one memory Coordination: a cluster without etcd or processes, for fast cluster tests. */
import { Effect } from "effect"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { waitUntil } from "./clients.js"
import { startBroker, type TestBroker, type TestBrokerOptions } from "./TestBroker.js"

/** Starts one broker per id, in order; resolves once every one of them sees all of them. */
export const startMemoryCluster = async (ids: ReadonlyArray<string>, options: TestBrokerOptions = {}): Promise<Array<TestBroker>> => {
  const { service } = await Effect.runPromise(MemoryCoordination.make)
  const nodes: Array<TestBroker> = []
  for (const id of ids) nodes.push(await startBroker({ ...options, coordination: service, cluster: { ...options.cluster, nodeId: id } }))
  await waitUntil(() => nodes.every((n) => n.node.members().length === ids.length), 5000, () => `${ids.length} members on every node`)
  return nodes
}
