#!/usr/bin/env node
// Connection-rate benchmark: N fresh connections (TCP, TLS, WS or WSS), each CONNECT (MQTT 3.1.1,
// clean session, optionally user name and password) -> CONNACK 0 -> DISCONNECT -> close, with at
// most --inflight handshakes at a time. Reports connects/s, CONNECT latency (socket open to CONNACK,
// so the TCP/TLS/HTTP handshakes are included) and broker CPU per connect from /proc/PID/stat.
//   node scripts/bench/connect-rate.mjs --port 8883 --transport tls --ca ca.crt --pid 1234 \
//     [--conns 2000] [--inflight 256] [--warmup W] [--username u --password p [--users K]] [--json] [--label L]
// --warmup W: W connections first, the same way but not measured, so a JIT runtime is compared
// warm (they log in as users conns..conns+W-1, mod K, so they do not fill a password cache).
// --users K: user name U<i mod K> (every connection its own user with K >= conns, so a broker
// that caches successful checks still verifies each one). JSON line on stdout with --json,
// a human line on stdout otherwise; progress on stderr. Exit 0 ok, 1 usage, 3 any failure.
import net from 'node:net'
import tls from 'node:tls'
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import { WebSocket } from 'ws'

const { values: a } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' },
    transport: { type: 'string', default: 'tcp' }, ca: { type: 'string' },
    servername: { type: 'string', default: 'localhost' }, 'ws-path': { type: 'string', default: '/mqtt' },
    conns: { type: 'string', default: '2000' }, warmup: { type: 'string', default: '0' }, inflight: { type: 'string', default: '256' },
    username: { type: 'string' }, password: { type: 'string' }, users: { type: 'string', default: '0' },
    pid: { type: 'string' }, json: { type: 'boolean', default: false }, label: { type: 'string', default: '' },
    'timeout-ms': { type: 'string', default: '10000' }, help: { type: 'boolean', default: false }
  }
})
const usage = (m) => { process.stderr.write(`${m}\nsee the header of scripts/bench/connect-rate.mjs\n`); process.exit(1) }
if (a.help) usage('connect-rate: MQTT connection-rate benchmark')
const PORT = Number(a.port); const N = Number(a.conns); const INFLIGHT = Number(a.inflight)
const USERS = Number(a.users); const WARMUP = Number(a.warmup); const TIMEOUT = Number(a['timeout-ms']); const PID = a.pid ? Number(a.pid) : 0
if (!(PORT > 0) || !(N > 0 && N <= 100000) || !(WARMUP >= 0 && WARMUP <= 100000) || !(INFLIGHT > 0) || !(TIMEOUT > 0)) usage('--port, --conns (1..100000), --inflight and --timeout-ms must be positive numbers')
if (!['tcp', 'tls', 'ws', 'wss'].includes(a.transport)) usage('--transport must be tcp, tls, ws or wss')
if ((a.username === undefined) !== (a.password === undefined)) usage('--username and --password go together')
const ca = a.ca ? fs.readFileSync(a.ca) : undefined
const RUN = Math.random().toString(36).slice(2, 8)

// --- MQTT 3.1.1 CONNECT / DISCONNECT ---
const str = (s) => { const b = Buffer.from(s, 'utf8'); const l = Buffer.alloc(2); l.writeUInt16BE(b.length); return [l, b] }
const remLen = (n) => { const o = []; do { let d = n % 128; n = Math.floor(n / 128); if (n) d |= 128; o.push(d) } while (n); return Buffer.from(o) }
function encConnect (id, user, pass) {
  let flags = 0x02 // clean session
  const parts = [...str('MQTT'), Buffer.from([4]), null, Buffer.from([0, 60]), ...str(id)]
  if (user !== undefined) { flags |= 0x80; parts.push(...str(user)) }
  if (pass !== undefined) { flags |= 0x40; parts.push(...str(pass)) }
  parts[3] = Buffer.from([flags])
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([0x10]), remLen(body.length), body])
}
const DISCONNECT = Buffer.from([0xe0, 0])

// --- CPU accounting (same method as mqtt-bench --pid) ---
const procCpu = (pid) => { try { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100 } catch { return null } }
const hostCpu = () => { const v = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number); const idle = v[3] + (v[4] || 0); const tot = v.reduce((x, y) => x + y, 0); return [tot - idle, tot] }
const cpuCount = () => { try { return fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).length || 1 } catch { return 1 } }

// --- one connection: resolves { ok, ms, reason, closed } ---
let tlsInfo = null
function connectOnce (i) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint(); let done = false; let got = Buffer.alloc(0); let closeWait = null
    const user = a.username === undefined ? undefined : (USERS > 0 ? `${a.username}${i % USERS}` : a.username)
    const connect = encConnect(`${RUN}r${i}`, user, a.password)
    let send, finish
    const timer = setTimeout(() => settle(false, 'timeout'), TIMEOUT)
    const settle = (ok, reason) => {
      if (done) return; done = true; clearTimeout(timer)
      const ms = Number(process.hrtime.bigint() - t0) / 1e6
      // wait (bounded) for the close, so the broker's teardown is inside the measured window
      const closed = new Promise((r) => { closeWait = r; setTimeout(r, 2000) })
      if (ok) { try { send(DISCONNECT) } catch {} }
      finish()
      resolve({ ok, ms, reason, closed })
    }
    const onData = (chunk) => {
      got = got.length ? Buffer.concat([got, chunk]) : chunk
      if (got.length < 4) return
      if (got[0] !== 0x20) return settle(false, `unexpected packet 0x${got[0].toString(16)}`)
      settle(got[3] === 0, got[3] === 0 ? '' : `CONNACK ${got[3]}`)
    }
    if (a.transport === 'ws' || a.transport === 'wss') {
      const ws = new WebSocket(`${a.transport}://${a.host}:${PORT}${a['ws-path']}`, 'mqtt',
        { perMessageDeflate: false, ca, servername: a.servername, rejectUnauthorized: ca !== undefined })
      send = (b) => ws.send(b); finish = () => ws.close()
      ws.on('open', () => { ws._socket?.setNoDelay(true); ws.send(connect) })
      ws.on('message', (m) => onData(Buffer.isBuffer(m) ? m : Buffer.from(m)))
      ws.on('error', (e) => settle(false, e.code || e.message))
      ws.on('close', () => { settle(false, 'closed before CONNACK'); closeWait?.() })
    } else {
      const s = a.transport === 'tls'
        ? tls.connect({ host: a.host, port: PORT, ca, servername: a.servername, rejectUnauthorized: ca !== undefined })
        : net.connect({ host: a.host, port: PORT })
      s.setNoDelay(true)
      send = (b) => s.write(b); finish = () => s.end()
      s.once(a.transport === 'tls' ? 'secureConnect' : 'connect', () => {
        if (a.transport === 'tls' && !tlsInfo) tlsInfo = { protocol: s.getProtocol(), cipher: s.getCipher()?.name }
        s.write(connect)
      })
      s.on('data', onData)
      s.on('error', (e) => settle(false, e.code || e.message))
      s.on('close', () => { settle(false, 'closed before CONNACK'); closeWait?.() })
    }
  })
}

// --- run ---
if (WARMUP > 0) { // same concurrency, not measured; user/client ids after the measured ones
  let w = 0; let wOk = 0
  const wWorker = async () => { while (w < WARMUP) { const r = await connectOnce(N + w++); if (r.ok) wOk++; await r.closed } }
  await Promise.all(Array.from({ length: Math.min(INFLIGHT, WARMUP) }, wWorker))
  if (wOk < WARMUP) process.stderr.write(`connect-rate: ${WARMUP - wOk} of ${WARMUP} warm-up connections failed\n`)
  tlsInfo = null
}
const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] : null
const r2 = (x) => Math.round(x * 100) / 100
const b0 = PID ? procCpu(PID) : null; const c0 = process.cpuUsage(); const h0 = hostCpu(); const t0 = process.hrtime.bigint()
let next = 0; let ok = 0; let tLast = t0; const lat = []; const failures = {}; const closes = []
const progress = setInterval(() => process.stderr.write(`connect-rate ${a.label} ${a.transport}: ${next}/${N} started, ${ok} ok\n`), 1000)
async function worker () {
  while (next < N) {
    const r = await connectOnce(next++)
    closes.push(r.closed)
    if (r.ok) { ok++; lat.push(r.ms); tLast = process.hrtime.bigint() } else failures[r.reason] = (failures[r.reason] || 0) + 1
  }
}
await Promise.all(Array.from({ length: Math.min(INFLIGHT, N) }, worker))
const connectS = Number(tLast - t0) / 1e9
await Promise.all(closes)
clearInterval(progress)
const wall = Number(process.hrtime.bigint() - t0) / 1e9
const b1 = PID ? procCpu(PID) : null; const c = process.cpuUsage(c0); const h1 = hostCpu()
const clientS = (c.user + c.system) / 1e6; const brokerS = b0 !== null && b1 !== null ? b1 - b0 : null
const hostS = (h1[0] - h0[0]) / 100
lat.sort((x, y) => x - y)
const out = {
  tool: 'connect-rate', label: a.label, transport: a.transport, port: PORT, auth: a.username !== undefined,
  users: a.username === undefined ? 0 : (USERS || 1), conns: N, warmup: WARMUP, inflight: INFLIGHT, ok, failed: N - ok, failures,
  connectsPerSec: ok && connectS > 0 ? Math.round(ok / connectS) : 0, connectS: r2(connectS), wallS: r2(wall),
  latencyMs: { p50: r2(pct(lat, 50) ?? 0), p99: r2(pct(lat, 99) ?? 0), max: r2(lat.at(-1) ?? 0) },
  broker: PID ? { pid: PID, cpuS: brokerS === null ? null : r2(brokerS), cpuUsPerConnect: brokerS !== null && ok ? Math.round(brokerS * 1e6 / ok) : null } : null,
  client: { cpuS: r2(clientS) }, tls: tlsInfo,
  hostBusyPct: h1[1] > h0[1] ? Math.round((h1[0] - h0[0]) / (h1[1] - h0[1]) * 100) : null, cores: cpuCount(),
  otherCpuS: brokerS !== null ? r2(Math.max(0, hostS - clientS - brokerS)) : null, at: new Date().toISOString()
}
if (a.json) process.stdout.write(JSON.stringify(out) + '\n')
else {
  process.stdout.write(`${a.label} ${a.transport}${out.auth ? '+auth' : ''}: ${out.connectsPerSec} conn/s, ok ${ok}/${N}, CONNACK p50 ${out.latencyMs.p50} ms p99 ${out.latencyMs.p99} ms` +
    (out.broker ? `, broker ${out.broker.cpuUsPerConnect} us/connect` : '') + `, client cpu ${out.client.cpuS}s, host busy ${out.hostBusyPct}%` +
    (out.otherCpuS !== null ? `, other ${out.otherCpuS} cpu-s` : '') + (out.failed ? `, failures ${JSON.stringify(failures)}` : '') + '\n')
}
process.exit(out.failed ? 3 : 0)
