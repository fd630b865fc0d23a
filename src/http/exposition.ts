/**
 * Writes metric families straight into the exposition bytes, for the families too big to go
 * through prom-client's label handling (per partition, per consumer group, per topic; measured
 * 119 ms per scrape at 10k topics) and for the histograms the broker keeps as plain arrays.
 * The lines are valid in both the Prometheus text format and OpenMetrics: only a counter's
 * HELP/TYPE name differs (OpenMetrics names the family without `_total`). Never on the
 * per-message path: a family's `render` runs once per scrape.
 *
 * Bytes, not a string: 30k lines appended to a string (or joined) made a rope whose flattening,
 * garbage and UTF-8 encoding cost 20 ms per scrape; labels encoded once (`labelBytes`) are copied
 * in, and integers are written digit by digit.
 */
import type { LatencyHistogram } from "../../domain/metrics/LatencyHistogram.js"

export type FamilyType = "gauge" | "counter" | "histogram"

/** A metric family rendered at scrape time by `render`, which writes its samples. */
export interface RenderedFamily {
  /** The family name; a counter's ends in `_total`. */
  readonly name: string
  readonly type: FamilyType
  readonly help: string
  readonly render: (out: ExpositionWriter) => void
}

/** `\`, `"` and newlines escaped, as both formats want label values. */
export const escapeLabel = (value: string): string =>
  /[\\"\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n") : value

/** Label text (`topic="a",partition="0"`, escaped) as bytes, to keep and pass to `sample` scrape after scrape. */
export const labelBytes = (labels: string): Uint8Array => Buffer.from(labels, "utf8")

/** `name{labels} ` as bytes, to keep and pass to `samplePrefixed` scrape after scrape. */
export const samplePrefix = (name: string, labels: string): Uint8Array => Buffer.from(`${name}{${labels}} `, "utf8")

const escapeHelp = (help: string): string => help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const formatValue = (value: number): string =>
  Number.isFinite(value) ? String(value) : Number.isNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf"

/** Bucket bounds (ms) as `le` values in seconds, cached per bounds array. */
const leCache = new WeakMap<ReadonlyArray<number>, ReadonlyArray<string>>()
const leValues = (boundsMs: ReadonlyArray<number>): ReadonlyArray<string> => {
  let le = leCache.get(boundsMs)
  if (le === undefined) leCache.set(boundsMs, (le = [...boundsMs.map((ms) => String(ms / 1000)), "+Inf"]))
  return le
}

const LBRACE = 0x7b
const RBRACE = 0x7d
const SPACE = 0x20
const NEWLINE = 0x0a

export class ExpositionWriter {
  private buf: Buffer
  private at = 0
  /** The current family's name, as bytes. */
  private name: Uint8Array = new Uint8Array(0)
  private nameText = ""

  constructor(readonly openMetrics: boolean, initialBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialBytes)
  }

  private reserve(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + bytes))
    this.buf.copy(grown, 0, 0, this.at)
    this.buf = grown
  }

  /** Appends text already in the exposition format. */
  raw(text: string): void {
    this.reserve(text.length * 3)
    this.at += this.buf.write(text, this.at, "utf8")
  }

  /** Appends sample lines kept as bytes (written by another writer's `samplePrefixed`). */
  block(lines: Uint8Array): void {
    this.reserve(lines.length)
    this.buf.set(lines, this.at)
    this.at += lines.length
  }

  private bytes(b: Uint8Array): void {
    const n = b.length
    this.reserve(n)
    const buf = this.buf
    // A byte loop beats TypedArray.set for the short label runs this copies (measured).
    if (n < 128) for (let i = 0, at = this.at; i < n; i++) buf[at + i] = b[i]!
    else buf.set(b, this.at)
    this.at += n
  }

  private value(v: number): void {
    if (v >= 0 && v <= 0xffffffffffff && Number.isInteger(v)) {
      this.reserve(16)
      const buf = this.buf
      if (v === 0) {
        buf[this.at++] = 0x30
        return
      }
      let digits = 0
      for (let n = v; n >= 1; n = Math.floor(n / 10)) digits++
      let pos = this.at + digits
      this.at = pos
      for (let n = v; n >= 1; n = Math.floor(n / 10)) buf[--pos] = 0x30 + (n % 10)
      return
    }
    this.raw(formatValue(v))
  }

  /** Writes the family's HELP and TYPE, then whatever its `render` writes. */
  family(f: RenderedFamily): void {
    const headerName = this.openMetrics && f.type === "counter" ? f.name.slice(0, -"_total".length) : f.name
    this.raw(`# HELP ${headerName} ${escapeHelp(f.help)}\n# TYPE ${headerName} ${f.type}\n`)
    this.nameText = f.name
    this.name = Buffer.from(f.name, "utf8")
    f.render(this)
  }

  /** Hot for big families: `prefix` is a kept `name{labels} ` (`samplePrefix`), then the value. */
  samplePrefixed(prefix: Uint8Array, value: number): void {
    this.bytes(prefix)
    this.value(value)
    this.reserve(1)
    this.buf[this.at++] = NEWLINE
  }

  /**
   * One sample of the current family. `labels` is the inside of the braces, already escaped
   * (`topic="a",partition="0"`), as text or as kept bytes (`labelBytes`); "" for none.
   */
  sample(labels: string | Uint8Array, value: number): void {
    this.bytes(this.name)
    if (labels.length > 0) {
      this.reserve(1)
      this.buf[this.at++] = LBRACE
      if (typeof labels === "string") this.raw(labels)
      else this.bytes(labels)
      this.reserve(1)
      this.buf[this.at++] = RBRACE
    }
    this.reserve(1)
    this.buf[this.at++] = SPACE
    this.value(value)
    this.reserve(1)
    this.buf[this.at++] = NEWLINE
  }

  /** A histogram's buckets, count and sum (seconds) under the current family, with `labels` (text). */
  histogram(labels: string, h: LatencyHistogram): void {
    const name = this.nameText
    const le = leValues(h.boundsMs)
    const sep = labels === "" ? "" : `${labels},`
    let cumulative = 0
    let text = ""
    for (let i = 0; i < le.length; i++) {
      cumulative += h.counts[i]!
      text += `${name}_bucket{${sep}le="${le[i]}"} ${cumulative}\n`
    }
    const braces = labels === "" ? "" : `{${labels}}`
    this.raw(`${text}${name}_sum${braces} ${formatValue(h.sumMs / 1000)}\n${name}_count${braces} ${h.count}\n`)
  }

  /** Everything written (a view of the writer's buffer). */
  result(): Uint8Array {
    return this.buf.subarray(0, this.at)
  }
}
