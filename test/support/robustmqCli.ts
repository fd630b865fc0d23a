/**
 * Runs the built `robustmq` executable (dist/src/main.js) as an operator would, for CLI tests:
 * bounded child processes whose environment holds no ROBUSTMQ_* variable from the developer's
 * shell, only those the test passes. Children still running after a test are killed.
 */
import { mainPath } from "./startBrokerProcess.js"
import { type Run, type Spawned, useProcesses } from "./processes.js"

const cleanEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { NO_COLOR: "1" }
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ROBUSTMQ_")) env[k] = v
  return { ...env, ...extra }
}

export interface RobustmqCli {
  /** `robustmq ...args`, resolved with its exit and output. */
  readonly run: (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => Promise<Run>
  /** `robustmq ...args` left running (a tail), with its output so far. */
  readonly start: (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv, timeoutMs?: number) => Spawned
}

/** Registers cleanup in the calling file. */
export const useRobustmqCli = (): RobustmqCli => {
  const spawn = useProcesses()
  const start = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000) =>
    spawn(process.execPath, [mainPath, ...args], timeoutMs, cleanEnv(env))
  return { start, run: (args, env) => start(args, env).exited }
}
