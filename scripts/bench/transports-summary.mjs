#!/usr/bin/env node
// Medians of scripts/bench-transports.sh results: per case, ours and Mosquitto side by side, with
// ours/Mosquitto and (ours) transport/TCP ratios, and the machine's load during the runs.
//   node scripts/bench/transports-summary.mjs bench-results/transports-....jsonl [more.jsonl ...]
import fs from 'node:fs'
const files = process.argv.slice(2)
if (!files.length) { process.stderr.write('usage: transports-summary.mjs RESULTS.jsonl [MORE.jsonl ...]\n'); process.exit(1) }
const rows = files.map((f) => fs.readFileSync(f, 'utf8')).join('\n').split('\n').filter(Boolean).map((l) => JSON.parse(l))
const med = (xs) => { const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b); if (!v.length) return null; const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2 }
const pick = (broker, kase, f) => med(rows.filter((r) => r.target === broker && r.case === kase && !r.error && !(r.failed > 0) && !(r.lost > 0)).map(f))
// a case whose every run lost messages still shows its median, marked
const pickOrLossy = (broker, kase, f) => { const v = pick(broker, kase, f); if (v !== null) return [v, '']; const all = med(rows.filter((r) => r.target === broker && r.case === kase).map(f)); return [all, all === null ? '' : ' (lost msgs)'] }
const n = (broker, kase) => rows.filter((r) => r.target === broker && r.case === kase).length
const bad = rows.filter((r) => r.error || r.failed > 0 || r.lost > 0)
const fmt = (x, d = 0) => x === null ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
const ratio = (a, b) => a === null || b === null || b === 0 ? '-' : (a / b).toFixed(2)
const cases = [...new Set(rows.map((r) => r.case))]
const out = []
const connCases = cases.filter((c) => c.startsWith('conn-'))
out.push('| connect case | ours conn/s | Mosquitto conn/s | ours / Mosquitto | ours cpu-us/connect | Mosquitto cpu-us/connect | bare Node cpu-us/connect (conn/s) | ours CONNACK p50 / p99 ms | Mosquitto p50 / p99 ms | runs |')
out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const c of connCases) {
  const o = pick('ours', c, (r) => r.connectsPerSec); const m = pick('mosquitto', c, (r) => r.connectsPerSec)
  out.push(`| ${c} | ${fmt(o)} | ${fmt(m)} | ${ratio(o, m)} | ${fmt(pick('ours', c, (r) => r.broker?.cpuUsPerConnect))} | ${fmt(pick('mosquitto', c, (r) => r.broker?.cpuUsPerConnect))} | ` +
    (n('node-bare', c) ? `${fmt(pick('node-bare', c, (r) => r.broker?.cpuUsPerConnect))} (${fmt(pick('node-bare', c, (r) => r.connectsPerSec))})` : '-') + ' | ' +
    `${fmt(pick('ours', c, (r) => r.latencyMs.p50), 1)} / ${fmt(pick('ours', c, (r) => r.latencyMs.p99), 1)} | ${fmt(pick('mosquitto', c, (r) => r.latencyMs.p50), 1)} / ${fmt(pick('mosquitto', c, (r) => r.latencyMs.p99), 1)} | ${n('ours', c)}+${n('mosquitto', c)} |`)
}
out.push('')
const pairCases = cases.filter((c) => c.startsWith('pairs-'))
const oTcp = pick('ours', 'pairs-qos1-tcp', (r) => r.msgsPerSec)
out.push('| pairs-qos1 | ours msg/s | Mosquitto msg/s | ours / Mosquitto | ours / ours TCP | ours cpu-us/delivery | Mosquitto cpu-us/delivery | bench cpu % (ours run) | runs |')
out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const c of pairCases) {
  const o = pick('ours', c, (r) => r.msgsPerSec); const [m, mNote] = pickOrLossy('mosquitto', c, (r) => r.msgsPerSec)
  const [mCpu, mCpuNote] = pickOrLossy('mosquitto', c, (r) => r.broker?.cpuUsPerMsg)
  out.push(`| ${c.replace('pairs-qos1-', '')} | ${fmt(o)} | ${fmt(m)}${mNote} | ${ratio(o, m)} | ${ratio(o, oTcp)} | ${fmt(pick('ours', c, (r) => r.broker?.cpuUsPerMsg), 2)} | ${fmt(mCpu, 2)}${mCpuNote} | ${fmt(pick('ours', c, (r) => r.client?.cpuPct))} | ${n('ours', c)}+${n('mosquitto', c)} |`)
}
out.push('')
const busy = rows.map((r) => r.hostBusyPct).filter((x) => typeof x === 'number')
const other = rows.map((r) => r.otherCpuS === null || r.wallS === undefined ? null : r.otherCpuS / r.wallS).filter((x) => typeof x === 'number')
out.push(`Load: ${rows.length} runs from ${rows[0]?.at ?? '?'}; host busy median ${fmt(med(busy))}% (min ${fmt(Math.min(...busy))}, max ${fmt(Math.max(...busy))}) of ${rows[0]?.cores ?? 2} cores; ` +
  `other processes used a median ${fmt(med(other), 2)} cores (max ${fmt(Math.max(...other), 2)}) while measuring.` +
  (bad.length ? ` Left out of the medians: ${bad.length} runs with failures or losses (${[...new Set(bad.map((r) => `${r.target} ${r.case}`))].map((k) => [k, bad.filter((r) => `${r.target} ${r.case}` === k)]).map(([k, v]) => `${k}: ${v.length} of ${rows.filter((r) => `${r.target} ${r.case}` === k).length}`).join(', ')}).` : ''))
process.stdout.write(out.join('\n') + '\n')
