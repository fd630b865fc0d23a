/**
 * The control-event log, the event-sourced core made visible: a live tail over Server-Sent Events
 * (newest first, the last 500 kept), and the stored log paged by position, both filtered by stream.
 */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { PagedTable } from "../components/PagedTable.js"
import { streamEvents } from "../sse.js"

const KEEP = 500

interface StoredEvent {
  readonly position?: number | string
  readonly stream?: string
  readonly type?: string
  readonly _tag?: string
  readonly at?: string
  readonly timestamp?: string
  readonly data?: unknown
  readonly event?: unknown
}

const summary = (e: StoredEvent): string => JSON.stringify(e.data ?? e.event ?? e)

const LiveTail = ({ stream }: { stream: string }) => {
  const [events, setEvents] = useState<Array<{ key: number; at: Date; text: string }>>([])
  const [status, setStatus] = useState("connecting")
  useEffect(() => {
    setEvents([])
    setStatus("connecting")
    let n = 0
    const stop = streamEvents(
      `/api/v1/events/tail${stream === "" ? "" : `?stream=${encodeURIComponent(stream)}`}`,
      (e) => {
        setStatus("live")
        setEvents((list) => [{ key: n++, at: new Date(), text: e.data }, ...list].slice(0, KEEP))
      },
      (error) => setStatus(error === null ? "ended" : `stopped: ${error}`)
    )
    const opened = setTimeout(() => setStatus((s) => (s === "connecting" ? "live" : s)), 1500)
    return () => {
      clearTimeout(opened)
      stop()
    }
  }, [stream])
  return html`
    <section class="card">
      <h3>Live <span class="status" data-testid="tail-status">${status}</span></h3>
      <ol class="events" data-testid="live-events">
        ${events.length === 0 ? html`<li class="muted">Waiting for events…</li>` : events.map((e) => html`<li key=${e.key}><span class="muted">${e.at.toLocaleTimeString()}</span> ${e.text}</li>`)}
      </ol>
    </section>`
}

export const Events = () => {
  const [draft, setDraft] = useState("")
  const [stream, setStream] = useState("")
  return html`
    <div class="page">
      <h2>Events</h2>
      <form class="toolbar" onSubmit=${(e: Event) => {
        e.preventDefault()
        setStream(draft.trim())
      }}>
        <label>Stream <input name="stream" value=${draft} placeholder="all streams (e.g. bans)" onInput=${(e: Event) => setDraft((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">Show</button>
      </form>
      <${LiveTail} stream=${stream} />
      <section class="card">
        <h3>Stored log</h3>
        <${PagedTable}
          key=${stream}
          path="/api/v1/events"
          testId="events"
          initial=${stream === "" ? {} : { stream }}
          rowKey=${(e: StoredEvent) => String(e.position)}
          columns=${[
            { label: "Position", value: (e: StoredEvent) => e.position },
            { label: "Stream", value: (e: StoredEvent) => e.stream, className: "mono" },
            { label: "Type", value: (e: StoredEvent) => e.type ?? e._tag },
            { label: "At", value: (e: StoredEvent) => e.at ?? e.timestamp },
            { label: "Event", value: summary, className: "payload" }
          ]}
        />
      </section>
    </div>`
}
