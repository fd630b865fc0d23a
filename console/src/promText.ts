/**
 * Reads the Prometheus text format of /metrics into samples the overview charts sum up. Only what
 * the console needs: names, labels and values; comments, timestamps and exemplars are skipped.
 */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export type Scrape = ReadonlyMap<string, ReadonlyArray<Sample>>

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export const parsePrometheus = (text: string): Scrape => {
  const samples = new Map<string, Array<Sample>>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = LINE.exec(line)
    if (match === null) continue
    const labels: Record<string, string> = {}
    if (match[2] !== undefined) {
      for (const label of match[2].matchAll(LABEL)) labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))
    }
    const value = Number(match[3])
    const name = match[1]!
    let list = samples.get(name)
    if (list === undefined) samples.set(name, (list = []))
    list.push({ labels, value })
  }
  return samples
}

/** The sum of a metric's samples whose labels include `where`; undefined when the metric is absent. */
export const sum = (scrape: Scrape, name: string, where: Readonly<Record<string, string>> = {}): number | undefined => {
  const list = scrape.get(name)
  if (list === undefined) return undefined
  let total = 0
  for (const sample of list) {
    let matches = true
    for (const key in where) if (sample.labels[key] !== where[key]) matches = false
    if (matches) total += sample.value
  }
  return total
}
