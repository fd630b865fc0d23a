/** Users (names only), the ACL in force (with reload), and bans: list, add for a duration, delete. */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { ApiError, get, request } from "../api.js"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"
import { since, valueOf } from "../format.js"

interface User {
  readonly username: string
  readonly superuser: boolean
  readonly scram: ReadonlyArray<string>
}

interface Ban {
  readonly kind: "clientid" | "username" | "ip"
  readonly value: string
  readonly addedAt: string
  readonly until: string | null
  readonly reason: string
  readonly by: string
}

const banPath = (b: Ban) => `/api/v1/bans/${encodeURIComponent(b.kind)}/${encodeURIComponent(b.value)}`
const message = (e: unknown) => (e instanceof ApiError ? e.message : String(e))

interface AclRule {
  readonly kind: "topic" | "pattern"
  readonly username: string | null
  readonly access: string
  readonly topic: string
}

const AclView = ({ onNote }: { onNote: (s: string) => void }) => {
  const [acl, setAcl] = useState<{ configured: boolean; rules: ReadonlyArray<AclRule> } | string | null>(null)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    get<{ configured: boolean; rules: ReadonlyArray<AclRule> }>("/api/v1/acl").then(setAcl, (e) => setAcl(message(e)))
  }, [tick])
  return html`
    <section class="card">
      <h3>ACL <button type="button" class="secondary small" name="reload-acl" onClick=${async () => {
        try {
          const r = await request<{ usersAdded: string[]; usersRemoved: string[]; passwordsChanged: string[]; acl: string; kicked: number }>("POST", "/api/v1/acl/reload")
          onNote(`reloaded: ACL ${r.acl}; users +${r.usersAdded.length} −${r.usersRemoved.length}, ${r.passwordsChanged.length} new passwords, ${r.kicked} connections closed`)
        } catch (e) {
          onNote(`reload failed: ${message(e)}`)
        }
        setTick((t) => t + 1)
      }}>Reload users and ACL files</button></h3>
      ${acl === null ? html`<p class="muted">…</p>` : typeof acl === "string" ? html`<p class="error">${acl}</p>` : !acl.configured
        ? html`<p class="muted">No ACL file (auth.acl_file): every topic is allowed to every client.</p>`
        : html`<table class="table" data-testid="acl">
            <thead><tr><th>Kind</th><th>User</th><th>Access</th><th>Topic</th></tr></thead>
            <tbody>${acl.rules.map((r) => html`<tr><td>${r.kind}</td><td>${r.username ?? html`<span class="muted">anyone</span>`}</td><td>${r.access}</td><td class="mono">${r.topic}</td></tr>`)}</tbody>
          </table>`}
    </section>`
}

const AddBan = ({ onAdded, onNote }: { onAdded: () => void; onNote: (s: string) => void }) => {
  const [kind, setKind] = useState("ip")
  const [value, setValue] = useState("")
  const [duration, setDuration] = useState("3600")
  const [reason, setReason] = useState("")
  return html`
    <form class="toolbar" onSubmit=${async (e: Event) => {
      e.preventDefault()
      try {
        const seconds = duration.trim() === "" ? undefined : Number(duration)
        const added = await request<{ disconnected: number }>("POST", "/api/v1/bans", { kind, value: value.trim(), durationSeconds: seconds, reason: reason || undefined, by: "console" })
        onNote(`banned ${kind} ${value.trim()}${seconds === undefined ? "" : ` for ${seconds} s`}: ${added.disconnected} connection(s) closed`)
        setValue("")
        onAdded()
      } catch (err) {
        onNote(`ban failed: ${message(err)}`)
      }
    }}>
      <label>Kind <select name="banKind" value=${kind} onChange=${(e: Event) => setKind(valueOf(e))}>
        <option value="ip">IP or CIDR</option><option value="clientid">client id</option><option value="username">user name</option></select></label>
      <label>Value <input name="banValue" required value=${value} placeholder=${kind === "ip" ? "10.0.0.0/8" : ""} onInput=${(e: Event) => setValue(valueOf(e))} /></label>
      <label>For (seconds; empty: for ever) <input name="banDuration" type="number" min="1" value=${duration} onInput=${(e: Event) => setDuration(valueOf(e))} /></label>
      <label>Reason <input name="banReason" value=${reason} onInput=${(e: Event) => setReason(valueOf(e))} /></label>
      <button type="submit">Ban</button>
    </form>`
}

export const Access = () => {
  const [note, setNote] = useState<string | null>(null)
  const [added, setAdded] = useState(0)
  return html`
    <div class="page">
      <h2>Users, ACL, bans</h2>
      ${note !== null && html`<p class="note" data-testid="note">${note}</p>`}
      <section class="card">
        <h3>Bans</h3>
        <${AddBan} onAdded=${() => setAdded((n) => n + 1)} onNote=${setNote} />
        <${PagedTable}
          path="/api/v1/bans"
          testId="bans"
          reloadKey=${added}
          rowKey=${(b: Ban) => `${b.kind}:${b.value}`}
          filters=${[{ name: "kind", label: "Kind", options: ["clientid", "username", "ip"] }]}
          columns=${[
            { label: "Kind", value: (b: Ban) => b.kind },
            { label: "Value", value: (b: Ban) => b.value, className: "mono" },
            { label: "Reason", value: (b: Ban) => b.reason || null },
            { label: "By", value: (b: Ban) => b.by || null },
            { label: "Added", value: (b: Ban) => since(b.addedAt) },
            { label: "Until", value: (b: Ban) => (b.until === null ? "for ever" : new Date(b.until).toLocaleString()) }
          ]}
          actions=${(b: Ban, reload: () => void) => html`<${ActionButton} label="Unban" path=${banPath(b)} onDone=${reload} onNote=${setNote}
            question=${`Lift the ban on ${b.kind} ${b.value}?`} />`}
        />
      </section>
      <section class="card">
        <h3>Users</h3>
        <${PagedTable}
          path="/api/v1/users"
          testId="users"
          rowKey=${(u: User) => u.username}
          filters=${[{ name: "prefix", label: "Name prefix" }]}
          columns=${[
            { label: "User name", value: (u: User) => u.username, className: "mono" },
            { label: "Superuser", value: (u: User) => u.superuser },
            { label: "SCRAM", value: (u: User) => u.scram.join(", ") || null }
          ]}
        />
      </section>
      <${AclView} onNote=${setNote} />
    </div>`
}
