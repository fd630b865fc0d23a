/** MQTT sessions, online and offline persistent, with their details and delete. */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"
import { since } from "../format.js"

interface Session {
  readonly clientId: string
  readonly state: "online" | "offline"
  readonly persistent: boolean
  readonly expiryInterval: number
  readonly disconnectedAt: string | null
  readonly expiresAt: string | null
  readonly subscriptions: number
  readonly inflight: number
  readonly queued: number
}

const NEVER = 4294967295

const path = (s: Session) => `/api/v1/sessions/${encodeURIComponent(s.clientId)}`

export const Sessions = () => {
  const [note, setNote] = useState<string | null>(null)
  return html`
    <div class="page">
      <h2>Sessions</h2>
      ${note !== null && html`<p class="note" data-testid="note">${note}</p>`}
      <${PagedTable}
        path="/api/v1/sessions"
        testId="sessions"
        rowKey=${(s: Session) => s.clientId}
        filters=${[{ name: "prefix", label: "Client id prefix" }, { name: "state", label: "State", options: ["online", "offline"] }]}
        columns=${[
          { label: "Client id", value: (s: Session) => s.clientId, className: "mono" },
          { label: "State", value: (s: Session) => s.state },
          { label: "Persistent", value: (s: Session) => s.persistent },
          { label: "Subscriptions", value: (s: Session) => s.subscriptions },
          { label: "Inflight", value: (s: Session) => s.inflight },
          { label: "Queued", value: (s: Session) => s.queued },
          { label: "Expiry", value: (s: Session) => (s.expiryInterval === NEVER ? "never" : `${s.expiryInterval}s`) },
          { label: "Disconnected", value: (s: Session) => (s.disconnectedAt === null ? null : since(s.disconnectedAt)) },
          { label: "Expires", value: (s: Session) => (s.expiresAt === null ? null : new Date(s.expiresAt).toLocaleString()) }
        ]}
        detailPath=${path}
        actions=${(s: Session, reload: () => void) => html`<${ActionButton} label="Delete" path=${path(s)} onDone=${reload} onNote=${setNote}
          question=${`Delete the session of ${s.clientId}? Its subscriptions and queued messages go; a connected client gets DISCONNECT 0x98.`} />`}
      />
    </div>`
}
