/**
 * The real broker executable as a child process (`dist/src/main.js start`), for tests that
 * crash it: SIGKILL leaves no shutdown, no final checkpoint or snapshot, only what storage
 * holds. Children and data dirs are removed after each test of the file that calls
 * `useBrokerProcesses`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach } from "vitest"
import { waitUntil } from "./clients.js"

const main = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url))

export interface BrokerProcess {
  readonly child: ChildProcess
  readonly port: number
  /** Everything it printed so far. */
  output(): string
}

export interface BrokerProcessOptions {
  readonly port?: number
  readonly storage?: "sqlite" | "segment"
  readonly env?: Record<string, string>
}

export const useBrokerProcesses = () => {
  const children = new Set<ChildProcess>()
  const dirs: Array<string> = []
  afterEach(() => {
    for (const c of children) c.kill("SIGKILL")
    children.clear()
    for (const d of dirs.splice(0)) Fs.rmSync(d, { recursive: true, force: true })
  })

  /** A fresh data dir, removed after the test. */
  const dataDir = (): string => {
    const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-crash-"))
    dirs.push(dir)
    return dir
  }

  /** Starts `robustmq start` on `dir` (MQTT on a free port unless given); resolves once it listens. */
  const start = async (dir: string, options: BrokerProcessOptions = {}): Promise<BrokerProcess> => {
    if (!Fs.existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` first (npm test does)`)
    const args = [main, "start", "--mqtt-host", "127.0.0.1", "--mqtt-port", String(options.port ?? 0), "--kafka-port", "0", "--data-dir", dir]
    if (options.storage !== undefined) args.push("--storage", options.storage)
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ROBUSTMQ_KAFKA_HOST: "127.0.0.1", ...options.env } })
    children.add(child)
    let out = ""
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d))
    await waitUntil(() => /MQTT listening on [^:]+:\d+/.test(out) || child.exitCode !== null, 15_000, () => `the broker to listen; output: ${out}`)
    if (child.exitCode !== null) throw new Error(`the broker exited with ${child.exitCode}: ${out}`)
    return { child, port: Number(/MQTT listening on [^:]+:(\d+)/.exec(out)![1]), output: () => out }
  }

  /** SIGKILL, resolved once the process is gone. */
  const kill = (broker: BrokerProcess) =>
    new Promise<void>((resolve) => {
      if (broker.child.exitCode !== null || broker.child.signalCode !== null) return resolve()
      broker.child.once("exit", () => resolve())
      broker.child.kill("SIGKILL")
    })

  return { dataDir, start, kill }
}
