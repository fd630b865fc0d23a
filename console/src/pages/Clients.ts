/** Connected MQTT clients, filtered and paged on the server, with kick (v5 clients get DISCONNECT 0x98). */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"
import { since } from "../format.js"

interface Client {
  readonly clientId: string
  readonly username: string | null
  readonly address: string
  readonly port: number
  readonly listener: string
  readonly protocol: string
  readonly connectedAt: string
  readonly keepalive: number
  readonly subscriptions: number
  readonly inflight: number
  readonly queued: number
}

const path = (c: Client) => `/api/v1/clients/${encodeURIComponent(c.clientId)}`

export const Clients = () => {
  const [note, setNote] = useState<string | null>(null)
  return html`
    <div class="page">
      <h2>Clients</h2>
      ${note !== null && html`<p class="note" data-testid="note">${note}</p>`}
      <${PagedTable}
        path="/api/v1/clients"
        testId="clients"
        rowKey=${(c: Client) => c.clientId}
        filters=${[
          { name: "prefix", label: "Client id prefix" },
          { name: "username", label: "User" },
          { name: "ip", label: "IP address" },
          { name: "protocol", label: "Protocol", options: ["3.1", "3.1.1", "5.0"] },
          { name: "listener", label: "Listener", options: ["tcp", "tls", "ws", "wss"] }
        ]}
        columns=${[
          { label: "Client id", value: (c: Client) => c.clientId, className: "mono" },
          { label: "User", value: (c: Client) => c.username },
          { label: "Address", value: (c: Client) => `${c.address}:${c.port}` },
          { label: "Listener", value: (c: Client) => c.listener },
          { label: "MQTT", value: (c: Client) => c.protocol },
          { label: "Connected", value: (c: Client) => since(c.connectedAt) },
          { label: "Keepalive", value: (c: Client) => `${c.keepalive}s` },
          { label: "Subs", value: (c: Client) => c.subscriptions },
          { label: "Inflight", value: (c: Client) => c.inflight },
          { label: "Queued", value: (c: Client) => c.queued }
        ]}
        detailPath=${path}
        actions=${(c: Client, reload: () => void) => html`<${ActionButton} label="Kick" path=${path(c)} onDone=${reload} onNote=${setNote}
          question=${`Disconnect ${c.clientId}? (MQTT 5 clients get DISCONNECT 0x98; the session stays)`} />`}
      />
    </div>`
}
