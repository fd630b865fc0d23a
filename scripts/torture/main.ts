/**
 * `npm run torture -- --cycles N --storage sqlite|segment [--seed S] [--kill-min-ms 500]
 * [--kill-max-ms 3000] [--publishers 4] [--window 20] [--policies sequence,lowest-free]
 * [--ack-delay-share 0.5] [--graceful]`: see docs/reliability.md. Exit code 1 when anything acknowledged was
 * lost or duplicated where it must not be, 2 when the run itself could not go on (e.g. the broker
 * did not start again).
 */
import { parseArgs } from "node:util"
import type { IdPolicy } from "./MqttPublisher.js"
import { defaults, runTorture } from "./torture.js"

const OPTIONS = {
  cycles: { type: "string", default: "10" },
  storage: { type: "string", default: "sqlite" },
  seed: { type: "string", default: String(Date.now() % 100_000) },
  "kill-min-ms": { type: "string", default: String(defaults.killMinMs) },
  "kill-max-ms": { type: "string", default: String(defaults.killMaxMs) },
  publishers: { type: "string", default: String(defaults.publishers) },
  window: { type: "string", default: String(defaults.window) },
  policies: { type: "string", default: defaults.policies.join(",") },
  "ack-delay-share": { type: "string", default: String(defaults.ackDelayShare) },
  graceful: { type: "boolean", default: false },
  help: { type: "boolean", default: false }
} as const

const USAGE = `usage: npm run torture -- --cycles N --storage sqlite|segment [--seed S] [--kill-min-ms 500]
  [--kill-max-ms 3000] [--publishers 4] [--window 20] [--policies sequence,lowest-free]
  [--ack-delay-share 0.5] [--graceful]   (see docs/reliability.md, "Torture harness")`

const parsed = (() => {
  try {
    return parseArgs({ options: OPTIONS })
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`)
    return process.exit(2)
  }
})()
if (parsed.values.help) {
  console.log(USAGE)
  process.exit(0)
}
const { values } = parsed

// Ctrl-C: exit through process.exit, so that the broker child is killed too (BrokerProcess).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130))

const storage = values.storage
if (storage !== "sqlite" && storage !== "segment") throw new Error(`--storage must be sqlite or segment, not ${storage}`)
const policies = values.policies.split(",") as Array<IdPolicy>
if (policies.some((p) => p !== "sequence" && p !== "lowest-free")) throw new Error(`--policies takes sequence and lowest-free`)
const seed = Number(values.seed)
console.log(`torture: ${values.cycles} cycles on ${storage}, seed ${seed}${values.graceful ? ", graceful restarts (SIGTERM)" : ""}`)

const summary = await runTorture({
  ...defaults,
  cycles: Number(values.cycles),
  storage,
  seed,
  killMinMs: Number(values["kill-min-ms"]),
  killMaxMs: Number(values["kill-max-ms"]),
  publishers: Number(values.publishers),
  window: Number(values.window),
  policies,
  ackDelayShare: Number(values["ack-delay-share"]),
  graceful: values.graceful,
  log: (line) => console.log(line)
}).catch((e: unknown) => {
  console.log(`torture stopped: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(2)
})

const { mqtt, kafka } = summary
const sorted = [...summary.restartMs].sort((a, b) => a - b)
const percentile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
console.log(
  [
    `summary (${storage}, seed ${seed}): ${summary.cycles} cycles`,
    `  MQTT messages checked ${mqtt.checked}, lost ${mqtt.lost} (by publisher ${JSON.stringify(mqtt.lostBy)}, by receiver ${JSON.stringify(mqtt.missing)}), QoS 2 duplicates ${mqtt.qos2Dups}, QoS 1 duplicates ${mqtt.qos1Dups} (without DUP ${mqtt.qos1DupsWithoutFlag}: ${JSON.stringify(mqtt.qos1DupsWithoutFlagBy)}; from publisher retries, DUP 0 as required: ${mqtt.qos1DupsFromPublisherRetries}; Kafka records appended again by their producer's retry: ${mqtt.qos1DupsOfKafkaRecords}), sessions lost ${summary.sessionsLost}, unacknowledged at the end ${summary.unacked}`,
    `  Kafka records checked ${kafka.checked}, lost ${kafka.lost}, duplicated ${kafka.duplicated}, offset gaps ${kafka.offsetGaps}, committed offsets regressed ${summary.offsetsRegressed}`,
    `  restarts took ${percentile(0.5)} ms (median), ${percentile(1)} ms (max); broker crashes of its own ${summary.brokerCrashes}: ${summary.ok ? "OK" : "FAILED"}`
  ].join("\n")
)
process.exit(summary.ok ? 0 : 1)
