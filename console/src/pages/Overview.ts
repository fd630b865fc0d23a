/**
 * The overview: counts and live rates read from /metrics every two seconds (the same numbers
 * Prometheus sees), charted with uPlot over the last ten minutes. History is kept per tab while
 * the console is open, so leaving the page and coming back keeps the curves.
 */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { get, metricsText } from "../api.js"
import { Chart, compact } from "../components/Chart.js"
import { parsePrometheus, type Scrape, sum } from "../promText.js"

const POLL_MS = 2000
const KEEP_POINTS = 300

/** The numbers one scrape gives the page. */
interface Reading {
  readonly at: number
  readonly mqttConnections: number
  readonly kafkaConnections: number
  readonly sessionsOnline: number
  readonly sessionsOffline: number
  readonly subscriptions: number
  readonly retained: number
  readonly received: number
  readonly sent: number
  readonly dropped: number
  readonly produceRequests: number
  readonly fetchRequests: number
  readonly recordsAppended: number
  readonly consumerGroups: number
  readonly consumerLag: number
  readonly rssBytes: number
  readonly startedAt: number
}

const read = (scrape: Scrape, at: number): Reading => {
  const n = (name: string, where?: Record<string, string>) => sum(scrape, name, where) ?? 0
  return {
    at,
    mqttConnections: n("robustmq_mqtt_connections"),
    kafkaConnections: n("robustmq_kafka_connections"),
    sessionsOnline: n("robustmq_mqtt_sessions", { state: "online" }),
    sessionsOffline: n("robustmq_mqtt_sessions", { state: "offline" }),
    subscriptions: n("robustmq_mqtt_subscriptions"),
    retained: n("robustmq_mqtt_retained_messages"),
    received: n("robustmq_mqtt_messages_received_total"),
    sent: n("robustmq_mqtt_messages_sent_total"),
    dropped: n("robustmq_mqtt_messages_dropped_total"),
    produceRequests: n("robustmq_kafka_requests_total", { api: "Produce" }),
    fetchRequests: n("robustmq_kafka_requests_total", { api: "Fetch" }),
    recordsAppended: n("kafka_topic_partition_current_offset"),
    consumerGroups: n("robustmq_kafka_consumer_groups"),
    consumerLag: n("kafka_consumergroup_lag"),
    rssBytes: n("process_resident_memory_bytes"),
    startedAt: n("process_start_time_seconds")
  }
}

/** Per-second rate between two readings; a counter that went down (restart) counts from zero. */
const rate = (now: Reading, before: Reading | undefined, key: keyof Reading): number | null => {
  if (before === undefined) return null
  const dt = (now.at - before.at) / 1000
  if (dt <= 0) return null
  const delta = now[key] - before[key]
  return (delta < 0 ? now[key] : delta) / dt
}

interface History {
  readings: Array<Reading>
  times: Array<number>
  connections: Array<number | null>
  kafkaConnections: Array<number | null>
  inRate: Array<number | null>
  outRate: Array<number | null>
  produceRate: Array<number | null>
  fetchRate: Array<number | null>
  appendRate: Array<number | null>
}

const history: History = { readings: [], times: [], connections: [], kafkaConnections: [], inRate: [], outRate: [], produceRate: [], fetchRate: [], appendRate: [] }

const record = (reading: Reading): void => {
  const before = history.readings[history.readings.length - 1]
  history.readings.push(reading)
  history.times.push(reading.at / 1000)
  history.connections.push(reading.mqttConnections)
  history.kafkaConnections.push(reading.kafkaConnections)
  history.inRate.push(rate(reading, before, "received"))
  history.outRate.push(rate(reading, before, "sent"))
  history.produceRate.push(rate(reading, before, "produceRequests"))
  history.fetchRate.push(rate(reading, before, "fetchRequests"))
  history.appendRate.push(rate(reading, before, "recordsAppended"))
  if (history.readings.length > KEEP_POINTS) for (const list of Object.values(history)) list.shift()
}

const Stat = ({ id, label, value, hint }: { id: string; label: string; value: string; hint?: string }) =>
  html`<div class="stat" data-stat=${id} title=${hint ?? ""}><div class="stat-value">${value}</div><div class="stat-label">${label}</div></div>`

const perSecond = (list: ReadonlyArray<number | null>): string => {
  const last = list[list.length - 1]
  return last === null || last === undefined ? "–" : `${compact(Math.round(last * 10) / 10)}/s`
}

const uptime = (startedAt: number): string => {
  if (startedAt === 0) return "–"
  let s = Math.max(0, Math.floor(Date.now() / 1000 - startedAt))
  const d = Math.floor(s / 86400)
  s -= d * 86400
  const h = Math.floor(s / 3600)
  const m = Math.floor((s - h * 3600) / 60)
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${s - m * 60}s`
}

interface BrokerInfo {
  readonly version: string
  readonly startedAt: string
  readonly storage: string
  readonly listeners: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number }>
}

/** Version, storage and listeners from the overview API (absent when it is not reachable). */
const BrokerLine = ({ info }: { info: BrokerInfo | null }) =>
  info === null ? null : html`
    <p class="broker-line" data-testid="broker-line">
      RobustMQ-TS <b>${info.version}</b>${" · storage "}<b>${info.storage}</b>${` · started ${new Date(info.startedAt).toLocaleString()} · `}
      ${info.listeners.filter((l) => l.port > 0).map((l, i) => html`${i > 0 ? ", " : ""}${l.name}${" "}<code>${l.host}:${l.port}</code>`)}
    </p>`

export const Overview = () => {
  const [tick, setTick] = useState(0)
  const [error, setError] = useState<string | null>(null)
  const [info, setInfo] = useState<BrokerInfo | null>(null)
  useEffect(() => {
    get<BrokerInfo>("/api/v1/overview").then(setInfo, () => setInfo(null))
  }, [])

  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = async () => {
      try {
        const text = await metricsText()
        if (stopped) return
        record(read(parsePrometheus(text), Date.now()))
        setError(null)
        setTick((t) => t + 1)
      } catch (e) {
        if (!stopped) setError(e instanceof Error ? e.message : String(e))
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS)
    }
    void poll()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [])

  const last = history.readings[history.readings.length - 1]
  const t = history.times
  return html`
    <div class="page" data-tick=${tick}>
      <h2>Overview</h2>
      <${BrokerLine} info=${info} />
      ${error !== null && html`<p class="error">Cannot read /metrics: ${error}</p>`}
      ${last === undefined ? html`<p>Loading…</p>` : html`
        <div class="stats">
          <${Stat} id="mqtt-connections" label="MQTT connections" value=${compact(last.mqttConnections)} />
          <${Stat} id="kafka-connections" label="Kafka connections" value=${compact(last.kafkaConnections)} />
          <${Stat} id="sessions" label="Sessions online / offline" value=${`${compact(last.sessionsOnline)} / ${compact(last.sessionsOffline)}`} />
          <${Stat} id="subscriptions" label="Subscriptions" value=${compact(last.subscriptions)} />
          <${Stat} id="retained" label="Retained messages" value=${compact(last.retained)} />
          <${Stat} id="messages-received" label="MQTT messages received" value=${String(last.received)} />
          <${Stat} id="messages-sent" label="MQTT messages sent" value=${String(last.sent)} />
          <${Stat} id="messages-dropped" label="MQTT messages dropped" value=${String(last.dropped)} />
          <${Stat} id="rate-in" label="Messages in" value=${perSecond(history.inRate)} />
          <${Stat} id="rate-out" label="Messages out" value=${perSecond(history.outRate)} />
          <${Stat} id="kafka-produce" label="Kafka produce requests" value=${perSecond(history.produceRate)} />
          <${Stat} id="kafka-fetch" label="Kafka fetch requests" value=${perSecond(history.fetchRate)} />
          <${Stat} id="consumer-groups" label="Consumer groups" value=${compact(last.consumerGroups)} />
          <${Stat} id="consumer-lag" label="Consumer lag (records)" value=${compact(last.consumerLag)} />
          <${Stat} id="rss" label="Resident memory" value=${`${compact(Math.round(last.rssBytes / 1048576))} MiB`} />
          <${Stat} id="uptime" label="Uptime" value=${uptime(last.startedAt)} />
        </div>`}
      <div class="charts">
        <${Chart} title="Connections" data=${[t, history.connections, history.kafkaConnections]}
          series=${[{ label: "MQTT", color: "#2563eb" }, { label: "Kafka", color: "#d97706" }]} />
        <${Chart} title="MQTT messages per second" data=${[t, history.inRate, history.outRate]}
          series=${[{ label: "in", color: "#16a34a" }, { label: "out", color: "#9333ea" }]} />
        <${Chart} title="Kafka per second" data=${[t, history.produceRate, history.fetchRate, history.appendRate]}
          series=${[{ label: "produce requests", color: "#dc2626" }, { label: "fetch requests", color: "#0891b2" }, { label: "records appended", color: "#65a30d" }]} />
      </div>
    </div>`
}
