/**
 * The broker as a child process (`dist/src/main.js start`) on 127.0.0.1: started on a data dir
 * and storage kind, killed with SIGKILL (no shutdown, no final flush), started again on the same
 * data dir and the same ports so that clients reconnect to the address they know.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { sleep } from "./random.js"

// This file runs compiled (dist/scripts/torture) from npm run torture and as source under vitest.
const here = Path.dirname(fileURLToPath(import.meta.url))
const root = Path.resolve(here, here.includes(`${Path.sep}dist${Path.sep}`) ? "../../.." : "../..")
const main = Path.join(root, "dist", "src", "main.js")

export interface BrokerStart {
  readonly storage: "sqlite" | "segment"
  readonly dataDir: string
  /** 0 picks a free port (first start); later starts pass the ports the first one bound. */
  readonly mqttPort: number
  readonly kafkaPort: number
  /** Extra environment, e.g. ROBUSTMQ_TEST_ACK_DELAY_MS. */
  readonly env?: Readonly<Record<string, string>>
}

export interface BrokerProcess {
  readonly mqttPort: number
  readonly kafkaPort: number
  /** The last lines of its output, for a report when something goes wrong. */
  readonly tail: () => string
  /** True when it exited without being told to (a crash of its own). */
  readonly crashed: () => boolean
  readonly kill: () => Promise<void>
  /** SIGTERM: the graceful shutdown. */
  readonly stop: () => Promise<void>
}

const listening = (out: string, proto: string): number | undefined => {
  const m = new RegExp(`${proto} listening on [^:\\s]+:(\\d+)`).exec(out)
  return m === null ? undefined : Number(m[1])
}

/** Recovery after a kill can take a while on a loaded machine (10 s and more seen on 2 busy cores). */
export const startBroker = async (options: BrokerStart, timeoutMs = 60_000): Promise<BrokerProcess> => {
  if (!Fs.existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` first`)
  const args = [main, "start", "--storage", options.storage, "--data-dir", options.dataDir, "--mqtt-host", "127.0.0.1", "--mqtt-port", String(options.mqttPort), "--kafka-port", String(options.kafkaPort)]
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ROBUSTMQ_KAFKA_HOST: "127.0.0.1", ROBUSTMQ_SYS_INTERVAL: "0", ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_HTTP_PORT: "0", ...options.env }
  })
  // Never leave a broker behind when the harness itself exits or dies of an exception.
  const orphan = () => child.kill("SIGKILL")
  process.once("exit", orphan)
  let out = ""
  const keep = (d: string) => {
    out += d
    if (out.length > 64_000) out = out.slice(-32_000)
  }
  child.stdout!.setEncoding("utf8").on("data", keep)
  child.stderr!.setEncoding("utf8").on("data", keep)
  let expected = false
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true
      process.off("exit", orphan)
      resolve()
    })
  )
  const deadline = Date.now() + timeoutMs
  while (listening(out, "MQTT") === undefined || listening(out, "Kafka") === undefined) {
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`the broker did not start (storage ${options.storage}, ${options.dataDir}); output:\n${out.slice(-4000)}`)
    }
    await sleep(20)
  }
  const signal = async (sig: NodeJS.Signals) => {
    expected = true
    if (!exited) child.kill(sig)
    await exit
  }
  return {
    mqttPort: listening(out, "MQTT")!,
    kafkaPort: listening(out, "Kafka")!,
    tail: () => out.split("\n").slice(-40).join("\n"),
    crashed: () => exited && !expected,
    kill: () => signal("SIGKILL"),
    stop: async () => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await signal("SIGTERM")
      clearTimeout(timer)
    }
  }
}
