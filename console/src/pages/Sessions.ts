/** MQTT sessions, online and offline persistent, with their details and delete. */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"

interface Session {
  readonly clientId: string
  readonly online?: boolean
  readonly connected?: boolean
  readonly subscriptions?: number
  readonly inflight?: number
  readonly queued?: number
  readonly expiryInterval?: number
  readonly expiresAt?: string | null
}

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
          { label: "Online", value: (s: Session) => s.online ?? s.connected },
          { label: "Subscriptions", value: (s: Session) => s.subscriptions },
          { label: "Inflight", value: (s: Session) => s.inflight },
          { label: "Queued", value: (s: Session) => s.queued },
          { label: "Expiry", value: (s: Session) => (s.expiryInterval === undefined ? s.expiresAt : `${s.expiryInterval}s`) }
        ]}
        detailPath=${path}
        actions=${(s: Session, reload: () => void) => html`<${ActionButton} label="Delete" path=${path(s)} onDone=${reload} onNote=${setNote}
          question=${`Delete the session of ${s.clientId}? Its subscriptions and queued messages go; a connected client is disconnected.`} />`}
      />
    </div>`
}
