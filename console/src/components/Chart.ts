/**
 * A uPlot time-series chart: created once, fed with setData on every poll, resized with its box.
 */
import { html } from "htm/preact"
import { useEffect, useRef } from "preact/hooks"
import uPlot from "uplot"

export interface Series {
  readonly label: string
  readonly color: string
}

interface Props {
  readonly title: string
  readonly series: ReadonlyArray<Series>
  /** [times (s), ...one array per series], as uPlot takes them. */
  readonly data: ReadonlyArray<ReadonlyArray<number | null>>
  readonly unit?: string
}

const HEIGHT = 180

export const Chart = ({ title, series, data, unit }: Props) => {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)

  useEffect(() => {
    const element = box.current!
    const chart = new uPlot({
      width: element.clientWidth || 400,
      height: HEIGHT,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{}, { size: 56, values: (_u, ticks) => ticks.map((t) => compact(t) + (unit ?? "")) }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } }))]
    }, data as uPlot.AlignedData, element)
    plot.current = chart
    const resize = new ResizeObserver(() => chart.setSize({ width: element.clientWidth, height: HEIGHT }))
    resize.observe(element)
    return () => {
      resize.disconnect()
      chart.destroy()
      plot.current = null
    }
  }, [])

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData)
  }, [data])

  return html`<section class="card chart"><h3>${title}</h3><div ref=${box}></div></section>`
}

/** 1234567 -> "1.2M": axis labels that fit. */
export const compact = (n: number): string => {
  const abs = Math.abs(n)
  if (abs >= 1e9) return (n / 1e9).toFixed(1).replace(/\.0$/, "") + "G"
  if (abs >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, "") + "M"
  if (abs >= 1e4) return (n / 1e3).toFixed(1).replace(/\.0$/, "") + "k"
  return Number.isInteger(n) ? String(n) : n.toFixed(1)
}
