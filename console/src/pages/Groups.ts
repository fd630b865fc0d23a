/** Kafka consumer groups: state, members and lag; describe shows each partition's committed offset and lag. */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"

interface Group {
  readonly groupId: string
  readonly state?: string
  readonly protocolType?: string
  readonly members?: number | ReadonlyArray<unknown>
  readonly lag?: number
  readonly totalLag?: number
}

const path = (g: Group) => `/api/v1/kafka/groups/${encodeURIComponent(g.groupId)}`

export const Groups = () => {
  const [note, setNote] = useState<string | null>(null)
  return html`
    <div class="page">
      <h2>Consumer groups</h2>
      ${note !== null && html`<p class="note" data-testid="note">${note}</p>`}
      <${PagedTable}
        path="/api/v1/kafka/groups"
        testId="groups"
        rowKey=${(g: Group) => g.groupId}
        filters=${[{ name: "prefix", label: "Group id prefix" }, { name: "state", label: "State", options: ["Empty", "Stable", "PreparingRebalance", "CompletingRebalance", "Dead"] }]}
        columns=${[
          { label: "Group", value: (g: Group) => g.groupId, className: "mono" },
          { label: "State", value: (g: Group) => g.state },
          { label: "Protocol", value: (g: Group) => g.protocolType },
          { label: "Members", value: (g: Group) => (Array.isArray(g.members) ? g.members.length : g.members) },
          { label: "Lag", value: (g: Group) => g.lag ?? g.totalLag }
        ]}
        detailPath=${path}
        actions=${(g: Group, reload: () => void) => html`<${ActionButton} label="Delete" path=${path(g)} onDone=${reload} onNote=${setNote}
          question=${`Delete the consumer group ${g.groupId} and its committed offsets? (Only an empty group can go.)`} />`}
      />
    </div>`
}
