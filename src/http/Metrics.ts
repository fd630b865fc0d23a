/**
 * The Prometheus registry every part of the broker registers its metrics in. Metrics are read at
 * scrape time (`collect` callbacks over the counters and gauges the broker keeps anyway), so
 * nothing on the per-message path calls into prom-client. Process metrics (CPU, RSS, heap, GC,
 * event-loop lag) are prom-client's defaults, under their usual names so existing Node.js
 * dashboards work. With the HTTP listener off there is no registry and no collection at all.
 *
 * Two registries hold the same metric objects: one renders the Prometheus text format, the
 * other OpenMetrics (a registry's format is a property of the registry, and two concurrent
 * scrapes must not switch it under each other). The big families (per partition, per group,
 * per topic) and the histograms kept as plain arrays bypass prom-client: they are rendered
 * straight into the text (exposition.ts) and appended to its output.
 */
import { readdir } from "node:fs/promises"
import { Context, Effect, Layer } from "effect"
import { collectDefaultMetrics, Counter, Gauge, type OpenMetricsContentType, Registry } from "prom-client"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { ExpositionWriter, type RenderedFamily } from "./exposition.js"

export interface MetricsRegistries {
  readonly prometheus: Registry
  readonly openMetrics: Registry<OpenMetricsContentType>
  /** Families rendered by exposition.ts, after prom-client's. */
  readonly rendered: Set<RenderedFamily>
  /** Run in the background after a scrape (bounded work that refreshes cached values for the next). */
  readonly refreshes: Set<Effect.Effect<void>>
}

export class Metrics extends Context.Tag("broker/Metrics")<Metrics, MetricsRegistries | null>() {}

export const layer: Layer.Layer<Metrics, never, BrokerConfig> = Layer.effect(
  Metrics,
  Effect.map(BrokerConfig, (config) => {
    if (config.http.port < 0) return null
    const prometheus = new Registry()
    const openMetrics = new Registry<OpenMetricsContentType>()
    openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    collectDefaultMetrics({ register: prometheus, eventLoopMonitoringPrecision: 20 })
    for (const name of DROPPED_DEFAULTS) prometheus.removeSingleMetric(name)
    for (const metric of prometheus.getMetricsAsArray()) openMetrics.registerMetric(metric as never)
    return { prometheus, openMetrics, rendered: new Set<RenderedFamily>(), refreshes: new Set<Effect.Effect<void>>() }
  })
)

const lastSize = new WeakMap<MetricsRegistries, number>()

/** One scrape's body and content type, in OpenMetrics or the Prometheus text format. */
export const scrape = (registries: MetricsRegistries, openMetrics: boolean): Effect.Effect<{ readonly body: Uint8Array; readonly contentType: string }> =>
  Effect.gen(function*() {
    // Counted off the event loop (readdir of 10k sockets took 25 ms on it, in prom-client's gauge).
    const fds = readdir("/proc/self/fd").then((names) => names.length - 1, () => -1)
    const registry = openMetrics ? registries.openMetrics : registries.prometheus
    const head = yield* Effect.promise(() => registry.metrics())
    // Sized like the last body: growing a 2 MB buffer by doubling copied it three times.
    const out = new ExpositionWriter(openMetrics, Math.max(head.length * 2, lastSize.get(registries) ?? 0) + (1 << 16))
    // OpenMetrics ends with "# EOF": our families go before it.
    const eof = openMetrics ? head.lastIndexOf("# EOF") : -1
    out.raw(eof < 0 ? head : head.slice(0, eof))
    for (const family of registries.rendered) out.family(family)
    const openFds = yield* Effect.promise(() => fds)
    if (openFds >= 0) out.raw(`# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds ${openFds}\n`)
    if (openMetrics) out.raw("# EOF\n")
    yield* startRefreshes(registries)
    const body = out.result()
    lastSize.set(registries, body.length)
    return { body, contentType: registry.contentType }
  })

/** Refreshes run after a scrape, in the background, one round at a time: the next scrape sees them. */
const refreshing = new WeakSet<MetricsRegistries>()
const startRefreshes = (registries: MetricsRegistries) =>
  refreshing.has(registries) || registries.refreshes.size === 0
    ? Effect.void
    : Effect.asVoid(Effect.forkDaemon(Effect.ensuring(
      Effect.suspend(() => {
        refreshing.add(registries)
        return Effect.forEach(registries.refreshes, (r) => r, { discard: true })
      }),
      Effect.sync(() => refreshing.delete(registries))
    )))

/**
 * prom-client defaults dropped: gauges named like counters (`promtool check metrics` rejects
 * them), the handle and resource counts by type (an aggregation over every socket: 4 ms per
 * scrape at 10k connections) and the open-fd count, which `scrape` counts off the event loop.
 */
const DROPPED_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
  "nodejs_active_handles",
  "nodejs_active_resources",
  "process_open_fds"
]

type Metric = Counter | Gauge

/** Sets each labelled value of a metric at scrape time. */
export type Read<L extends string> = (put: (value: number, labels?: Partial<Record<L, string>>) => void) => void

/**
 * A metric's configuration whose `collect` resets it and writes what `read` reports through
 * `write` (a gauge sets, a counter adds to zero): the one shape both scraped kinds share.
 */
const scrapedConfig = <L extends string, M extends { reset(): void }>(
  name: string,
  help: string,
  labelNames: ReadonlyArray<L>,
  read: Read<L>,
  write: (metric: M, value: number, labels: Partial<Record<L, string>> | undefined) => void
) => ({
  name,
  help,
  labelNames,
  registers: [],
  collect(this: M) {
    this.reset()
    read((value, labels) => write(this, value, labels))
  }
})

/** A gauge whose values are read at scrape time. */
export const scrapedGauge = <L extends string = never>(name: string, help: string, labelNames: ReadonlyArray<L>, read: Read<L>): Metric =>
  new Gauge(scrapedConfig(name, help, labelNames, read, (g: Gauge, value, labels) => (labels === undefined ? g.set(value) : g.set(labels as never, value))))

/** A counter kept by the broker as a plain number, copied at scrape time. */
export const scrapedCounter = <L extends string = never>(name: string, help: string, labelNames: ReadonlyArray<L>, read: Read<L>): Metric =>
  new Counter(scrapedConfig(name, help, labelNames, read, (c: Counter, value, labels) => (labels === undefined ? c.inc(value) : c.inc(labels as never, value))))

/** Runs `add` on the registries now and `remove` when the surrounding scope closes (nothing when metrics are off). */
const whileScoped = <A>(add: (registries: MetricsRegistries) => A, remove: (registries: MetricsRegistries, added: A) => void) =>
  Effect.flatMap(Metrics, (registries) =>
    registries === null
      ? Effect.void
      : Effect.asVoid(Effect.acquireRelease(Effect.sync(() => add(registries)), (added) => Effect.sync(() => remove(registries, added)))))

/** Registers `build`'s metrics in both registries for the life of the surrounding scope. */
export const registerScoped = (build: () => ReadonlyArray<Metric>) =>
  whileScoped(
    (registries) => {
      const metrics = build()
      for (const m of metrics) {
        registries.prometheus.registerMetric(m)
        registries.openMetrics.registerMetric(m)
      }
      return metrics
    },
    (registries, metrics) => {
      for (const m of metrics) {
        const name = (m as unknown as { name: string }).name
        registries.prometheus.removeSingleMetric(name)
        registries.openMetrics.removeSingleMetric(name)
      }
    }
  )

/** Adds `build`'s rendered families (and an optional refresh) for the life of the surrounding scope. */
export const registerRenderedScoped = (build: () => ReadonlyArray<RenderedFamily>, refresh?: Effect.Effect<void>) =>
  whileScoped(
    (registries) => {
      const families = build()
      for (const f of families) registries.rendered.add(f)
      if (refresh !== undefined) registries.refreshes.add(refresh)
      return families
    },
    (registries, families) => {
      for (const f of families) registries.rendered.delete(f)
      if (refresh !== undefined) registries.refreshes.delete(refresh)
    }
  )
