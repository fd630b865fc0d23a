/**
 * A real Prometheus server (Debian's `prometheus`, installed by .ci/run) scrapes the broker every
 * second while MQTT clients publish and a Kafka consumer group falls behind; PromQL over its HTTP
 * API then returns the MQTT message rate and the group's lag.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../support/clients.js"
import { freePort } from "../support/freePort.js"
import { consumeN, kafkaClient, useKafkaClients } from "../support/kafka.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const hasPrometheus = spawnSync("prometheus", ["--version"]).status === 0
const clients = useKafkaClients()

/** One instant-vector PromQL query: the values of its series (empty when none yet). */
const query = async (base: string, promql: string): Promise<Array<number>> => {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`)
  const body = (await res.json()) as { status: string; data?: { result: Array<{ value: [number, string] }> } }
  return body.status === "success" ? body.data!.result.map((r) => Number(r.value[1])) : []
}

describe.skipIf(!hasPrometheus && process.env.CI !== "true")("a real Prometheus scraping the broker", () => {
  let broker: TestBroker
  let prometheus: ChildProcess | null = null
  let dir: string
  let output = ""
  beforeAll(async () => {
    broker = await startBroker({ http: { port: 0 } })
    dir = mkdtempSync(join(tmpdir(), "robustmq-prometheus-"))
    writeFileSync(join(dir, "prometheus.yml"), [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      "scrape_configs:",
      "  - job_name: robustmq",
      `    static_configs: [{ targets: ["127.0.0.1:${broker.httpPort}"] }]`
    ].join("\n"))
  })
  afterAll(async () => {
    prometheus?.kill("SIGKILL")
    await broker.stop()
    broker.cleanup()
    rmSync(dir, { recursive: true, force: true })
  })

  it("answers PromQL for the MQTT message rate and a Kafka consumer group's lag", async () => {
    const port = await freePort()
    prometheus = spawn("prometheus", [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`
    ], { stdio: ["ignore", "pipe", "pipe"] })
    prometheus.stdout!.on("data", (d) => (output += d))
    prometheus.stderr!.on("data", (d) => (output += d))
    const base = `http://127.0.0.1:${port}`

    // A Kafka consumer group that read 5 records, then 7 more arrive: lag 7.
    const kafka = kafkaClient(broker.kafkaPort, "prom-kafka")
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "prom-orders", messages: Array.from({ length: 5 }, (_, i) => ({ value: `v${i}` })) })
    await consumeN(await clients.consumer(kafka, { groupId: "prom-group" }), "prom-orders", 5)
    await producer.send({ topic: "prom-orders", messages: Array.from({ length: 7 }, (_, i) => ({ value: `w${i}` })) })

    // MQTT publishes, 20 a second for the whole scrape window (bounded: at most 15 s).
    const sub = await connect(broker.url, { clientId: "prom-sub" })
    await sub.client.subscribeAsync("prom/#", { qos: 1 })
    const pub = await connect(broker.url, { clientId: "prom-pub" })
    let sent = 0
    const timer = setInterval(() => {
      if (sent < 300) pub.client.publishAsync("prom/t", String(sent++), { qos: 1 }).catch(() => {})
    }, 50)
    try {
      let rate: Array<number> = []
      let lag: Array<number> = []
      const deadline = Date.now() + 15_000
      while (Date.now() < deadline) {
        rate = await query(base, "rate(robustmq_mqtt_messages_received_total[5s])").catch(() => [])
        lag = await query(base, `kafka_consumergroup_lag{consumergroup="prom-group",topic="prom-orders"}`).catch(() => [])
        if (rate.length > 0 && rate[0]! > 0 && lag[0] === 7) break
        await new Promise((r) => setTimeout(r, 500))
      }
      expect(rate.length, `no rate from Prometheus; its output: ${output.slice(-2000)}`).toBe(1)
      // About 20 messages a second are published (the 5 s window smooths the start).
      expect(rate[0]!).toBeGreaterThan(2)
      expect(rate[0]!).toBeLessThan(60)
      expect(lag).toEqual([7])
    } finally {
      clearInterval(timer)
      await pub.end()
      await sub.end()
    }
  }, 40_000)
})
