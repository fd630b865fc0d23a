#!/usr/bin/env node
/**
 * Screenshots of every console page into docs/console/, taken in headless Chromium against a
 * broker (dist/src/main.js, in memory) carrying some traffic: MQTT clients publishing and
 * subscribing, retained messages, an offline persistent session, a Kafka topic with a producer
 * and a consumer group that lags, users and an ACL (anonymous clients still allowed), and a ban. Run `npm run build` first; needs /usr/bin/chromium.
 *
 *   node scripts/console-screenshots.mjs
 */
import { spawn, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { createServer } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Kafka, logLevel } from "kafkajs"
import mqtt from "mqtt"
import { chromium } from "playwright-core"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const out = join(root, "docs", "console")
mkdirSync(out, { recursive: true })

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer().once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const [mqttPort, kafkaPort, httpPort, wsPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
// Users (made with `robustmq passwd`) and an ACL, so the access page has something to show.
const authDir = mkdtempSync(join(tmpdir(), "robustmq-screenshots-"))
const passwordFile = join(authDir, "passwd")
for (const user of ["devices", "dashboard", "ops"]) {
  const made = spawnSync(process.execPath, [join(root, "dist/src/main.js"), "passwd", "--password", `${user}-pw`, "--iterations", "1000", passwordFile, user], { encoding: "utf8" })
  if (made.status !== 0) throw new Error(`robustmq passwd failed: ${made.stderr}`)
}
const aclFile = join(authDir, "acl")
writeFileSync(aclFile, [
  "# anonymous clients", "topic readwrite sensors/#", "topic readwrite jobs/#", "topic readwrite alerts/#", "topic read $SYS/#",
  "pattern readwrite devices/%c/#", "",
  "user devices", "topic write sensors/#", "topic read devices/+/cmd", "",
  "user dashboard", "topic read sensors/#", "topic readwrite alerts/#", ""
].join("\n"))
const broker = spawn(process.execPath, [join(root, "dist/src/main.js"), "start", "--storage", "memory",
  "--mqtt-port", String(mqttPort), "--kafka-port", String(kafkaPort), "--http-port", String(httpPort), "--ws-port", String(wsPort)], {
  env: {
    ...process.env,
    ROBUSTMQ_HTTP_HOST: "127.0.0.1",
    ROBUSTMQ_MQTT_HOST: "127.0.0.1",
    ROBUSTMQ_KAFKA_HOST: "127.0.0.1",
    ROBUSTMQ_AUTH_PASSWORD_FILE: passwordFile,
    ROBUSTMQ_AUTH_ACL_FILE: aclFile
  },
  stdio: ["ignore", "pipe", "inherit"]
})
let log = ""
broker.stdout.on("data", (d) => (log += d))
const base = `http://127.0.0.1:${httpPort}`
for (let i = 0; ; i++) {
  if (i > 100) throw new Error(`the broker did not become ready:\n${log}`)
  const ready = await fetch(base + "/health/ready").then((r) => r.ok, () => false)
  if (ready) break
  await sleep(200)
}

const stops = []
const cleanUp = async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {})
  broker.kill("SIGTERM")
  rmSync(authDir, { recursive: true, force: true })
}

try {
  // MQTT: sensors publishing (some retained), dashboards subscribed, one persistent session left offline.
  const url = `mqtt://127.0.0.1:${mqttPort}`
  const connect = (clientId, options = {}) =>
    new Promise((resolve, reject) => {
      const client = mqtt.connect(url, { clientId, reconnectPeriod: 0, ...options })
      client.once("connect", () => resolve(client))
      client.once("error", reject)
    })
  const sensors = []
  for (let i = 1; i <= 6; i++) sensors.push(await connect(`sensor-${String(i).padStart(2, "0")}`, { protocolVersion: i % 2 ? 5 : 4, ...(i <= 2 ? { username: "devices", password: "devices-pw" } : {}) }))
  const dashboard = await connect("dashboard", { protocolVersion: 5, username: "dashboard", password: "dashboard-pw" })
  await dashboard.subscribeAsync({ "sensors/+/temperature": { qos: 1 }, "alerts/#": { qos: 0 } })
  const shared = await connect("worker-a", { protocolVersion: 5 })
  await shared.subscribeAsync("$share/workers/jobs/#", { qos: 1 })
  const offline = await connect("archiver", { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 86400 } })
  await offline.subscribeAsync("sensors/#", { qos: 1 })
  await offline.endAsync()
  for (const [i, s] of sensors.entries()) {
    await s.publishAsync(`sensors/room-${i + 1}/config`, JSON.stringify({ unit: "C", interval: 5 }), { qos: 1, retain: true })
  }
  stops.push(async () => {
    for (const c of [...sensors, dashboard, shared]) await c.endAsync(true)
  })
  let n = 0
  const publisher = setInterval(() => {
    for (const [i, s] of sensors.entries()) s.publish(`sensors/room-${i + 1}/temperature`, String(20 + Math.round(Math.sin(n / 5 + i) * 30) / 10), { qos: (n + i) % 2 })
    if (n % 4 === 0) sensors[0].publish("jobs/resize", `job-${n}`, { qos: 1 })
    n++
  }, 100)
  stops.push(async () => clearInterval(publisher))

  // Kafka: a topic, a producer, and a consumer group that reads slower than the producer writes.
  const kafka = new Kafka({ clientId: "screenshots", brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: "orders", numPartitions: 3 }, { topic: "payments", numPartitions: 1 }] })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  let k = 0
  const producing = setInterval(() => {
    void producer.send({ topic: "orders", messages: Array.from({ length: 5 }, () => ({ key: `o-${k}`, value: JSON.stringify({ order: k++ }) })) }).catch(() => {})
  }, 200)
  stops.push(async () => {
    clearInterval(producing)
    await producer.disconnect()
  })
  const consumer = kafka.consumer({ groupId: "billing" })
  await consumer.connect()
  await consumer.subscribe({ topic: "orders", fromBeginning: true })
  await consumer.run({ eachMessage: async () => sleep(50) })
  stops.push(() => consumer.disconnect())

  // Admin API state, where the routes exist: a ban.
  await fetch(base + "/api/v1/bans", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ kind: "ip", value: "203.0.113.0/24", durationSeconds: 3600, reason: "scanner" })
  }).catch(() => {})

  await sleep(2000)
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" })
  stops.push(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1360, height: 860 }, deviceScaleFactor: 1 })
  page.on("pageerror", (e) => console.error("page error:", e.message))

  const shoot = async (name, path, prepare = async () => {}, fullPage = false) => {
    await page.goto(base + path)
    await prepare()
    await sleep(800)
    await page.screenshot({ path: join(out, `${name}.png`), fullPage })
    console.log(`docs/console/${name}.png`)
  }
  // Two /metrics reads (15 s apart) give the records-appended rate.
  await shoot("overview", "/", () => sleep(17_000))
  await shoot("clients", "/console/clients")
  await shoot("sessions", "/console/sessions")
  await shoot("subscriptions", "/console/subscriptions")
  await shoot("topics", "/console/topics", async () => {
    await page.locator("input[name=prefix]").first().fill("sensors/")
    await page.locator("button", { hasText: "Filter" }).first().click()
    await page.locator('[data-testid=kafka-topics] tr[data-key=orders] button', { hasText: "details" }).click()
    await page.locator(".detail-view").waitFor({ timeout: 5000 })
  }, true)
  await shoot("retained", "/console/retained", async () => {
    await page.locator("input[name=filter]").fill("sensors/#")
    await page.locator("button", { hasText: "Filter" }).click()
    await page.locator('tr[data-key="sensors/room-1/config"] button', { hasText: "details" }).click()
    await page.getByTestId("retained-message").waitFor({ timeout: 5000 })
  })
  await shoot("groups", "/console/groups", async () => {
    await sleep(500)
    await page.locator("tr[data-key=billing] button", { hasText: "details" }).click()
    await page.getByTestId("group-offsets").waitFor({ timeout: 5000 })
  })
  await shoot("access", "/console/access")
  await shoot("events", "/console/events", async () => {
    await sleep(500)
    // Something for the live tail: a session that comes and goes.
    const passer = await connect("passing-by", { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
    await passer.subscribeAsync("alerts/#", { qos: 1 })
    await passer.endAsync()
    await sleep(1500)
  })
  await shoot("mqtt-client", `/console/mqtt?url=${encodeURIComponent(`ws://127.0.0.1:${wsPort}/mqtt`)}`, async () => {
    await page.locator("input[name=clientId]").fill("console-browser")
    await page.locator("button[name=connect]").click()
    await page.getByTestId("mqtt-status").filter({ hasText: /^connected$/ }).waitFor({ timeout: 10_000 })
    await page.locator("input[name=filter]").fill("sensors/room-1/#")
    await page.locator("button[name=subscribe]").click()
    await sleep(2500)
  })
  await shoot("config", "/console/config", () => page.getByTestId("config").filter({ hasText: "storage" }).waitFor({ timeout: 5000 }))
} finally {
  await cleanUp()
}
