/**
 * The control-event log, the event-sourced core made visible: a live tail over Server-Sent Events
 * (newest first, the last 500 kept), and the stored log paged by position, both filtered by stream.
 */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { PagedTable } from "../components/PagedTable.js"
import { streamEvents } from "../sse.js"
import { valueOf } from "../format.js"

const KEEP = 500

interface ControlEvent {
  readonly position: number
  readonly stream: string
  readonly version: number
  readonly type: string
  readonly recordedAt: string
  readonly data: unknown
}

interface Filter {
  readonly stream: string
  readonly prefix: string
}

const query = (filter: Filter): string => {
  const params = new URLSearchParams()
  if (filter.stream !== "") params.set("stream", filter.stream)
  if (filter.prefix !== "") params.set("prefix", filter.prefix)
  const qs = params.toString()
  return qs === "" ? "" : `?${qs}`
}

const LiveTail = ({ filter }: { filter: Filter }) => {
  const [events, setEvents] = useState<Array<ControlEvent>>([])
  const [status, setStatus] = useState("connecting")
  useEffect(() => {
    setEvents([])
    setStatus("connecting")
    const stop = streamEvents(
      `/api/v1/events/stream${query(filter)}`,
      (e) => {
        try {
          const event = JSON.parse(e.data) as ControlEvent
          setEvents((list) => [event, ...list].slice(0, KEEP))
        } catch {
          // a frame that is not an event (a comment, a keep-alive): nothing to show
        }
      },
      (error) => setStatus(error === null ? "ended" : `stopped: ${error}`),
      () => setStatus("live")
    )
    return stop
  }, [filter.stream, filter.prefix])
  return html`
    <section class="card">
      <h3>Live <span class=${`status ${status === "live" ? "status-connected" : ""}`} data-testid="tail-status">${status}</span></h3>
      <table class="table events" data-testid="live-events">
        <thead><tr><th>Position</th><th>Stream</th><th>Type</th><th>At</th><th>Event</th></tr></thead>
        <tbody>
          ${events.length === 0 ? html`<tr><td colspan="5" class="muted">Waiting for events…</td></tr>` : events.map((e) => html`
            <tr key=${e.position}><td>${e.position}</td><td class="mono">${e.stream}</td><td>${e.type}</td><td>${new Date(e.recordedAt).toLocaleTimeString()}</td><td class="payload">${JSON.stringify(e.data)}</td></tr>`)}
        </tbody>
      </table>
    </section>`
}

export const Events = () => {
  const [draft, setDraft] = useState<Filter>({ stream: "", prefix: "" })
  const [filter, setFilter] = useState<Filter>({ stream: "", prefix: "" })
  const initial: Record<string, string> = {}
  if (filter.stream !== "") initial.stream = filter.stream
  if (filter.prefix !== "") initial.prefix = filter.prefix
  return html`
    <div class="page">
      <h2>Events</h2>
      <p class="muted">The control-event log: every session, subscription, topic, ACL and ban change the broker decided, in order.</p>
      <form class="toolbar" onSubmit=${(e: Event) => {
        e.preventDefault()
        setFilter({ stream: draft.stream.trim(), prefix: draft.prefix.trim() })
      }}>
        <label>Stream <input name="stream" value=${draft.stream} placeholder="bans, topics, acl, session-<id>" onInput=${(e: Event) => setDraft({ ...draft, stream: valueOf(e) })} /></label>
        <label>Stream prefix <input name="streamPrefix" value=${draft.prefix} placeholder="session-" onInput=${(e: Event) => setDraft({ ...draft, prefix: valueOf(e) })} /></label>
        <button type="submit">Show</button>
      </form>
      <${LiveTail} filter=${filter} />
      <section class="card">
        <h3>Stored log</h3>
        <${PagedTable}
          key=${query(filter)}
          path="/api/v1/events"
          cursorParam="from"
          testId="events"
          initial=${initial}
          rowKey=${(e: ControlEvent) => String(e.position)}
          columns=${[
            { label: "Position", value: (e: ControlEvent) => e.position },
            { label: "Stream", value: (e: ControlEvent) => e.stream, className: "mono" },
            { label: "Version", value: (e: ControlEvent) => e.version },
            { label: "Type", value: (e: ControlEvent) => e.type },
            { label: "Recorded", value: (e: ControlEvent) => new Date(e.recordedAt).toLocaleString() },
            { label: "Event", value: (e: ControlEvent) => JSON.stringify(e.data), className: "payload" }
          ]}
        />
      </section>
    </div>`
}
