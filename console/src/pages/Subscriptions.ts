/** Subscriptions, by topic filter or by client. */
import { html } from "htm/preact"
import { PagedTable } from "../components/PagedTable.js"

interface Subscription {
  readonly clientId: string
  readonly filter: string
  readonly qos?: number
  readonly shareGroup?: string | null
  readonly noLocal?: boolean
  readonly retainAsPublished?: boolean
  readonly retainHandling?: number
  readonly subscriptionId?: number | null
}

export const Subscriptions = () => html`
  <div class="page">
    <h2>Subscriptions</h2>
    <${PagedTable}
      path="/api/v1/subscriptions"
      testId="subscriptions"
      rowKey=${(s: Subscription) => `${s.clientId}\u0000${s.filter}`}
      filters=${[{ name: "filter", label: "Topic filter (prefix)" }, { name: "clientId", label: "Client id" }]}
      columns=${[
        { label: "Client id", value: (s: Subscription) => s.clientId, className: "mono" },
        { label: "Filter", value: (s: Subscription) => s.filter, className: "mono" },
        { label: "QoS", value: (s: Subscription) => s.qos },
        { label: "Share group", value: (s: Subscription) => s.shareGroup },
        { label: "No local", value: (s: Subscription) => s.noLocal },
        { label: "Retain as published", value: (s: Subscription) => s.retainAsPublished }
      ]}
    />
  </div>`
