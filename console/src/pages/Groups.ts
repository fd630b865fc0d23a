/** Kafka consumer groups: state, members and lag; describe shows each partition's committed offset and lag. */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"

interface Group {
  readonly groupId: string
  readonly state: string
  readonly protocolType: string | null
  readonly members: number
  readonly lag: number
}

interface GroupDetail {
  readonly groupId: string
  readonly protocol: string | null
  readonly generation: number
  readonly leader: string | null
  readonly members: ReadonlyArray<{ memberId: string; groupInstanceId: string | null; clientId: string; host: string; assignment: Readonly<Record<string, ReadonlyArray<number>>> | null }>
  readonly offsets: ReadonlyArray<{ topic: string; partition: number; offset: number; highWatermark: number; lag: number }>
  readonly lag: number
}

/** Members with their assignments, and each partition's committed offset and lag. */
const GroupView = ({ group }: { group: GroupDetail }) => html`
  <div class="detail-view">
    <p class="muted">generation ${group.generation}${group.protocol !== null ? ` · assignor ${group.protocol}` : ""} · total lag <b>${group.lag}</b></p>
    <div class="columns">
      <table class="table" data-testid="group-members">
        <thead><tr><th>Member</th><th>Client id</th><th>Host</th><th>Assigned</th></tr></thead>
        <tbody>${group.members.length === 0 ? html`<tr><td colspan="4" class="muted">No members.</td></tr>` : group.members.map((m) => html`<tr>
          <td class="mono">${m.memberId}${m.memberId === group.leader ? " (leader)" : ""}</td><td>${m.clientId}</td><td>${m.host}</td>
          <td class="mono">${m.assignment === null ? "–" : Object.entries(m.assignment).map(([t, ps]) => `${t}[${ps.join(",")}]`).join(" ")}</td></tr>`)}</tbody>
      </table>
      <table class="table" data-testid="group-offsets">
        <thead><tr><th>Topic</th><th>Partition</th><th>Committed</th><th>High watermark</th><th>Lag</th></tr></thead>
        <tbody>${group.offsets.map((o) => html`<tr><td class="mono">${o.topic}</td><td>${o.partition}</td><td>${o.offset}</td><td>${o.highWatermark}</td><td><b>${o.lag}</b></td></tr>`)}</tbody>
      </table>
    </div>
  </div>`

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
        filters=${[{ name: "prefix", label: "Group id prefix" }, { name: "state", label: "State", options: ["Empty", "Stable", "PreparingRebalance", "CompletingRebalance"] }]}
        columns=${[
          { label: "Group", value: (g: Group) => g.groupId, className: "mono" },
          { label: "State", value: (g: Group) => g.state },
          { label: "Protocol", value: (g: Group) => g.protocolType },
          { label: "Members", value: (g: Group) => g.members },
          { label: "Lag", value: (g: Group) => g.lag }
        ]}
        detailPath=${path}
        renderDetail=${(d: GroupDetail) => html`<${GroupView} group=${d} />`}
        actions=${(g: Group, reload: () => void) => html`<${ActionButton} label="Delete" path=${path(g)} onDone=${reload} onNote=${setNote}
          question=${`Delete the consumer group ${g.groupId} and its committed offsets? (Only an empty group can go.)`} />`}
      />
    </div>`
}
