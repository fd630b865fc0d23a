/**
 * Real etcd (Debian etcd-server) on free loopback ports, in temp dirs, for one test file: one
 * member (`startEtcd`), or a cluster of n (`startEtcdCluster`) whose members a test can kill and
 * restart. Heartbeat 50 ms, election timeout 500 ms: a leader's death costs ~0.5-1 s, not 1-2.5.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../support/freePort.js"

export const hasEtcd = spawnSync("etcd", ["--version"]).status === 0

export interface EtcdServer {
  readonly endpoint: string
  stop(): Promise<void>
}

export interface EtcdCluster {
  /** Client URLs, one per member, in member order. */
  readonly endpoints: ReadonlyArray<string>
  /** The index of the member that leads now (asked of the live members; waits up to `waitMs` for one). */
  leader(waitMs?: number): Promise<number>
  /** SIGKILL member i; resolves once it has exited. */
  kill(i: number): Promise<void>
  /** Starts member i again on its data dir; resolves once it answers /health. */
  restart(i: number): Promise<void>
  /** Whether member i's process runs. */
  running(i: number): boolean
  /** Stops every member and removes the data. */
  stop(): Promise<void>
}

interface Member {
  readonly name: string
  readonly client: string
  readonly peer: string
  readonly dataDir: string
  child: ChildProcess | null
  log: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const launch = (m: Member, initialCluster: string, token: string): void => {
  const child = spawn("etcd", [
    "--name", m.name, "--data-dir", m.dataDir,
    "--listen-client-urls", m.client, "--advertise-client-urls", m.client,
    "--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
    "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", token,
    "--heartbeat-interval", "50", "--election-timeout", "500"
  ], { stdio: ["ignore", "ignore", "pipe"] })
  m.child = child
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (m.log = (m.log + d).slice(-20_000)))
}

const healthy = (m: Member): Promise<boolean> =>
  fetch(`${m.client}/health`, { signal: AbortSignal.timeout(1000) })
    .then(async (r) => r.ok && ((await r.json()) as { health?: string }).health === "true")
    .catch(() => false)

const waitHealthy = async (members: ReadonlyArray<Member>): Promise<void> => {
  const deadline = Date.now() + 20_000
  for (;;) {
    const ok = await Promise.all(members.map(healthy))
    if (ok.every(Boolean)) return
    const dead = members.find((m) => m.child?.exitCode !== null)
    if (Date.now() > deadline || dead !== undefined) {
      for (const m of members) m.child?.kill("SIGKILL")
      const m = dead ?? members[ok.indexOf(false)]!
      throw new Error(`etcd member ${m.name} did not start on ${m.client}: ${m.log.slice(-2000)}`)
    }
    await sleep(100)
  }
}

const stopMember = async (m: Member, signal: NodeJS.Signals): Promise<void> => {
  const child = m.child
  m.child = null
  if (child === null || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once("exit", r))
  child.kill(signal)
  await exited
}

const makeMembers = async (n: number, dir: string): Promise<Array<Member>> => {
  const members: Array<Member> = []
  for (let i = 0; i < n; i++) {
    members.push({
      name: `m${i}`,
      client: `http://127.0.0.1:${await freePort()}`,
      peer: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(dir, `m${i}`),
      child: null,
      log: ""
    })
  }
  return members
}

export const startEtcd = async (): Promise<EtcdServer> => {
  const cluster = await startEtcdCluster(1)
  return { endpoint: cluster.endpoints[0]!, stop: cluster.stop }
}

/** n members on loopback; resolves once every member answers /health (a leader is elected). */
export const startEtcdCluster = async (n: number): Promise<EtcdCluster> => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-etcd-"))
  const members = await makeMembers(n, dir)
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",")
  for (const m of members) launch(m, initialCluster, dir)
  try {
    await waitHealthy(members)
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  const running = (i: number) => {
    const c = members[i]!.child
    return c !== null && c.exitCode === null && c.signalCode === null
  }
  return {
    endpoints: members.map((m) => m.client),
    running,
    leader: async (waitMs = 5000) => {
      const deadline = Date.now() + waitMs
      for (;;) {
        for (const [i, m] of members.entries()) {
          if (!running(i)) continue
          // The gRPC gateway's maintenance status: this member's id, and the leader it follows (0: none).
          const status = await fetch(`${m.client}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(1000) })
            .then((r) => r.json() as Promise<{ header?: { member_id?: string }; leader?: string }>)
            .catch(() => null)
          if (status?.leader === undefined || status.leader === "0") continue
          if (status.header?.member_id === status.leader) return i
        }
        if (Date.now() > deadline) throw new Error(`no etcd leader among the live members after ${waitMs} ms`)
        await sleep(20)
      }
    },
    kill: (i) => stopMember(members[i]!, "SIGKILL"),
    restart: async (i) => {
      const m = members[i]!
      if (running(i)) throw new Error(`etcd member ${m.name} is running: kill it first`)
      launch(m, initialCluster, dir) // an existing data dir: the initial-cluster flags are ignored
      await waitHealthy([m])
    },
    stop: async () => {
      for (const m of members) await stopMember(m, "SIGTERM")
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
