/**
 * The real executable (`dist/src/main.js start`) as a child process on free ports: for tests and
 * scripts that must see the broker die (a crash, a SIGKILL) rather than share its process. It
 * resolves once both listeners have logged their ports, keeps the output, and reads the
 * process's peak resident memory from /proc. No vitest here: `npm run fuzz` uses it too (tests
 * use BrokerProcess.ts, which cleans up after each test).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"
import { waitUntil } from "./clients.js"

/** dist/src/main.js, whether this module runs from test/support (vitest) or dist/test/support (tsc). */
export const mainPath = fileURLToPath(new URL(import.meta.url.includes("/dist/test/") ? "../../src/main.js" : "../../dist/src/main.js", import.meta.url))

export interface BrokerProcessOptions {
  /** MQTT port; 0 (the default) picks a free one. */
  readonly port?: number
  /** 0 (the default) picks a free port; null leaves Kafka disabled. */
  readonly kafkaPort?: number | null
  readonly storage?: "memory" | "sqlite" | "segment"
  /** More `start` flags. */
  readonly args?: ReadonlyArray<string>
  /** `--log-level` (debug: to check what a verbose run prints). */
  readonly logLevel?: "debug" | "info"
  /** Flags before the subcommand, e.g. `--log-level debug`. */
  readonly globalArgs?: ReadonlyArray<string>
  /** Extra environment (ROBUSTMQ_* overrides). */
  readonly env?: Readonly<Record<string, string>>
  readonly startTimeoutMs?: number
}

export interface BrokerProcess {
  readonly child: ChildProcess
  /** The MQTT port. */
  readonly port: number
  /** -1 when Kafka is disabled. */
  readonly kafkaPort: number
  /** The HTTP listener's port (-1 when it is off). */
  readonly httpPort: number
  /** Everything it printed so far (stdout and stderr interleaved). */
  output(): string
  /** The exit code or signal once it has exited, null while it runs. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | null
  /** Peak resident set size in KiB (VmHWM), or -1 when /proc cannot say (not Linux, exited). */
  peakRssKiB(): number
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>
}

export const startBrokerProcess = async (dataDir: string, options: BrokerProcessOptions = {}): Promise<BrokerProcess> => {
  if (!Fs.existsSync(mainPath)) throw new Error(`${mainPath} is missing: run \`npx tsc -b\` first (npm test does)`)
  const kafka = options.kafkaPort === null ? [] : ["--kafka-port", String(options.kafkaPort ?? 0)]
  const storage = options.storage === undefined ? [] : ["--storage", options.storage]
  const args = [mainPath, ...(options.logLevel === undefined ? [] : ["--log-level", options.logLevel]), ...(options.globalArgs ?? []), "start", "--mqtt-host", "127.0.0.1", "--mqtt-port", String(options.port ?? 0), ...kafka, "--data-dir", dataDir, ...storage, ...(options.args ?? [])]
  // The HTTP listener on a free loopback port (never 8080), unless the caller says otherwise.
  const env = { ...process.env, ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_HTTP_PORT: "0", ...(options.kafkaPort === null ? { ROBUSTMQ_KAFKA_ENABLED: "false" } : { ROBUSTMQ_KAFKA_HOST: "127.0.0.1" }), ...options.env }
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env })
  let out = ""
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out = (out + d).slice(-1_000_000)))
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out = (out + d).slice(-1_000_000)))
  child.once("exit", (code, signal) => (exited = { code, signal }))
  const mqttRe = /MQTT listening on [^\s]+:(\d+)/
  const kafkaRe = /Kafka listening on [^\s]+:(\d+)/
  try {
    await waitUntil(
      () => exited !== null || (mqttRe.test(out) && (options.kafkaPort === null || kafkaRe.test(out))),
      options.startTimeoutMs ?? 20_000,
      () => `the broker to listen; output: ${out}`
    )
  } catch (e) {
    child.kill("SIGKILL")
    throw e
  }
  if (exited !== null) throw new Error(`the broker exited at start (${JSON.stringify(exited)}): ${out}`)
  const pid = child.pid!
  return {
    child,
    port: Number(mqttRe.exec(out)![1]),
    kafkaPort: options.kafkaPort === null ? -1 : Number(kafkaRe.exec(out)![1]),
    httpPort: Number(/HTTP listening on [^\s]+:(\d+)/.exec(out)?.[1] ?? -1),
    output: () => out,
    exit: () => exited,
    peakRssKiB: () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
        return m === null ? -1 : Number(m[1])
      } catch {
        return -1
      }
    },
    stop: async (graceMs = 5000) => {
      if (exited !== null) return
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
      await gone
      clearTimeout(timer)
    }
  }
}
