// Preload for the shared, TCP-only load generator /work/shared/bench/mqtt-bench.mjs:
//   BENCH_TRANSPORT=tls|ws|wss [BENCH_CA=ca.crt] [BENCH_WS_PATH=/mqtt] \
//     node --import ./scripts/bench/transport-preload.mjs mqtt-bench.mjs --port TLS_OR_WS_PORT ...
// mqtt-bench calls net.connect({ host, port, noDelay }) on the shared `node:net` module object;
// this swaps that one function for a TLS or WebSocket connection that looks like a socket for what
// mqtt-bench uses ('connect', 'data', 'drain', 'error', 'close', write, end, destroy), so the
// tool itself stays unforked and its numbers stay comparable with the TCP runs.
import net from 'node:net'
import tls from 'node:tls'
import fs from 'node:fs'
import { WebSocket, createWebSocketStream } from 'ws'

const transport = process.env.BENCH_TRANSPORT ?? 'tcp'
const ca = process.env.BENCH_CA ? fs.readFileSync(process.env.BENCH_CA) : undefined
const servername = process.env.BENCH_SERVERNAME ?? 'localhost'
const wsPath = process.env.BENCH_WS_PATH ?? '/mqtt'
const netConnect = net.connect // ws opens its own TCP socket with net.connect: keep the original for it

const tlsConnect = ({ host, port, noDelay }) => {
  // TLSSocket emits 'connect' at TCP connect; what mqtt-bench writes then is sent after the handshake
  const s = tls.connect({ host, port, ca, servername, rejectUnauthorized: ca !== undefined })
  if (noDelay) s.setNoDelay(true)
  return s
}

const wsConnect = ({ host, port }) => {
  const scheme = transport === 'wss' ? 'wss' : 'ws'
  const ws = new WebSocket(`${scheme}://${host}:${port}${wsPath}`, 'mqtt',
    { perMessageDeflate: false, ca, servername, rejectUnauthorized: ca !== undefined,
      createConnection: transport === 'wss' ? undefined : (o) => netConnect({ ...o, path: o.socketPath }) })
  const s = createWebSocketStream(ws) // Buffer chunks in and out, write() backpressure and 'drain'
  ws.once('open', () => { ws._socket?.setNoDelay(true); s.emit('connect') })
  // the stream only emits 'close' when destroyed locally; mqtt-bench needs it when the broker closes too
  // (and only once, whichever side closes)
  let closed = false
  const origEmit = s.emit.bind(s)
  const emitClose = () => { if (!closed) { closed = true; origEmit('close') } }
  ws.once('close', emitClose)
  s.emit = (ev, ...a) => ev === 'close' ? (emitClose(), true) : origEmit(ev, ...a)
  s.setNoDelay = () => s
  s.on('error', () => {}) // errors also reach mqtt-bench through its own listener
  return s
}

if (transport === 'tls') net.connect = tlsConnect
else if (transport === 'ws' || transport === 'wss') net.connect = wsConnect
else if (transport !== 'tcp') { process.stderr.write(`BENCH_TRANSPORT must be tcp, tls, ws or wss, not ${transport}\n`); process.exit(1) }
