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
import { Context, Effect, Layer } from "effect"
import { collectDefaultMetrics, Counter, Gauge, type OpenMetricsContentType, Registry } from "prom-client"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { renderFamilies, type RenderedFamily } from "./exposition.js"

export interface MetricsRegistries {
  readonly prometheus: Registry
  readonly openMetrics: Registry<OpenMetricsContentType>
  /** Families rendered by exposition.ts, after prom-client's. */
  readonly rendered: Set<RenderedFamily>
  /** Run before each scrape renders (bounded work that refreshes cached values). */
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
    // Gauges named like counters: `promtool check metrics` rejects them (nodejs_active_handles
    // and _requests per type stay).
    for (const name of MISNAMED_DEFAULTS) prometheus.removeSingleMetric(name)
    for (const metric of prometheus.getMetricsAsArray()) openMetrics.registerMetric(metric as never)
    return { prometheus, openMetrics, rendered: new Set<RenderedFamily>(), refreshes: new Set<Effect.Effect<void>>() }
  })
)

/** One scrape's body and content type, in OpenMetrics or the Prometheus text format. */
export const scrape = (registries: MetricsRegistries, openMetrics: boolean): Effect.Effect<{ readonly body: string; readonly contentType: string }> =>
  Effect.gen(function*() {
    for (const refresh of registries.refreshes) yield* refresh
    const registry = openMetrics ? registries.openMetrics : registries.prometheus
    const head = yield* Effect.promise(() => registry.metrics())
    const rest = renderFamilies(registries.rendered, openMetrics)
    if (!openMetrics) return { body: head + rest, contentType: registry.contentType }
    // OpenMetrics ends with "# EOF": our families go before it.
    const eof = head.lastIndexOf("# EOF")
    return { body: `${eof < 0 ? head : head.slice(0, eof)}${rest}# EOF\n`, contentType: registry.contentType }
  })

const MISNAMED_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]

type Metric = Counter | Gauge

/** Sets each labelled value of a metric at scrape time. */
export type Read<L extends string> = (put: (value: number, labels?: Partial<Record<L, string>>) => void) => void

/** A gauge whose values are read at scrape time. */
export const scrapedGauge = <L extends string = never>(name: string, help: string, labelNames: ReadonlyArray<L>, read: Read<L>): Metric =>
  new Gauge({
    name,
    help,
    labelNames,
    registers: [],
    collect() {
      this.reset()
      read((value, labels) => (labels === undefined ? this.set(value) : this.set(labels as never, value)))
    }
  })

/** A counter kept by the broker as a plain number, copied at scrape time. */
export const scrapedCounter = <L extends string = never>(name: string, help: string, labelNames: ReadonlyArray<L>, read: Read<L>): Metric =>
  new Counter({
    name,
    help,
    labelNames,
    registers: [],
    collect() {
      this.reset()
      read((value, labels) => (labels === undefined ? this.inc(value) : this.inc(labels as never, value)))
    }
  })

/** Registers `build`'s metrics in both registries for the life of the surrounding scope. */
export const registerScoped = (build: () => ReadonlyArray<Metric>) =>
  Effect.flatMap(Metrics, (registries) =>
    registries === null
      ? Effect.void
      : Effect.asVoid(Effect.acquireRelease(
        Effect.sync(() => {
          const metrics = build()
          for (const m of metrics) {
            registries.prometheus.registerMetric(m)
            registries.openMetrics.registerMetric(m)
          }
          return metrics
        }),
        (metrics) =>
          Effect.sync(() => {
            for (const m of metrics) {
              const name = (m as unknown as { name: string }).name
              registries.prometheus.removeSingleMetric(name)
              registries.openMetrics.removeSingleMetric(name)
            }
          })
      )))

/** Adds `build`'s rendered families (and an optional refresh) for the life of the surrounding scope. */
export const registerRenderedScoped = (build: () => ReadonlyArray<RenderedFamily>, refresh?: Effect.Effect<void>) =>
  Effect.flatMap(Metrics, (registries) =>
    registries === null
      ? Effect.void
      : Effect.asVoid(Effect.acquireRelease(
        Effect.sync(() => {
          const families = build()
          for (const f of families) registries.rendered.add(f)
          if (refresh !== undefined) registries.refreshes.add(refresh)
          return families
        }),
        (families) =>
          Effect.sync(() => {
            for (const f of families) registries.rendered.delete(f)
            if (refresh !== undefined) registries.refreshes.delete(refresh)
          })
      )))
