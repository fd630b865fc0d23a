/**
 * The exposition writer on its own: sample lines as both formats want them, label escaping,
 * counters named per format, histograms cumulative with +Inf, integers written digit by digit.
 */
import { describe, expect, it } from "vitest"
import { LatencyHistogram } from "../../domain/metrics/LatencyHistogram.js"
import { escapeLabel, ExpositionWriter, labelBytes, type RenderedFamily, samplePrefix } from "../../src/http/exposition.js"

const render = (family: RenderedFamily, openMetrics = false): string => {
  const out = new ExpositionWriter(openMetrics, 16) // tiny: every write grows the buffer
  out.family(family)
  return Buffer.from(out.result()).toString("utf8")
}

describe("ExpositionWriter", () => {
  it("writes a gauge's HELP, TYPE and samples, labels as text, kept bytes or kept prefixes", () => {
    const text = render({
      name: "g", type: "gauge", help: "a gauge\nwith a newline",
      render: (out) => {
        out.sample("", 0)
        out.sample(`topic="a"`, 42)
        out.sample(labelBytes(`topic="é"`), 1234567890123)
        out.samplePrefixed(samplePrefix("g", `topic="b"`), 7)
        out.sample(`topic="c"`, -1.5)
        out.sample(`topic="d"`, Number.POSITIVE_INFINITY)
        out.sample(`topic="e"`, Number.NaN)
      }
    })
    expect(text).toBe([
      "# HELP g a gauge\\nwith a newline",
      "# TYPE g gauge",
      "g 0",
      `g{topic="a"} 42`,
      `g{topic="é"} 1234567890123`,
      `g{topic="b"} 7`,
      `g{topic="c"} -1.5`,
      `g{topic="d"} +Inf`,
      `g{topic="e"} NaN`,
      ""
    ].join("\n"))
  })

  it("names a counter family without _total in OpenMetrics only; samples keep it", () => {
    const family: RenderedFamily = { name: "c_total", type: "counter", help: "h", render: (out) => out.sample("", 3) }
    expect(render(family)).toBe("# HELP c_total h\n# TYPE c_total counter\nc_total 3\n")
    expect(render(family, true)).toBe("# HELP c h\n# TYPE c counter\nc_total 3\n")
  })

  it("writes histogram buckets cumulatively in seconds, with +Inf, sum and count", () => {
    const h = new LatencyHistogram([1, 10])
    for (const ms of [0.5, 1, 5, 20, 30]) h.observe(ms)
    const text = render({ name: "lat_seconds", type: "histogram", help: "h", render: (out) => out.histogram(`api="Fetch"`, h) })
    expect(text.split("\n").slice(2)).toEqual([
      `lat_seconds_bucket{api="Fetch",le="0.001"} 2`,
      `lat_seconds_bucket{api="Fetch",le="0.01"} 3`,
      `lat_seconds_bucket{api="Fetch",le="+Inf"} 5`,
      `lat_seconds_sum{api="Fetch"} 0.0565`,
      `lat_seconds_count{api="Fetch"} 5`,
      ""
    ])
  })

  it("escapes backslashes, quotes and newlines in label values", () => {
    expect(escapeLabel(`a\\b"c\nd`)).toBe(`a\\\\b\\"c\\nd`)
    expect(escapeLabel("plain/topic")).toBe("plain/topic")
  })
})
