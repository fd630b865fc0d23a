/**
 * Shown when the admin API answers 401: an admin token (http.admin_tokens), kept for this tab only.
 */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { setToken } from "../api.js"

export const Login = ({ onDone }: { onDone: () => void }) => {
  const [token, setTokenInput] = useState("")
  return html`
    <div class="page login">
      <h2>Sign in</h2>
      <p>The admin API needs a token: one of <code>http.admin_tokens</code>.</p>
      <form class="card form-grid" onSubmit=${(e: Event) => {
        e.preventDefault()
        setToken(token.trim())
        onDone()
      }}>
        <label>Admin token <input name="token" type="password" autocomplete="off" value=${token} onInput=${(e: Event) => setTokenInput((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">Sign in</button>
      </form>
    </div>`
}
