#!/usr/bin/env node
/**
 * `npm run fuzz`: the live fuzzer against both listeners of a broker started as a child process
 * (test/fuzz/runFuzz.ts, built by tsc into dist/). Prints a progress line every few seconds and a
 * summary; exits 1 on a crash, a bystander failure, a handler throw or an unclean shutdown.
 *
 *   npm run fuzz -- [--inputs N] [--seconds S] [--concurrency C] [--seed X] [--storage memory|sqlite|segment]
 *                   [--node-options "--max-old-space-size=256"] [--json]
 *   --inputs: mutated inputs per listener (default 100000); --seconds: time limit (default 600)
 */
import { runFuzz } from "../dist/test/fuzz/runFuzz.js"

const args = process.argv.slice(2)
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback
}
const withValue = ["--inputs", "--seconds", "--concurrency", "--seed", "--storage", "--node-options"]
const unknown = []
for (let i = 0; i < args.length; i++) {
  if (withValue.includes(args[i])) i++
  else if (args[i] !== "--json") unknown.push(args[i])
}
if (unknown.length > 0 || args.includes("--help")) {
  console.error('usage: npm run fuzz -- [--inputs N] [--seconds S] [--concurrency C] [--seed X] [--storage memory|sqlite|segment] [--node-options "..."] [--json]')
  process.exit(2)
}
const seed = flag("seed", undefined)
const report = await runFuzz({
  inputs: Number(flag("inputs", "100000")),
  seconds: Number(flag("seconds", "600")),
  concurrency: Number(flag("concurrency", "24")),
  ...(seed !== undefined ? { seed: Number(seed) } : {}),
  storage: flag("storage", "memory"),
  ...(flag("node-options", undefined) !== undefined ? { brokerNodeOptions: flag("node-options", undefined) } : {}),
  progress: (line) => console.log(line)
})
const mib = (kib) => (kib / 1024).toFixed(0)
console.log("")
console.log(`inputs tried:  MQTT ${report.mqtt.inputs} (${report.mqtt.connections} connections), Kafka ${report.kafka.inputs} (${report.kafka.connections} connections) in ${report.seconds.toFixed(0)} s`)
console.log(`by mutation:   MQTT ${JSON.stringify(report.mqtt.byKind)}`)
console.log(`               Kafka ${JSON.stringify(report.kafka.byKind)}`)
console.log(`crashes:       ${report.crashes}${report.crashes > 0 ? `\n${report.output}` : ""}`)
console.log(`handler throws caught (connection closed): ${report.handlerThrew}`)
for (const line of report.thrownLines) console.log(`  ${line}`)
console.log(`slowloris:     ${report.slowloris.closedByBroker}/${report.slowloris.opened} closed by the broker (longest ${report.slowloris.maxLifetimeMs} ms), ${report.slowloris.overdue} overdue`)
console.log(`bystanders:    MQTT ${report.bystander.mqttTicks} ticks (max latency ${report.bystander.mqttMaxLatencyMs} ms), Kafka ${report.bystander.kafkaRecords} records (max ${report.bystander.kafkaMaxLatencyMs} ms); failures ${report.bystanderFailures.length}`)
for (const f of report.bystanderFailures) console.log(`  ${f}`)
console.log(`broker RSS:    ${mib(report.startRssKiB)} MiB at start, peak ${mib(report.peakRssKiB)} MiB (VmHWM)`)
console.log(`shutdown:      ${report.shutdown}`)
if (args.includes("--json")) console.log(JSON.stringify({ ...report, output: undefined }))
const ok = report.crashes === 0 && report.bystanderFailures.length === 0 && report.handlerThrew === 0 && report.slowloris.overdue === 0 && report.shutdown.startsWith("clean")
process.exit(ok ? 0 : 1)
