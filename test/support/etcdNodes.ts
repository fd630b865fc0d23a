/**
 * Broker processes (`robustmq start --cluster-etcd`) on one etcd, started by id: each id keeps
 * its data directory across restarts (start it again after a kill: it comes back on its data),
 * all removed by `cleanup`. The cluster tests' way to run nodes as operators do.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BrokerProcess, startBrokerProcess } from "./startBrokerProcess.js"

export interface EtcdNodes {
  readonly nodes: Map<string, BrokerProcess>
  /** Starts node `id` (again, on the same data directory, if it ran before). */
  readonly start: (id: string) => Promise<BrokerProcess>
  readonly node: (id: string) => BrokerProcess
  /** Stops every node still running and removes every data directory. */
  readonly cleanup: () => Promise<void>
}

export const etcdNodes = (endpoint: () => string, prefix: string, env: Record<string, string> = { ROBUSTMQ_CLUSTER_LEASE_TTL: "2" }): EtcdNodes => {
  const nodes = new Map<string, BrokerProcess>()
  const dirs = new Map<string, string>()
  const start = async (id: string) => {
    const dir = dirs.get(id) ?? mkdtempSync(join(tmpdir(), `${prefix}-${id}-`))
    dirs.set(id, dir)
    const node = await startBrokerProcess(dir, {
      args: ["--cluster-etcd", endpoint(), "--node-id", id, "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
      env
    })
    nodes.set(id, node)
    return node
  }
  const cleanup = async () => {
    await Promise.all([...nodes.values()].map((n) => n.stop(3000)))
    for (const d of dirs.values()) rmSync(d, { recursive: true, force: true })
  }
  return { nodes, start, node: (id) => nodes.get(id)!, cleanup }
}

/** How many members `node`'s admin API lists (0 while it does not answer: 503 while starting). */
export const memberCount = async (node: BrokerProcess): Promise<number> => {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/cluster`).catch(() => null)
  if (res === null || !res.ok) return 0
  return ((await res.json()) as { members: Array<unknown> }).members.length
}
