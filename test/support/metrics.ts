/**
 * Reading /metrics in tests: scrape, one sample's value, the metric names present, and
 * `promtool check metrics` (Debian `prometheus`, installed by .ci/run: never skipped in CI).
 */
import { spawnSync } from "node:child_process"
import { expect } from "vitest"

export const OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"

export const hasPromtool = spawnSync("promtool", ["--version"]).status === 0

/** The body of one scrape of `base`/metrics (OpenMetrics when asked). */
export const scrape = async (base: string, openMetrics = false): Promise<string> =>
  await (await fetch(`${base}/metrics`, openMetrics ? { headers: { accept: OPENMETRICS_ACCEPT } } : {})).text()

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
export const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(series + " "))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** Passes `text` to `promtool check metrics`: it must say nothing and exit 0. */
export const promtoolAccepts = (text: string): void => {
  if (!hasPromtool && process.env.CI !== "true") return
  const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
  expect(check.error, "promtool is missing: apt-get install prometheus").toBeUndefined()
  expect(`${check.stdout}${check.stderr}`.trim()).toBe("")
  expect(check.status).toBe(0)
}

/**
 * `promtool check metrics` on OpenMetrics: promtool 2.42 lints it as the text format, where a
 * counter's HELP (OpenMetrics names the family `x`, its samples `x_total`) looks missing. That
 * complaint alone is allowed, for counters whose family has its HELP; anything else fails.
 */
export const promtoolAcceptsOpenMetrics = (text: string): void => {
  if (!hasPromtool && process.env.CI !== "true") return
  const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
  expect(check.error, "promtool is missing: apt-get install prometheus").toBeUndefined()
  const complaints = `${check.stdout}${check.stderr}`.split("\n").filter((line) => line.trim() !== "")
  const unexpected = complaints.filter((line) => {
    const m = /^(\S+)_total no help text$/.exec(line.trim())
    return m === null || !text.includes(`# HELP ${m[1]} `) || !text.includes(`# TYPE ${m[1]} counter`)
  })
  expect(unexpected).toEqual([])
}

/** Every sample's metric name in an exposition text (`x_bucket`, `x_total`, ... as written). */
export const sampleNames = (text: string): Set<string> => {
  const names = new Set<string>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const end = line.search(/[{ ]/)
    names.add(end < 0 ? line : line.slice(0, end))
  }
  return names
}
