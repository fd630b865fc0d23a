// Calibration only, not part of the broker: the smallest MQTT 3.1.1 QoS 0/1 router that the
// standard suite can drive (CONNECT, SUBSCRIBE to exact topics, PUBLISH QoS 0/1 with PUBACK
// sent at once and nothing stored, PINGREQ, DISCONNECT), written the way the bench README's
// "what plain Node.js can reach" section describes: TCP_NODELAY, frames collected per socket and
// written once per microtask. It tells what Node itself costs per message for a traffic shape
// (docs/benchmarks.md, latency-qos1): `node scripts/calibration-router.mjs PORT`.
import net from 'node:net'
const subs = new Map() // topic -> Set<conn>
const dirty = new Set()
let scheduled = false
const flush = () => { scheduled = false; for (const c of dirty) { const out = c.out; c.out = []; c.sock.write(out.length === 1 ? out[0] : Buffer.concat(out)) } dirty.clear() }
const send = (c, buf) => { c.out.push(buf); if (!dirty.has(c)) { dirty.add(c); if (!scheduled) { scheduled = true; queueMicrotask(flush) } } }
const server = net.createServer({ noDelay: true }, (sock) => {
  const c = { sock, out: [], pending: null, pid: 0 }
  sock.on('data', (chunk) => {
    let buf = c.pending ? Buffer.concat([c.pending, chunk]) : chunk; c.pending = null
    let off = 0
    while (off < buf.length) {
      if (buf.length - off < 2) break
      const start = off
      let mul = 1, len = 0, i = off + 1, b
      do { b = buf[i++]; len += (b & 127) * mul; mul *= 128 } while (b & 128 && i < buf.length)
      if (b & 128 || i + len > buf.length) break
      const type = buf[off] >> 4, body = buf.subarray(i, i + len), flags = buf[off] & 15
      off = i + len
      if (type === 1) send(c, Buffer.from([0x20, 2, 0, 0]))
      else if (type === 8) { const id = body.readUInt16BE(0); let p = 2; const tl = body.readUInt16BE(p); const t = body.toString('utf8', p + 2, p + 2 + tl); let set = subs.get(t); if (!set) subs.set(t, set = new Set()); set.add(c); send(c, Buffer.from([0x90, 3, id >> 8, id & 255, 1])) }
      else if (type === 3) {
        const qos = (flags >> 1) & 3; const tl = body.readUInt16BE(0); const t = body.toString('utf8', 2, 2 + tl)
        let p = 2 + tl; let id = 0; if (qos) { id = body.readUInt16BE(p); p += 2 }
        if (qos) send(c, Buffer.from([0x40, 2, id >> 8, id & 255]))
        const set = subs.get(t); if (set) for (const s of set) { const frame = Buffer.from(buf.subarray(start, off)); if (qos) { const pid = s.pid = (s.pid % 65535) + 1; frame.writeUInt16BE(pid, (i - start) + 2 + tl) } send(s, frame) }
      } else if (type === 12) send(c, Buffer.from([0xd0, 0]))
      else if (type === 14) sock.end()
    }
    if (off < buf.length) c.pending = Buffer.from(buf.subarray(off))
  })
  sock.on('error', () => {})
  sock.on('close', () => { for (const set of subs.values()) set.delete(c); dirty.delete(c) })
})
server.listen(+process.argv[2], '127.0.0.1')
