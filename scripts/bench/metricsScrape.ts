/**
 * Scrape cost of /metrics at scale (issue 10's target: under 50 ms with 10k connections, 10k
 * topics and 100 consumer groups), and the admin API's first pages at the same scale (target:
 * the client list under 50 ms): starts the broker (dist/src/main.js, SQLite, HTTP on a free
 * loopback port), creates the topics (kafkajs createTopics in batches) and the groups (one
 * committed offset on each of 10 topics per group, raw OffsetCommit with generation -1), opens the MQTT connections with the
 * shared load generator's `conn` scenario, then times N scrapes of each format, and N requests of
 * each admin page, while they are held.
 *   npx tsc -b && node dist/scripts/bench/metricsScrape.js [--conns 10000] [--topics 10000] [--groups 100] [--scrapes 20]
 * Progress on stderr, one JSON line and a table on stdout.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import * as net from "node:net"
import { Kafka, logLevel } from "kafkajs"
import { ApiKey, encodeRequest } from "../../src/kafka/protocol/index.js"
import { mainPath, startBrokerProcess } from "../../test/support/startBrokerProcess.js"

const { values } = parseArgs({
  options: {
    conns: { type: "string", default: "10000" },
    topics: { type: "string", default: "10000" },
    groups: { type: "string", default: "100" },
    scrapes: { type: "string", default: "20" },
    bench: { type: "string", default: join(process.cwd(), "../shared/bench/mqtt-bench.mjs") }
  }
})
const CONNS = Number(values.conns), TOPICS = Number(values.topics), GROUPS = Number(values.groups), SCRAPES = Number(values.scrapes)
const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`)

/**
 * OffsetCommit v2 with generation -1 (a commit from outside group management, as admin tools
 * send) for `groups` groups, each on 10 topics: one request at a time on one socket.
 */
const commitGroups = (port: number, groups: number, topicName: (i: number) => string, topics: number) =>
  new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let pending = Buffer.alloc(0)
    let g = 0
    const next = () => {
      if (g === groups) return void socket.end(() => resolve())
      const body = {
        groupId: `scrape-group-${g}`, generationId: -1, memberId: "", groupInstanceId: null, retentionTimeMs: -1,
        topics: Array.from({ length: 10 }, (_, k) => ({
          name: topicName((g * 10 + k) % topics),
          partitions: [{ partitionIndex: 0, committedOffset: 0, committedLeaderEpoch: -1, commitTimestamp: -1, committedMetadata: null }]
        }))
      }
      g++
      socket.write(Buffer.concat(encodeRequest({ apiKey: ApiKey.OffsetCommit, apiVersion: 2, correlationId: g, clientId: "scrape-bench" }, body)))
    }
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        pending = pending.subarray(4 + pending.readInt32BE(0))
        next()
      }
    })
    socket.on("error", reject)
    socket.on("connect", next)
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

/** `times` GETs of `url`, one after another: p50, p99 and max in ms, and the body's size. */
/** utime + stime of a process, ms (/proc/PID/stat fields 14 and 15, in clock ticks of 10 ms). */
const cpuMsOf = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/**
 * `times` GETs one after another: wall time percentiles, and the broker's CPU per request, which
 * is steadier than wall time when other processes share the cores (the held connections'
 * PINGREQs are in it too: a few per second).
 */
const timeRequests = async (url: string, times: number, pid: number, headers: Record<string, string> = {}) => {
  const ms: Array<number> = []
  let bytes = 0
  const cpu0 = cpuMsOf(pid)
  for (let i = 0; i < times; i++) {
    const t0 = performance.now()
    const res = await fetch(url, { headers })
    const body = await res.text()
    ms.push(performance.now() - t0)
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${body.slice(0, 200)}`)
    bytes = body.length
  }
  const cpuMs = (cpuMsOf(pid) - cpu0) / times
  ms.sort((a, b) => a - b)
  return { p50Ms: +percentile(ms, 0.5).toFixed(1), p99Ms: +percentile(ms, 0.99).toFixed(1), maxMs: +ms[ms.length - 1]!.toFixed(1), cpuMs: +cpuMs.toFixed(1), bytes }
}

const main = async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "robustmq-scrape-"))
  progress(`starting ${mainPath} on ${dataDir}`)
  const broker = await startBrokerProcess(dataDir, { env: { ROBUSTMQ_SYS_INTERVAL: "0" }, startTimeoutMs: 60_000 })
  let load: ChildProcess | null = null
  try {
    const kafka = new Kafka({ clientId: "scrape-bench", brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    const name = (i: number) => `scrape-${i}`
    for (let i = 0; i < TOPICS; i += 500) {
      const batch = Array.from({ length: Math.min(500, TOPICS - i) }, (_, k) => ({ topic: name(i + k), numPartitions: 1 }))
      await admin.createTopics({ topics: batch, timeout: 60_000 })
      progress(`topics ${Math.min(i + 500, TOPICS)}/${TOPICS}`)
    }
    await admin.disconnect()
    await commitGroups(broker.kafkaPort, GROUPS, name, TOPICS)
    progress(`${GROUPS} groups with 10 committed offsets each`)

    const hold = Math.ceil(CONNS / 1000) + 40
    load = spawn(process.execPath, [values.bench, "--host", "127.0.0.1", "--port", String(broker.port), "--scenario", "conn", "--conns", String(CONNS), "--conn-rate", "2000", "--duration", String(hold), "--keepalive", "120"], { stdio: ["ignore", "ignore", "inherit"] })
    const metrics = `http://127.0.0.1:${broker.httpPort}/metrics`
    const connected = async () => {
      const text = await (await fetch(metrics)).text()
      let n = 0
      for (const line of text.split("\n")) if (line.startsWith("robustmq_mqtt_connections{")) n += Number(line.slice(line.lastIndexOf(" ") + 1))
      return n
    }
    const deadline = Date.now() + 60_000
    let n = 0
    while ((n = await connected()) < CONNS && Date.now() < deadline) {
      progress(`MQTT connections ${n}/${CONNS}`)
      await new Promise((r) => setTimeout(r, 1000))
    }
    progress(`MQTT connections ${n}/${CONNS}; scraping ${SCRAPES} times per format`)
    const result: Record<string, unknown> = { conns: n, topics: TOPICS, groups: GROUPS }
    for (const [format, accept] of [["prometheus", "text/plain"], ["openmetrics", "application/openmetrics-text; version=1.0.0"]] as const) {
      const r = await timeRequests(metrics, SCRAPES, broker.child.pid!, { accept })
      result[format] = r
      progress(`${format}: p50 ${r.p50Ms} ms, max ${r.maxMs} ms, broker CPU ${r.cpuMs} ms per scrape, ${r.bytes} bytes`)
    }
    const api = `http://127.0.0.1:${broker.httpPort}/api/v1`
    for (const [page, path] of [["clients", "/clients?limit=100"], ["clientsByPrefix", "/clients?limit=100&prefix=zz"], ["sessions", "/sessions?limit=100"], ["overview", "/overview"], ["kafkaTopics", "/kafka/topics?limit=100"]] as const) {
      const r = await timeRequests(api + path, SCRAPES, broker.child.pid!).catch((e: Error) => ({ error: e.message }))
      result[page] = r
      progress(`${page}: ${"error" in r ? r.error : `p50 ${r.p50Ms} ms, max ${r.maxMs} ms, ${r.bytes} bytes`}`)
    }
    console.log(JSON.stringify(result))
  } finally {
    load?.kill("SIGKILL")
    await broker.stop(10_000)
    rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  process.stderr.write(`metrics scrape bench failed: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exit(1)
})
