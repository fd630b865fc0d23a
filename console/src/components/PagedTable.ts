/**
 * A list from the admin API, one page at a time: the server filters and pages (`cursor`, `limit`),
 * the browser holds only the page on screen and the cursors that led to it, so a list of 100k
 * clients costs what a list of fifty does. Rows can open their details (GET <path>/<key>) and carry
 * actions (kick, delete) that reload the page when done.
 */
import { html } from "htm/preact"
import type { VNode } from "preact"
import { useEffect, useState } from "preact/hooks"
import { ApiError, get } from "../api.js"
import { valueOf } from "../format.js"

export interface PageOf<T> {
  readonly items: ReadonlyArray<T>
  readonly next: string | null
}

export interface Column<T> {
  readonly label: string
  readonly value: (row: T) => unknown
  readonly className?: string
}

export interface Filter {
  readonly name: string
  readonly label: string
  readonly placeholder?: string
  /** A select with these values (and "any"); a text input otherwise. */
  readonly options?: ReadonlyArray<string>
}

interface Props<T> {
  readonly path: string
  readonly columns: ReadonlyArray<Column<T>>
  readonly rowKey: (row: T) => string
  readonly filters?: ReadonlyArray<Filter>
  /** Filter values to start with (from the page's URL, say). */
  readonly initial?: Readonly<Record<string, string>>
  readonly actions?: (row: T, reload: () => void) => VNode | null
  /** Where a row's details are (GET); none: no details link. */
  readonly detailPath?: (row: T) => string
  /** How to show the details (JSON by default); `reload` fetches them again after a change. */
  readonly renderDetail?: (detail: unknown, reload: () => void) => VNode
  readonly limit?: number
  readonly testId?: string
  /** Bumped by the page to reload (after an add, say). */
  readonly reloadKey?: number
  /** The query parameter that takes the previous page's `next` (the events log pages by `from`). */
  readonly cursorParam?: string
}

const errorText = (e: unknown): string => (e instanceof ApiError ? `${e.status} ${e.tag}: ${e.message}` : e instanceof Error ? e.message : String(e))

export const PagedTable = <T>(props: Props<T>) => {
  const limit = props.limit ?? 50
  const [draft, setDraft] = useState<Record<string, string>>({ ...props.initial })
  const [applied, setApplied] = useState<Record<string, string>>({ ...props.initial })
  /** cursors[i] opens page i; page 0 has none. */
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined])
  const [page, setPage] = useState<PageOf<T> | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(false)
  const [tick, setTick] = useState(0)
  const [open, setOpen] = useState<{ key: string; row: T; body: unknown; error: string | null } | null>(null)
  const reload = () => setTick((t) => t + 1)

  const cursor = cursors[cursors.length - 1]
  useEffect(() => {
    let current = true
    setLoading(true)
    get<PageOf<T>>(props.path, { ...applied, [props.cursorParam ?? "cursor"]: cursor, limit })
      .then((p) => {
        if (!current) return
        setPage(p)
        setError(null)
      })
      .catch((e) => current && setError(errorText(e)))
      .finally(() => current && setLoading(false))
    return () => {
      current = false
    }
  }, [props.path, applied, cursor, tick, props.reloadKey])

  const apply = (e: Event) => {
    e.preventDefault()
    setCursors([undefined])
    setApplied({ ...draft })
  }

  const fetchDetails = async (row: T) => {
    const key = props.rowKey(row)
    try {
      setOpen({ key, row, body: await get(props.detailPath!(row)), error: null })
    } catch (e) {
      setOpen({ key, row, body: null, error: errorText(e) })
    }
  }
  const showDetails = (row: T) => (open?.key === props.rowKey(row) ? setOpen(null) : fetchDetails(row))

  const detail = (o: NonNullable<typeof open>) =>
    o.error !== null
      ? html`<p class="error">${o.error}</p>`
      : props.renderDetail !== undefined
      ? props.renderDetail(o.body, () => fetchDetails(o.row))
      : html`<pre>${JSON.stringify(o.body, null, 2)}</pre>`

  const columnCount = props.columns.length + (props.actions || props.detailPath ? 1 : 0)
  return html`
    <div class="paged" data-testid=${props.testId}>
      ${props.filters !== undefined && props.filters.length > 0 && html`
        <form class="toolbar" onSubmit=${apply}>
          ${props.filters.map((f) => f.options === undefined
            ? html`<label>${f.label}<input name=${f.name} placeholder=${f.placeholder ?? ""} value=${draft[f.name] ?? ""}
                onInput=${(e: Event) => setDraft({ ...draft, [f.name]: valueOf(e) })} /></label>`
            : html`<label>${f.label}<select name=${f.name} value=${draft[f.name] ?? ""}
                onChange=${(e: Event) => setDraft({ ...draft, [f.name]: valueOf(e) })}>
                <option value="">any</option>${f.options.map((o) => html`<option value=${o}>${o}</option>`)}</select></label>`)}
          <button type="submit">Filter</button>
          <button type="button" class="secondary" onClick=${reload}>Refresh</button>
        </form>`}
      ${error !== null && html`<p class="error" data-testid="list-error">${error}</p>`}
      <table class="table">
        <thead><tr>${props.columns.map((c) => html`<th>${c.label}</th>`)}${columnCount > props.columns.length && html`<th></th>`}</tr></thead>
        <tbody>
          ${page?.items.map((row) => {
            const key = props.rowKey(row)
            return html`
              <tr key=${key} data-key=${key}>
                ${props.columns.map((c) => html`<td class=${c.className ?? ""}>${format(c.value(row))}</td>`)}
                ${columnCount > props.columns.length && html`<td class="actions">
                  ${props.detailPath !== undefined && html`<button type="button" class="link" onClick=${() => showDetails(row)}>details</button>`}
                  ${props.actions?.(row, reload)}
                </td>`}
              </tr>
              ${open?.key === key && html`<tr class="detail"><td colspan=${columnCount}>${detail(open)}</td></tr>`}`
          })}
          ${page !== null && page.items.length === 0 && html`<tr><td colspan=${columnCount} class="muted">Nothing here${Object.values(applied).some((v) => v !== "") ? " that matches the filter" : ""}.</td></tr>`}
        </tbody>
      </table>
      <div class="pager">
        <button type="button" class="secondary" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>‹ Previous</button>
        <span>page ${cursors.length}${page !== null ? `, ${page.items.length} shown` : ""}${loading ? " …" : ""}</span>
        <button type="button" class="secondary" disabled=${page?.next == null} onClick=${() => page?.next != null && setCursors([...cursors, page.next])}>Next ›</button>
      </div>
    </div>`
}

const format = (value: unknown): unknown =>
  value === null || value === undefined ? html`<span class="muted">–</span>` : typeof value === "boolean" ? (value ? "yes" : "no") : value
