/**
 * The Grafana dashboard (config/grafana/robustmq.json) and the Prometheus example
 * (config/prometheus/prometheus.yml) against the real tools and the real broker: promtool parses
 * every PromQL expression of the dashboard (as recording rules) and the scrape config, and every
 * metric an expression names is one the broker exposes once MQTT and Kafka traffic has run.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../support/clients.js"
import { consumeN, kafkaClient, useKafkaClients } from "../support/kafka.js"
import { hasPromtool, sampleNames, scrape } from "../support/metrics.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const DASHBOARD = new URL("../../config/grafana/robustmq.json", import.meta.url).pathname
const PROMETHEUS_YML = new URL("../../config/prometheus/prometheus.yml", import.meta.url).pathname
const clients = useKafkaClients()

interface Panel {
  readonly title: string
  readonly type: string
  readonly targets?: ReadonlyArray<{ readonly expr: string }>
}
interface Dashboard {
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly definition?: string }> }
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard
/** Every panel expression, with Grafana's variables replaced by what PromQL accepts. */
const expressions = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })))
const promql = (expr: string): string => expr.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*")

/** Metric names an expression selects: every selector in the dashboard is written `name{...}`. */
const metricsOf = (expr: string): Array<string> => [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]!)

const needsPromtool = !hasPromtool && process.env.CI !== "true"

describe("the Grafana dashboard and the Prometheus example", () => {
  let broker: TestBroker
  let dir: string
  beforeAll(async () => {
    broker = await startBroker({ storage: "sqlite", http: { port: 0 } })
    dir = mkdtempSync(join(tmpdir(), "robustmq-grafana-"))
  })
  afterAll(async () => {
    await broker.stop()
    broker.cleanup()
    rmSync(dir, { recursive: true, force: true })
  })

  it("has panels for MQTT, Kafka, storage and the process, each with a metric selector", () => {
    const rows = dashboard.panels.filter((p) => p.type === "row").map((p) => p.title)
    expect(rows).toEqual(["MQTT", "Kafka", "Storage", "Process"])
    expect(expressions.length).toBeGreaterThan(20)
    for (const { panel, expr } of expressions) expect(metricsOf(expr), `${panel}: ${expr}`).not.toEqual([])
  })

  it.skipIf(needsPromtool)("promtool parses every expression and the scrape config", () => {
    const rules = ["groups:", "  - name: dashboard", "    rules:"]
    expressions.forEach(({ expr }, i) => rules.push(`      - record: dashboard:expr_${i}`, `        expr: ${JSON.stringify(promql(expr))}`))
    const file = join(dir, "dashboard.rules.yml")
    writeFileSync(file, rules.join("\n") + "\n")
    const checked = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" })
    expect(checked.status, `${checked.stdout}${checked.stderr}`).toBe(0)
    expect(checked.stdout).toContain(`SUCCESS: ${expressions.length} rules found`)
    const config = spawnSync("promtool", ["check", "config", PROMETHEUS_YML], { encoding: "utf8" })
    expect(config.status, `${config.stdout}${config.stderr}`).toBe(0)
  })

  it("names only metrics the broker exposes, once MQTT and Kafka traffic has run", async () => {
    // Traffic that makes every family appear: MQTT QoS 1, a Kafka topic produced and consumed by a group.
    const sub = await connect(broker.url, { clientId: "grafana-sub" })
    await sub.client.subscribeAsync("grafana/#", { qos: 1 })
    const pub = await connect(broker.url, { clientId: "grafana-pub" })
    for (let i = 0; i < 10; i++) await pub.client.publishAsync("grafana/t", `m${i}`, { qos: 1 })
    await sub.waitFor(10)
    const kafka = kafkaClient(broker.kafkaPort, "grafana-kafka")
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "grafana-orders", messages: [{ value: "a" }, { value: "b" }] })
    await consumeN(await clients.consumer(kafka, { groupId: "grafana-group" }), "grafana-orders", 2)
    let exposed = new Set<string>()
    // kafkajs commits after the batch: the group's lag appears with its first commit.
    for (let i = 0; i < 50 && !exposed.has("kafka_consumergroup_lag"); i++) {
      exposed = sampleNames(await scrape(`http://127.0.0.1:${broker.httpPort}`))
      if (!exposed.has("kafka_consumergroup_lag")) await new Promise((r) => setTimeout(r, 100))
    }
    const missing: Array<string> = []
    for (const { panel, expr } of expressions) for (const name of metricsOf(expr)) if (!exposed.has(name)) missing.push(`${panel}: ${name}`)
    for (const variable of dashboard.templating.list) {
      const m = /label_values\((\w+)/.exec(variable.definition ?? "")
      if (m !== null && !exposed.has(m[1]!)) missing.push(`variable ${variable.name}: ${m[1]}`)
    }
    expect(missing).toEqual([])
    await pub.end()
    await sub.end()
  })
})
