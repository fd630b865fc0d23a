/** Subscriptions, by topic filter or by client. */
import { html } from "htm/preact"
import { PagedTable } from "../components/PagedTable.js"

interface Subscription {
  readonly clientId: string
  readonly online: boolean
  readonly filter: string
  readonly qos: number
  readonly noLocal: boolean
  readonly retainAsPublished: boolean
  readonly retainHandling: number
  readonly subscriptionId: number
  readonly shareGroup: string | null
}

export const Subscriptions = () => html`
  <div class="page">
    <h2>Subscriptions</h2>
    <${PagedTable}
      path="/api/v1/subscriptions"
      testId="subscriptions"
      rowKey=${(s: Subscription) => `${s.clientId}\u0000${s.filter}`}
      filters=${[
        { name: "filter", label: "Topic filter (exact)", placeholder: "sensors/+/temperature" },
        { name: "clientId", label: "Client id" },
        { name: "shareGroup", label: "Share group" }
      ]}
      columns=${[
        { label: "Client id", value: (s: Subscription) => s.clientId, className: "mono" },
        { label: "Online", value: (s: Subscription) => s.online },
        { label: "Filter", value: (s: Subscription) => s.filter, className: "mono" },
        { label: "QoS", value: (s: Subscription) => s.qos },
        { label: "Share group", value: (s: Subscription) => s.shareGroup },
        { label: "No local", value: (s: Subscription) => s.noLocal },
        { label: "Retain as published", value: (s: Subscription) => s.retainAsPublished },
        { label: "Retain handling", value: (s: Subscription) => s.retainHandling },
        { label: "Subscription id", value: (s: Subscription) => s.subscriptionId || null }
      ]}
    />
  </div>`
