/** Users (names only), the ACL in force (with reload), and bans: list, add for a duration, delete. */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { ApiError, get, request } from "../api.js"
import { ActionButton } from "../components/confirmAction.js"
import { PagedTable } from "../components/PagedTable.js"

interface User {
  readonly username?: string
  readonly name?: string
  readonly superuser?: boolean
}

interface Ban {
  readonly kind: string
  readonly value: string
  readonly reason?: string | null
  readonly expiresAt?: string | null
  readonly createdAt?: string
}

const banPath = (b: Ban) => `/api/v1/bans/${encodeURIComponent(b.kind)}/${encodeURIComponent(b.value)}`
const message = (e: unknown) => (e instanceof ApiError ? e.message : String(e))

const AclView = ({ onNote }: { onNote: (s: string) => void }) => {
  const [acl, setAcl] = useState<string | null>(null)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    get<unknown>("/api/v1/acl").then((a) => setAcl(JSON.stringify(a, null, 2)), (e) => setAcl(message(e)))
  }, [tick])
  return html`
    <section class="card">
      <h3>ACL <button type="button" class="secondary small" name="reload-acl" onClick=${async () => {
        try {
          await request("POST", "/api/v1/acl/reload")
          onNote("ACL reloaded from its file")
        } catch (e) {
          onNote(`reload failed: ${message(e)}`)
        }
        setTick((t) => t + 1)
      }}>Reload from file</button></h3>
      <pre class="acl">${acl ?? "…"}</pre>
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
        await request("POST", "/api/v1/bans", { kind, value: value.trim(), durationSeconds: Number(duration), reason: reason || undefined })
        onNote(`banned ${kind} ${value.trim()}`)
        setValue("")
        onAdded()
      } catch (err) {
        onNote(`ban failed: ${message(err)}`)
      }
    }}>
      <label>Kind <select name="banKind" value=${kind} onChange=${(e: Event) => setKind((e.target as HTMLSelectElement).value)}>
        <option value="ip">IP or CIDR</option><option value="clientId">client id</option><option value="username">user name</option></select></label>
      <label>Value <input name="banValue" required value=${value} placeholder=${kind === "ip" ? "10.0.0.0/8" : ""} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} /></label>
      <label>For (seconds) <input name="banDuration" type="number" min="1" value=${duration} onInput=${(e: Event) => setDuration((e.target as HTMLInputElement).value)} /></label>
      <label>Reason <input name="banReason" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
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
          columns=${[
            { label: "Kind", value: (b: Ban) => b.kind },
            { label: "Value", value: (b: Ban) => b.value, className: "mono" },
            { label: "Reason", value: (b: Ban) => b.reason },
            { label: "Until", value: (b: Ban) => (b.expiresAt ? new Date(b.expiresAt).toLocaleString() : null) }
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
          rowKey=${(u: User) => u.username ?? u.name ?? ""}
          filters=${[{ name: "prefix", label: "Name prefix" }]}
          columns=${[
            { label: "User name", value: (u: User) => u.username ?? u.name, className: "mono" },
            { label: "Superuser", value: (u: User) => u.superuser }
          ]}
        />
      </section>
      <${AclView} onNote=${setNote} />
    </div>`
}
