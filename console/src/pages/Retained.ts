/** Retained messages by topic filter, with their payloads and delete. */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"
import { bytes, since } from "../format.js"

interface Retained {
  readonly topic: string
  readonly qos: number
  readonly bytes: number
  readonly publishedAt: string
  readonly expiresAt: string | null
}

interface RetainedMessage extends Retained {
  readonly payload: string
  readonly encoding: "plain" | "base64"
  readonly contentType: string | null
  readonly userProperties: ReadonlyArray<readonly [string, string]>
}

/** The message itself: its payload as text (or base64, said so), content type and user properties. */
const MessageView = ({ message }: { message: RetainedMessage }) => html`
  <div class="detail-view" data-testid="retained-message">
    <p class="muted">${message.encoding === "base64" ? "binary payload, shown as base64" : "UTF-8 payload"}${message.contentType !== null ? ` · content type ${message.contentType}` : ""}
      ${message.userProperties.length > 0 && html` · user properties ${message.userProperties.map(([k, v]) => `${k}=${v}`).join(", ")}`}</p>
    <pre class="payload">${message.payload}</pre>
  </div>`

/** Topics hold slashes, so the API takes them as ?topic=. */
const path = (r: Retained) => `/api/v1/retained/message?topic=${encodeURIComponent(r.topic)}`

export const RetainedPage = () => {
  const [note, setNote] = useState<string | null>(null)
  return html`
    <div class="page">
      <h2>Retained messages</h2>
      ${note !== null && html`<p class="note" data-testid="note">${note}</p>`}
      <${PagedTable}
        path="/api/v1/retained"
        testId="retained"
        rowKey=${(r: Retained) => r.topic}
        filters=${[{ name: "filter", label: "Topic filter", placeholder: "sensors/#" }]}
        columns=${[
          { label: "Topic", value: (r: Retained) => r.topic, className: "mono" },
          { label: "QoS", value: (r: Retained) => r.qos },
          { label: "Size", value: (r: Retained) => bytes(r.bytes) },
          { label: "Published", value: (r: Retained) => since(r.publishedAt) },
          { label: "Expires", value: (r: Retained) => (r.expiresAt === null ? null : new Date(r.expiresAt).toLocaleString()) }
        ]}
        detailPath=${path}
        renderDetail=${(m: RetainedMessage) => html`<${MessageView} message=${m} />`}
        actions=${(r: Retained, reload: () => void) => html`<${ActionButton} label="Delete" path=${path(r)} onDone=${reload} onNote=${setNote}
          question=${`Delete the retained message of ${r.topic}?`} />`}
      />
    </div>`
}
