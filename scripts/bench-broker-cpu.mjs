// Adds the brokers' CPU to one mqtt-bench JSON result and appends it to a JSON-lines file:
// `node scripts/bench-broker-cpu.mjs RESULT.json CPU_TICKS OUT.jsonl` (ticks from /proc/PID/stat,
// summed over every broker process of the run). Prints one line per run, for the scripts' logs.
import { appendFileSync, readFileSync } from "node:fs"

const [file, ticksText, out] = process.argv.slice(2)
const r = JSON.parse(readFileSync(file, "utf8"))
const hz = 100
const ticks = Number(ticksText)
r.brokersCpuS = ticks / hz
r.brokersCpuUsPerMsg = r.delivered > 0 ? (ticks / hz) * 1e6 / r.delivered : null
appendFileSync(out, JSON.stringify(r) + "\n")
console.log(`${r.label} ${r.scenario} qos${r.qos}: ${Math.round(r.msgsPerSec)} msg/s, ${r.brokersCpuUsPerMsg?.toFixed(2)} broker cpu-us/delivery (all broker processes), lost ${r.lost}, p50 ${r.latencyMs?.p50} ms`)
