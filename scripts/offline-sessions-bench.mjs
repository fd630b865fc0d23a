#!/usr/bin/env node
// Offline persistent sessions benchmark (issue 8, item 5): N persistent MQTT 5 sessions subscribe
// to one topic and go offline; M QoS 1 messages are published to it, so the broker owes N x M
// messages; then the broker's RSS is read, and a sample of sessions comes back and must get all M,
// in order. A broker that queues owed messages in memory grows with N x M; one that keeps cursors
// into the log does not.
// Usage: node scripts/offline-sessions-bench.mjs [--sessions N] [--messages M] [--sample K]
//        [--concurrency C] [--dist DIR]   (DIR: a built checkout's dist/, default ./dist)
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import net from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import mqttPacket from "mqtt-packet"

const { values: opts } = parseArgs({
  options: {
    sessions: { type: "string", default: "10000" },
    messages: { type: "string", default: "100" },
    sample: { type: "string", default: "20" },
    concurrency: { type: "string", default: "200" },
    dist: { type: "string", default: "dist" }
  }
})
const N = Number(opts.sessions), M = Number(opts.messages), SAMPLE = Math.min(Number(opts.sample), N), C = Number(opts.concurrency)
const TOPIC = "fleet/all"

/** Live heap (MB) after a full GC in the broker (see the preload in main). */
const heapMB = async (pid, file) => {
  rmSync(file, { force: true })
  process.kill(pid, "SIGUSR2")
  for (let i = 0; i < 1200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50)) // a full GC of a big heap, behind busy work
  await new Promise((r) => setTimeout(r, 50))
  return Math.round(Number(readFileSync(file, "utf8")) / 1048576)
}

const rssMB = (pid) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
  return Math.round(Number(line.split(/\s+/)[1]) / 1024)
}

/** One MQTT 5 connection speaking raw packets; `next(cmd)` resolves with the next packet of that kind. */
const open = (port, clientId) =>
  new Promise((resolvePromise, reject) => {
    const socket = net.connect(port, "127.0.0.1")
    const parser = mqttPacket.parser({ protocolVersion: 5 })
    const waiting = []
    const seen = []
    parser.on("packet", (p) => {
      const i = waiting.findIndex((w) => w.cmd === p.cmd)
      if (i >= 0) waiting.splice(i, 1)[0].resolve(p)
      else seen.push(p)
    })
    socket.on("data", (d) => parser.parse(d))
    socket.on("error", reject)
    const conn = {
      socket,
      seen,
      send: (p) => socket.write(mqttPacket.generate(p, { protocolVersion: 5 })),
      next: (cmd) => {
        const i = seen.findIndex((p) => p.cmd === cmd)
        if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0])
        return new Promise((r) => waiting.push({ cmd, resolve: r }))
      },
      close: () => new Promise((r) => socket.end(r))
    }
    socket.on("connect", async () => {
      conn.send({ cmd: "connect", protocolVersion: 5, clientId, clean: false, keepalive: 0, properties: { sessionExpiryInterval: 3600 } })
      const ack = await conn.next("connack")
      if (ack.reasonCode !== 0) return reject(new Error(`CONNACK ${ack.reasonCode} for ${clientId}`))
      resolvePromise(conn)
    })
  })

const inBatches = async (count, what, f) => {
  let done = 0, last = Date.now()
  const worker = async () => {
    for (let i; (i = done++) < count;) {
      await f(i)
      if (Date.now() - last > 2000) {
        last = Date.now()
        process.stderr.write(`  ${what}: ${Math.min(done, count)}/${count}\n`)
      }
    }
  }
  await Promise.all(Array.from({ length: C }, worker))
}

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), "offline-bench-"))
  const port = 20000 + Math.floor(Math.random() * 20000)
  // Heap after a full GC, on SIGUSR2 (a preload of this benchmark's own): RSS alone mostly
  // shows how far the heap grew before V8 collected, not what is live.
  const heapFile = join(dir, "heap")
  const preload = join(dir, "heap-probe.cjs")
  writeFileSync(preload, `process.on("SIGUSR2", () => { globalThis.gc(); require("fs").writeFileSync(${JSON.stringify(heapFile)}, String(process.memoryUsage().heapUsed)) })`)
  const broker = spawn(process.execPath, ["--expose-gc", "--require", preload, resolve(opts.dist, "src/main.js"), "start", "--mqtt-host", "127.0.0.1", "--mqtt-port", String(port), "--kafka-port", "0", "--data-dir", dir], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_HTTP_PORT: "0" } })
  try {
    for (let i = 0; i < 100; i++) {
      const up = await new Promise((r) => net.connect(port, "127.0.0.1").on("connect", function () { this.destroy(); r(true) }).on("error", () => r(false)))
      if (up) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const idle = rssMB(broker.pid)
    const heapIdle = await heapMB(broker.pid, heapFile)
    const started = Date.now()
    await inBatches(N, "sessions subscribed and offline", async (i) => {
      const c = await open(port, `s${i}`)
      c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: TOPIC, qos: 1 }], properties: { subscriptionIdentifier: 7 } })
      await c.next("suback")
      c.send({ cmd: "disconnect", reasonCode: 0 })
      await c.close()
    })
    const subscribedS = (Date.now() - started) / 1000
    const offline = rssMB(broker.pid)
    const heapOffline = await heapMB(broker.pid, heapFile)
    const pub = await open(port, "publisher")
    for (let m = 0; m < M; m++) {
      pub.send({ cmd: "publish", topic: TOPIC, qos: 1, messageId: (m % 65535) + 1, payload: Buffer.from(`m${m}`) })
      await pub.next("puback")
    }
    await pub.close()
    await new Promise((r) => setTimeout(r, 2000))
    const owed = rssMB(broker.pid)
    const heapOwed = await heapMB(broker.pid, heapFile)
    let wrong = 0
    for (let k = 0; k < SAMPLE; k++) {
      const c = await open(port, `s${Math.floor((k * N) / SAMPLE)}`)
      const got = []
      while (got.length < M) {
        const p = await c.next("publish")
        got.push(`${p.payload}|${p.properties?.subscriptionIdentifier}`)
        c.send({ cmd: "puback", messageId: p.messageId, reasonCode: 0 })
      }
      if (got.join() !== Array.from({ length: M }, (_, m) => `m${m}|7`).join()) wrong++
      c.send({ cmd: "disconnect", reasonCode: 0 })
      await c.close()
    }
    console.log(JSON.stringify({ sessions: N, messages: M, owed: N * M, subscribeSeconds: subscribedS, rssIdleMB: idle, rssOfflineMB: offline, rssOwedMB: owed, heapIdleMB: heapIdle, heapOfflineMB: heapOffline, heapOwedMB: heapOwed, heapPerSessionBytes: Math.round(((heapOffline - heapIdle) * 1048576) / N), heapOwedGrowthMB: heapOwed - heapOffline, sampleChecked: SAMPLE, sampleWrong: wrong }))
    process.exitCode = wrong === 0 ? 0 : 1
  } finally {
    broker.kill("SIGTERM")
    await new Promise((r) => broker.on("exit", r))
    rmSync(dir, { recursive: true, force: true })
  }
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
