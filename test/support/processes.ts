/**
 * Command line clients run by tests (mosquitto_pub/sub and the like): each spawn is tracked and
 * killed after its test if still running, and its exit is bounded by a timeout.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { afterEach } from "vitest"

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface Spawned {
  readonly child: ChildProcess
  /** The output so far. */
  readonly out: { stdout: string; stderr: string }
  /** The exit with all output (rejects if the process outlives the timeout: it is killed). */
  readonly exited: Promise<Run>
}

/** Registers the cleanup in the calling test file; returns the spawn function to use there. */
export const useProcesses = () => {
  let children: Array<ChildProcess> = []
  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
    children = []
  })
  return (cmd: string, args: ReadonlyArray<string>, timeoutMs = 15_000, env?: NodeJS.ProcessEnv): Spawned => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...(env === undefined ? {} : { env }) })
    children.push(child)
    const out = { stdout: "", stderr: "" }
    child.stdout!.on("data", (d: Buffer) => (out.stdout += d.toString()))
    child.stderr!.on("data", (d: Buffer) => (out.stderr += d.toString()))
    const exited = new Promise<Run>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`${cmd} ${args.join(" ")} still running after ${timeoutMs} ms; stdout: ${out.stdout} stderr: ${out.stderr}`))
      }, timeoutMs)
      child.once("error", (e) => {
        clearTimeout(timer)
        reject(e)
      })
      // 'close', not 'exit': mosquitto_sub block-buffers its output and flushes it at exit, and
      // 'exit' can fire before that last chunk has been read from the pipe.
      child.once("close", (code) => {
        clearTimeout(timer)
        resolve({ code, ...out })
      })
    })
    return { child, out, exited }
  }
}
