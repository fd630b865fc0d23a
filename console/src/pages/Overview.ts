/**
 * The overview: counts and live rates from /api/v1/overview every two seconds (one pass over the
 * sessions on the broker), charted with uPlot over the last ten minutes; and what only /metrics
 * has (dropped messages, consumer lag, records appended, memory) every fifteen seconds, since a
 * scrape walks every topic and partition and costs the broker far more. History is kept per tab,
 * so leaving the page and coming back keeps the curves.
 */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { get, metricsText } from "../api.js"
import { Chart, compact } from "../components/Chart.js"
import { parsePrometheus, sum } from "../promText.js"

const POLL_MS = 2000
const METRICS_POLL_MS = 15_000
const KEEP_POINTS = 300

/** /api/v1/overview, the parts this page shows. */
interface OverviewReply {
  readonly version: string
  readonly startedAt: string
  readonly uptimeSeconds: number
  readonly storage: string
  readonly listeners: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number }>
  readonly counts: {
    readonly connections: number
    readonly sessions: number
    readonly offlineSessions: number
    readonly subscriptions: number
    readonly retained: number
    readonly kafkaTopics: number
    readonly kafkaGroups: number
    readonly kafkaConnections: number
  }
  readonly totals: { readonly messagesIn: number; readonly messagesOut: number; readonly kafkaProduceRequests: number; readonly kafkaFetchRequests: number }
}

/** What one slow /metrics read gives. */
interface MetricsReading {
  readonly at: number
  readonly dropped: number
  readonly consumerLag: number
  readonly recordsAppended: number
  readonly rssBytes: number
}

const readMetrics = (text: string, at: number): MetricsReading => {
  const scrape = parsePrometheus(text)
  const n = (name: string) => sum(scrape, name) ?? 0
  return {
    at,
    dropped: n("robustmq_mqtt_messages_dropped_total"),
    consumerLag: n("kafka_consumergroup_lag"),
    recordsAppended: n("kafka_topic_partition_current_offset"),
    rssBytes: n("process_resident_memory_bytes")
  }
}

/** Per second between two counter readings; a counter that went down (a restart) counts from zero. */
export const perSecondBetween = (now: number, before: number | undefined, seconds: number): number | null => {
  if (before === undefined || seconds <= 0) return null
  const delta = now - before
  return (delta < 0 ? now : delta) / seconds
}

const history = {
  at: [] as Array<number>,
  totals: [] as Array<OverviewReply["totals"]>,
  connections: [] as Array<number | null>,
  kafkaConnections: [] as Array<number | null>,
  inRate: [] as Array<number | null>,
  outRate: [] as Array<number | null>,
  produceRate: [] as Array<number | null>,
  fetchRate: [] as Array<number | null>
}
let latest: OverviewReply | null = null
let metrics: { now: MetricsReading; appendRate: number | null } | null = null

const record = (reply: OverviewReply, at: number): void => {
  const i = history.at.length - 1
  const before = history.totals[i]
  const seconds = i < 0 ? 0 : (at - history.at[i]!) / 1000
  const t = reply.totals
  history.at.push(at)
  history.totals.push(t)
  history.connections.push(reply.counts.connections)
  history.kafkaConnections.push(reply.counts.kafkaConnections)
  history.inRate.push(perSecondBetween(t.messagesIn, before?.messagesIn, seconds))
  history.outRate.push(perSecondBetween(t.messagesOut, before?.messagesOut, seconds))
  history.produceRate.push(perSecondBetween(t.kafkaProduceRequests, before?.kafkaProduceRequests, seconds))
  history.fetchRate.push(perSecondBetween(t.kafkaFetchRequests, before?.kafkaFetchRequests, seconds))
  if (history.at.length > KEEP_POINTS) for (const list of Object.values(history)) list.shift()
  latest = reply
}

const recordMetrics = (now: MetricsReading): void => {
  const before = metrics?.now
  metrics = { now, appendRate: before === undefined ? null : perSecondBetween(now.recordsAppended, before.recordsAppended, (now.at - before.at) / 1000) }
}

const Stat = ({ id, label, value, hint }: { id: string; label: string; value: string; hint?: string }) =>
  html`<div class="stat" data-stat=${id} title=${hint ?? ""}><div class="stat-value">${value}</div><div class="stat-label">${label}</div></div>`

const rate = (value: number | null | undefined): string => (value === null || value === undefined ? "–" : `${compact(Math.round(value * 10) / 10)}/s`)
const last = <T>(list: ReadonlyArray<T>): T | undefined => list[list.length - 1]

const uptime = (seconds: number): string => {
  let s = Math.max(0, Math.floor(seconds))
  const d = Math.floor(s / 86400)
  s -= d * 86400
  const h = Math.floor(s / 3600)
  const m = Math.floor((s - h * 3600) / 60)
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${s - m * 60}s`
}

/** Version, storage and listeners. */
const BrokerLine = ({ info }: { info: OverviewReply }) => html`
  <p class="broker-line" data-testid="broker-line">
    RobustMQ-TS <b>${info.version}</b>${" · storage "}<b>${info.storage}</b>${` · started ${new Date(info.startedAt).toLocaleString()} · `}
    ${info.listeners.filter((l) => l.port > 0).map((l, i) => html`${i > 0 ? ", " : ""}${l.name}${" "}<code>${l.host}:${l.port}</code>`)}
  </p>`

/** Calls `read` now and every `ms` while the page is open; failures go to `onError`. */
const usePoll = (ms: number, read: () => Promise<void>, onError: (message: string | null) => void) =>
  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = async () => {
      try {
        await read()
        if (!stopped) onError(null)
      } catch (e) {
        if (!stopped) onError(e instanceof Error ? e.message : String(e))
      }
      if (!stopped) timer = setTimeout(poll, ms)
    }
    void poll()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [])

export const Overview = () => {
  const [tick, setTick] = useState(0)
  const [error, setError] = useState<string | null>(null)
  const [metricsError, setMetricsError] = useState<string | null>(null)
  usePoll(POLL_MS, async () => {
    record(await get<OverviewReply>("/api/v1/overview"), Date.now())
    setTick((t) => t + 1)
  }, setError)
  usePoll(METRICS_POLL_MS, async () => {
    recordMetrics(readMetrics(await metricsText(), Date.now()))
    setTick((t) => t + 1)
  }, setMetricsError)

  const info = latest
  const m = metrics?.now
  const t = history.at.map((ms) => ms / 1000)
  return html`
    <div class="page" data-tick=${tick}>
      <h2>Overview</h2>
      ${error !== null && html`<p class="error">Cannot read /api/v1/overview: ${error}</p>`}
      ${metricsError !== null && html`<p class="error">Cannot read /metrics: ${metricsError}</p>`}
      ${info === null ? html`<p>Loading…</p>` : html`
        <${BrokerLine} info=${info} />
        <div class="stats">
          <${Stat} id="mqtt-connections" label="MQTT connections" value=${compact(info.counts.connections)} />
          <${Stat} id="kafka-connections" label="Kafka connections" value=${compact(info.counts.kafkaConnections)} />
          <${Stat} id="sessions" label="Sessions online / offline"
            value=${`${compact(info.counts.sessions - info.counts.offlineSessions)} / ${compact(info.counts.offlineSessions)}`} />
          <${Stat} id="subscriptions" label="Subscriptions" value=${compact(info.counts.subscriptions)} />
          <${Stat} id="retained" label="Retained messages" value=${compact(info.counts.retained)} />
          <${Stat} id="messages-received" label="MQTT messages received" value=${String(info.totals.messagesIn)} />
          <${Stat} id="messages-sent" label="MQTT messages sent" value=${String(info.totals.messagesOut)} />
          <${Stat} id="rate-in" label="Messages in" value=${rate(last(history.inRate))} />
          <${Stat} id="rate-out" label="Messages out" value=${rate(last(history.outRate))} />
          <${Stat} id="kafka-produce" label="Kafka produce requests" value=${rate(last(history.produceRate))} />
          <${Stat} id="kafka-fetch" label="Kafka fetch requests" value=${rate(last(history.fetchRate))} />
          <${Stat} id="kafka-appended" label="Kafka records appended" value=${rate(metrics?.appendRate)} hint="over the last 15 s, from /metrics" />
          <${Stat} id="kafka-topics" label="Kafka topics" value=${compact(info.counts.kafkaTopics)} />
          <${Stat} id="consumer-groups" label="Consumer groups" value=${compact(info.counts.kafkaGroups)} />
          <${Stat} id="consumer-lag" label="Consumer lag (records)" value=${m === undefined ? "–" : compact(m.consumerLag)} hint="from /metrics, every 15 s" />
          <${Stat} id="messages-dropped" label="MQTT messages dropped" value=${m === undefined ? "–" : String(m.dropped)} hint="from /metrics, every 15 s" />
          <${Stat} id="rss" label="Resident memory" value=${m === undefined ? "–" : `${compact(Math.round(m.rssBytes / 1048576))} MiB`} />
          <${Stat} id="uptime" label="Uptime" value=${uptime(info.uptimeSeconds)} />
        </div>`}
      <div class="charts">
        <${Chart} title="Connections" data=${[t, history.connections, history.kafkaConnections]}
          series=${[{ label: "MQTT", color: "#2563eb" }, { label: "Kafka", color: "#d97706" }]} />
        <${Chart} title="MQTT messages per second" data=${[t, history.inRate, history.outRate]}
          series=${[{ label: "in", color: "#16a34a" }, { label: "out", color: "#9333ea" }]} />
        <${Chart} title="Kafka requests per second" data=${[t, history.produceRate, history.fetchRate]}
          series=${[{ label: "produce", color: "#dc2626" }, { label: "fetch", color: "#0891b2" }]} />
      </div>
    </div>`
}
