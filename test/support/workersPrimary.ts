/** `robustmq start --workers 2` as a process, the way an operator starts it, with its output kept. */
import { type ChildProcess, spawn } from "node:child_process"
import { mainPath } from "./startBrokerProcess.js"

export interface WorkersPrimary {
  readonly child: ChildProcess
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string
  /** Its exit code, or null if it was still running after `ms` (then it is killed). */
  readonly exited: (ms: number) => Promise<number | null>
}

/** On loopback, Kafka off; `node`: the Node binary to run it with (another version's, say). */
export const startWorkersPrimary = (args: ReadonlyArray<string>, env: Record<string, string> = {}, node: string = process.execPath): WorkersPrimary => {
  const child = spawn(node, [mainPath, "start", "--workers", "2", "--mqtt-host", "127.0.0.1", ...args], {
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
  return { child, output: () => out, exited }
}
