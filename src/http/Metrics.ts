/**
 * The Prometheus registry every part of the broker registers its metrics in. Metrics are read at
 * scrape time (`collect` callbacks over the counters and gauges the broker keeps anyway), so
 * nothing on the per-message path calls into prom-client. Process metrics (CPU, RSS, heap, GC,
 * event-loop lag) are prom-client's defaults, under their usual names so existing Node.js
 * dashboards work. With the HTTP listener off there is no registry and no collection at all.
 *
 * Two registries hold the same metric objects: one renders the Prometheus text format, the
 * other OpenMetrics (a registry's format is a property of the registry, and two concurrent
 * scrapes must not switch it under each other).
 */
import { Context, Effect, Layer } from "effect"
import { collectDefaultMetrics, Counter, Gauge, type OpenMetricsContentType, Registry } from "prom-client"
import { BrokerConfig } from "../../config/BrokerConfig.js"

export interface MetricsRegistries {
  readonly prometheus: Registry
  readonly openMetrics: Registry<OpenMetricsContentType>
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
    return { prometheus, openMetrics }
  })
)

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
