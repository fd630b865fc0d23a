/**
 * The HTTP listener through real HTTP requests: health while starting and ready, /metrics in
 * both formats while real MQTT clients connect and publish (promtool accepts the output), the
 * OpenAPI document, and JSON 404s.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, waitUntil } from "../support/clients.js"
import { consumeN, kafkaClient, useKafkaClients } from "../support/kafka.js"
import { promtoolAccepts, sample } from "../support/metrics.js"
import { mainPath } from "../support/startBrokerProcess.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const clients = useKafkaClients()

describe("HTTP listener", () => {
  let broker: TestBroker
  let base: string
  beforeAll(async () => {
    broker = await startBroker({ storage: "sqlite", http: { port: 0 } })
    base = `http://127.0.0.1:${broker.httpPort}`
  })
  afterAll(async () => {
    await broker.stop()
    broker.cleanup()
  })

  it("answers /health/live and /health/ready with 200 once the listeners accept", async () => {
    for (const path of ["/health/live", "/health/ready"]) {
      const res = await fetch(base + path)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ status: "ok", phase: "ready" })
    }
  })

  it("/metrics moves with real MQTT traffic, and promtool accepts it", async () => {
    const before = await (await fetch(base + "/metrics")).text()
    const received0 = sample(before, "robustmq_mqtt_messages_received_total")!
    const sent0 = sample(before, "robustmq_mqtt_messages_sent_total")!
    const sub = await connect(broker.url, { protocolVersion: 5, clientId: "metrics-sub" })
    const pub = await connect(broker.url, { protocolVersion: 4, clientId: "metrics-pub" })
    await sub.client.subscribeAsync("metrics/#", { qos: 1 })
    for (let i = 0; i < 25; i++) await pub.client.publishAsync(`metrics/${i}`, `m${i}`, { qos: 1 })
    await sub.waitFor(25)
    const res = await fetch(base + "/metrics")
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    expect(sample(text, `robustmq_mqtt_connections{listener="tcp",protocol="5.0"}`)).toBe(1)
    expect(sample(text, `robustmq_mqtt_connections{listener="tcp",protocol="3.1.1"}`)).toBe(1)
    expect(sample(text, `robustmq_mqtt_sessions{state="online"}`)).toBe(2)
    expect(sample(text, "robustmq_mqtt_subscriptions")).toBe(1)
    expect(sample(text, "robustmq_mqtt_messages_received_total")! - received0).toBe(25)
    expect(sample(text, "robustmq_mqtt_messages_sent_total")! - sent0).toBe(25)
    // Process metrics under their usual Node.js names.
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
    expect(text).toContain("nodejs_eventloop_lag_seconds")
    await pub.end()
    await sub.end()
    await waitUntil(() => broker.server.context.connected === 0)
    const after = await (await fetch(base + "/metrics")).text()
    expect(sample(after, `robustmq_mqtt_connections{listener="tcp",protocol="5.0"}`)).toBeUndefined()
    expect(sample(after, `robustmq_mqtt_sessions{state="online"}`)).toBe(0)

    promtoolAccepts(text)
  })

  it("/metrics shows Kafka requests, partitions and a consumer group's committed offset and lag (kafka_exporter names)", async () => {
    const kafka = kafkaClient(broker.kafkaPort, "metrics-kafka")
    const producer = await clients.producer(kafka)
    const topic = "metrics-orders"
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}` })) })
    const consumer = await clients.consumer(kafka, { groupId: "metrics-group" })
    await consumeN(consumer, topic, 10)
    const scrape = async () => await (await fetch(base + "/metrics")).text()
    const series = `{consumergroup="metrics-group",topic="${topic}",partition="0"}`
    // kafkajs commits after the batch; the broker's metric follows the committed offset.
    let text = ""
    for (let i = 0; i < 100 && sample(text, `kafka_consumergroup_current_offset${series}`) !== 10; i++) {
      text = await scrape()
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(sample(text, `kafka_consumergroup_current_offset${series}`)).toBe(10)
    expect(sample(text, `kafka_consumergroup_lag${series}`)).toBe(0)
    await producer.send({ topic, messages: [{ value: "a" }, { value: "b" }, { value: "c" }] })
    text = await scrape()
    expect(sample(text, `kafka_topic_partition_current_offset{topic="${topic}",partition="0"}`)).toBe(13)
    expect(sample(text, `kafka_consumergroup_lag${series}`)).toBe(3)
    expect(sample(text, `kafka_topic_partitions{topic="${topic}"}`)).toBe(1)
    expect(sample(text, `robustmq_kafka_requests_total{api="Produce"}`)).toBeGreaterThanOrEqual(2)
    expect(sample(text, `robustmq_kafka_requests_total{api="Fetch"}`)).toBeGreaterThan(0)
    expect(sample(text, "robustmq_kafka_connections")).toBeGreaterThan(0)
    promtoolAccepts(text)
  })

  it("serves OpenMetrics when the scraper asks for it", async () => {
    const res = await fetch(base + "/metrics", { headers: { accept: "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5" } })
    expect(res.headers.get("content-type")).toMatch(/^application\/openmetrics-text; version=1\.0\.0/)
    const text = await res.text()
    expect(text.trimEnd().endsWith("# EOF")).toBe(true)
    expect(text).toContain("# TYPE robustmq_mqtt_messages_received counter")
  })

  it("describes itself in /api/v1/openapi.json and answers unknown routes with a JSON 404", async () => {
    const doc = await (await fetch(base + "/api/v1/openapi.json")).json() as { info: { title: string }; paths: Record<string, unknown> }
    expect(doc.info.title).toBe("RobustMQ-TS")
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/health/live", "/health/ready", "/metrics"]))
    const res = await fetch(base + "/no/such/route")
    expect(res.status).toBe(404)
    expect(res.headers.get("content-type")).toMatch(/^application\/json/)
    expect(await res.json()).toEqual({ _tag: "NotFound", message: "no route GET /no/such/route: see /api/v1/openapi.json" })
  })
})

describe("readiness across start-up", () => {
  it("/health/ready is 503 while storage opens (the listener is up first), then 200", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "robustmq-ready-"))
    const child = spawn(process.execPath, [mainPath, "start", "--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--kafka-port", "0", "--data-dir", dataDir], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ROBUSTMQ_KAFKA_HOST: "127.0.0.1", ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_HTTP_PORT: "0", ROBUSTMQ_TEST_STARTUP_DELAY_MS: "4000" }
    })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d))
    try {
      await waitUntil(() => /HTTP listening on [^\s]+:\d+/.test(out), 30_000, () => `the HTTP listener; output: ${out}`)
      const base = `http://127.0.0.1:${/HTTP listening on [^\s]+:(\d+)/.exec(out)![1]}`
      const starting = await fetch(base + "/health/ready")
      expect(starting.status).toBe(503)
      expect(await starting.json()).toMatchObject({ _tag: "NotReady", phase: "starting" })
      expect((await fetch(base + "/health/live")).status).toBe(200)
      await waitUntil(() => /MQTT listening/.test(out), 15_000, () => `the MQTT listener; output: ${out}`)
      const deadline = Date.now() + 5000
      let status = 0
      while (status !== 200 && Date.now() < deadline) status = (await fetch(base + "/health/ready")).status
      expect(status).toBe(200)
    } finally {
      child.kill("SIGKILL")
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 60_000) // a loaded machine starts node slowly
})
