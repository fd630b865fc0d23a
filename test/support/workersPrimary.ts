/** `robustmq start --workers 2` as a process, the way an operator starts it, with its output kept. */
import { type ChildProcess, spawn } from "node:child_process"
import { mainPath } from "./startBrokerProcess.js"

export interface WorkersPrimary {
  readonly child: ChildProcess
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string
  /** Its exit code, or null if it was still running after `ms` (then it is killed). */
  readonly exited: (ms: number) => Promise<number | null>
  /** SIGTERM (if it still runs) and its exit, SIGKILL after `ms`. */
  readonly stop: (ms?: number) => Promise<void>
}

/** A member as a worker's admin API lists it. */
export interface WorkerMember {
  readonly id: string
  readonly pid: number
  readonly self: boolean
  readonly sessions: number | null
}

/** The members the worker serving HTTP on `httpPort` lists; none while it does not answer. */
export const workerMembers = async (httpPort: number): Promise<ReadonlyArray<WorkerMember>> => {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/cluster`).catch(() => null)
  return res?.ok === true ? ((await res.json()) as { members: ReadonlyArray<WorkerMember> }).members : []
}

/** Resolves once each of the `count` workers (HTTP on `httpPort + i`) lists all of them; rejects with the primary's output. */
export const untilWorkersUp = async (primary: WorkersPrimary, httpPort: number, count = 2, ms = 40_000): Promise<void> => {
  const deadline = Date.now() + ms
  for (;;) {
    const seen = await Promise.all(Array.from({ length: count }, (_, i) => workerMembers(httpPort + i)))
    if (seen.every((m) => m.length === count)) return
    if (Date.now() > deadline || primary.child.exitCode !== null) throw new Error(`the workers did not come up: ${primary.output()}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** On loopback, Kafka off; `node`: the Node binary to run it with (another version's, say); `workers`: how many. */
export const startWorkersPrimary = (args: ReadonlyArray<string>, env: Record<string, string> = {}, node: string = process.execPath, workers = 2): WorkersPrimary => {
  const child = spawn(node, [mainPath, "start", "--workers", String(workers), "--mqtt-host", "127.0.0.1", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_KAFKA_ENABLED: "false", ...env }
  })
  let out = ""
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d))
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d))
  const exited = (ms: number) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode)
      const timer = setTimeout(() => (child.kill("SIGKILL"), resolve(null)), ms)
      child.once("exit", (code) => (clearTimeout(timer), resolve(code)))
    })
  const stop = async (ms = 20_000) => {
    if (child.exitCode !== null) return
    child.kill("SIGTERM")
    await exited(ms)
  }
  return { child, output: () => out, exited, stop }
}
