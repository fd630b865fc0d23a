/** A real single-member etcd (Debian etcd-server) on free loopback ports, in a temp dir, for one test file. */
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

export const startEtcd = async (): Promise<EtcdServer> => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-etcd-"))
  const client = await freePort()
  const peer = await freePort()
  const endpoint = `http://127.0.0.1:${client}`
  const child: ChildProcess = spawn("etcd", [
    "--name", "t", "--data-dir", join(dir, "data"),
    "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
    "--listen-peer-urls", `http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`,
    "--initial-cluster", `t=http://127.0.0.1:${peer}`, "--heartbeat-interval", "50", "--election-timeout", "500"
  ], { stdio: ["ignore", "ignore", "pipe"] })
  let log = ""
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (log = (log + d).slice(-20_000)))
  const deadline = Date.now() + 20_000
  for (;;) {
    const ok = await fetch(`${endpoint}/health`).then((r) => r.ok).catch(() => false)
    if (ok) break
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL")
      throw new Error(`etcd did not start on ${endpoint}: ${log.slice(-2000)}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r))
        child.kill("SIGTERM")
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
