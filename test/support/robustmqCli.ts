/**
 * Runs the built `robustmq` executable (dist/src/main.js) as an operator would, for CLI tests:
 * a bounded child process whose environment holds no ROBUSTMQ_* variable from the developer's
 * shell, only those the test passes.
 */
import { mainPath } from "./startBrokerProcess.js"
import { type Run, useProcesses } from "./processes.js"

const cleanEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { NO_COLOR: "1" }
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ROBUSTMQ_")) env[k] = v
  return { ...env, ...extra }
}

/** Registers cleanup in the calling file; returns `robustmq(args, env)`, resolved with the exit. */
export const useRobustmqCli = () => {
  const spawn = useProcesses()
  return (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<Run> =>
    spawn(process.execPath, [mainPath, ...args], timeoutMs, cleanEnv(env)).exited
}
