/**
 * How the admin commands print: aligned tables for people (the default) and JSON for scripts
 * (`--output json`), and the one-line form of a control event that `events dump` and
 * `events tail` share. Pure text functions; the commands write the lines.
 */
import type { RecordedEvent } from "../../services/EventStore.js"
import { redact } from "../http/admin/events/handlers.js"

export type OutputFormat = "table" | "json"

export interface Column<Row> {
  readonly header: string
  readonly value: (row: Row) => unknown
  /** Right-aligned (numbers). */
  readonly right?: boolean
}

/** One cell: strings as they are, nothing as "-", anything else as compact JSON. */
export const cellText = (value: unknown): string =>
  value === undefined || value === null || value === ""
    ? "-"
    : typeof value === "string"
    ? value
    : typeof value === "number" || typeof value === "boolean" || typeof value === "bigint"
    ? String(value)
    : JSON.stringify(value)

/** Columns padded to their widest cell, two spaces apart, upper-case headers; no trailing spaces. */
export const renderTable = <Row>(columns: ReadonlyArray<Column<Row>>, rows: ReadonlyArray<Row>): string => {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row)).replace(/\s*\n\s*/g, " ")))
  const headers = columns.map((c) => c.header.toUpperCase())
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)))
  const line = (texts: ReadonlyArray<string>) =>
    texts.map((t, i) => (columns[i]!.right === true ? t.padStart(widths[i]!) : t.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(headers), ...cells.map(line)].join("\n")
}

/** Two-column `key  value` lines for one object (a `show` command). */
export const renderFields = (fields: ReadonlyArray<readonly [string, unknown]>): string => {
  const width = Math.max(0, ...fields.map(([k]) => k.length))
  return fields.map(([k, v]) => `${k.padEnd(width)}  ${cellText(v)}`.trimEnd()).join("\n")
}

/** A control event as JSON (one line of `--output json`), in the admin API's ControlEvent shape: secrets redacted, time in ISO 8601. */
export const eventJson = (e: RecordedEvent) => ({
  position: e.position,
  stream: e.stream,
  version: e.version,
  type: e.type,
  recordedAt: new Date(e.recordedAt).toISOString(),
  data: redact(e.data)
})

export interface EventWidths {
  readonly position: number
  readonly stream: number
  readonly type: number
}

/** The event's data without its `_tag`, which the type column already shows. */
const untagged = (e: RecordedEvent): unknown => {
  if (typeof e.data !== "object" || e.data === null || Array.isArray(e.data) || !("_tag" in e.data)) return e.data
  const { _tag, ...rest } = e.data as Record<string, unknown>
  return _tag === e.type ? rest : e.data
}

/** `position  time  stream  type  {data}`: one line per event, secrets redacted. */
export const eventLine = (e: RecordedEvent, widths: EventWidths = { position: 0, stream: 0, type: 0 }): string =>
  [
    String(e.position).padStart(widths.position),
    new Date(e.recordedAt).toISOString(),
    e.stream.padEnd(widths.stream),
    e.type.padEnd(widths.type),
    JSON.stringify(redact(untagged(e)))
  ].join("  ")
