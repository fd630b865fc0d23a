#!/usr/bin/env node
// The floor Node itself sets for connect-rate.mjs: a server that is no broker, answering any first
// read with CONNACK 0 and closing when the client does, over TCP, TLS and WebSocket like ours.
// Its CPU per connect (connect-rate.mjs --pid) is what the runtime and OpenSSL cost before any
// MQTT work, to read our broker's figure against.
//   node scripts/bench/bare-connack.mjs --port P --tls-port P2 --ws-port P3 --cert F --key F
import net from 'node:net'
import tls from 'node:tls'
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import { WebSocketServer } from 'ws'

const { values: a } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, 'tls-port': { type: 'string' }, 'ws-port': { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } } })
const CONNACK = Buffer.from([0x20, 2, 0, 0])
const onSocket = (s) => { s.setNoDelay(true); s.once('data', () => s.write(CONNACK)); s.on('error', () => {}); s.on('end', () => s.end()) }
if (a.port) net.createServer(onSocket).listen(Number(a.port), a.host)
if (a['tls-port']) tls.createServer({ cert: fs.readFileSync(a.cert), key: fs.readFileSync(a.key) }, onSocket).listen(Number(a['tls-port']), a.host)
if (a['ws-port']) {
  const wss = new WebSocketServer({ host: a.host, port: Number(a['ws-port']), perMessageDeflate: false, handleProtocols: (ps) => ps.has('mqtt') ? 'mqtt' : false })
  wss.on('connection', (ws) => { ws._socket.setNoDelay(true); ws.once('message', () => ws.send(CONNACK)); ws.on('error', () => {}) })
}
process.on('SIGTERM', () => process.exit(0))
