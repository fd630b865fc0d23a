/**
 * `robustmq start --workers N`: who this process is (the primary, a worker, or neither) and the
 * configuration a worker runs with. Workers share the MQTT ports (node:cluster hands each
 * connection to one of them); every other port is per worker (base + index), since a Kafka
 * client, a Prometheus target or another node must reach one particular worker.
 */
import cluster from "node:cluster"
import { availableParallelism, hostname } from "node:os"
import { dirname, join } from "node:path"
import type { BrokerConfigShape } from "../../../config/BrokerConfigShape.js"

const INDEX_ENV = "ROBUSTMQ_WORKER_INDEX"

/** This process's worker index, or null when it is not a worker. */
export const workerIndex = (): number | null => {
  const raw = process.env[INDEX_ENV]
  return cluster.isWorker && raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : null
}

export const workerEnv = (index: number): Record<string, string> => ({ [INDEX_ENV]: String(index) })

/** How many workers `cluster.workers` asks for ("auto": one per core). */
export const workerCount = (workers: number | "auto"): number => (workers === "auto" ? availableParallelism() : workers)

const workerDataDir = (root: string, index: number): string => join(root, `worker-${index}`)
const WORKER_ID = /^(.+)-w(\d+)$/

/**
 * The data directory of worker `home` (a node id `<base>-w<i>`) when it is a sibling of worker
 * `self` (same machine, same base id), found next to `selfDataDir`; null for any other node.
 */
export const siblingDataDir = (self: string, selfDataDir: string, home: string): string | null => {
  const a = WORKER_ID.exec(self)
  const b = WORKER_ID.exec(home)
  if (a === null || b === null || a[1] !== b[1] || a[2] === b[2]) return null
  return workerDataDir(dirname(selfDataDir), Number(b[2]))
}

const offset = (port: number, index: number) => (port > 0 ? port + index : port)

/** The configuration worker `index` runs with. */
export const workerConfig = (config: BrokerConfigShape, index: number): BrokerConfigShape => {
  const overEtcd = config.cluster.etcdEndpoints.length > 0
  return {
    ...config,
    // Its own files: SQLite and segment files are one writer's each.
    storage: { ...config.storage, dataDir: workerDataDir(config.storage.dataDir, index) },
    kafka: { ...config.kafka, port: offset(config.kafka.port, index), tlsPort: offset(config.kafka.tlsPort, index) },
    http: { ...config.http, port: offset(config.http.port, index) },
    cluster: {
      // cluster.secret and the cluster.tls_* files as they are: every worker's link uses them.
      ...config.cluster,
      nodeId: `${config.cluster.nodeId === "" ? hostname() : config.cluster.nodeId}-w${index}`,
      // Without etcd the workers only link to each other, on this machine.
      advertiseHost: overEtcd ? config.cluster.advertiseHost : "127.0.0.1",
      port: overEtcd ? offset(config.cluster.port, index) : 0,
      workers: 1
    }
  }
}
