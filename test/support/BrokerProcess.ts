/**
 * The real broker executable as a child process (`dist/src/main.js start`), for tests that
 * crash it: SIGKILL leaves no shutdown, no final checkpoint or snapshot, only what storage
 * holds. Children and data dirs are removed after each test of the file that calls
 * `useBrokerProcesses`. The process itself is started by startBrokerProcess.ts (no vitest there,
 * so `npm run fuzz` shares it).
 */
import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { afterEach } from "vitest"
import { type BrokerProcess, type BrokerProcessOptions, startBrokerProcess } from "./startBrokerProcess.js"

export type { BrokerProcess, BrokerProcessOptions } from "./startBrokerProcess.js"

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

  /** Starts `robustmq start` on `dir` (MQTT and Kafka on free ports unless given); resolves once it listens. */
  const start = async (dir: string, options: BrokerProcessOptions = {}): Promise<BrokerProcess> => {
    const broker = await startBrokerProcess(dir, options)
    children.add(broker.child)
    return broker
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
