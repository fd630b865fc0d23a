/**
 * Shown when the admin API answers 401: a superuser's user name and password (POST /api/v1/login
 * sets an HttpOnly session cookie), or an admin token (http.admin_tokens) kept for this tab only.
 */
import { html } from "htm/preact"
import { useState } from "preact/hooks"
import { ApiError, request, setToken, tokenWasRefused } from "../api.js"
import { valueOf } from "../format.js"

export const Login = ({ onDone }: { onDone: () => void }) => {
  const [username, setUsername] = useState("")
  const [password, setPassword] = useState("")
  const [token, setTokenInput] = useState("")
  const [error, setError] = useState<string | null>(tokenWasRefused() ? "The admin API refused that token." : null)
  const value = (set: (v: string) => void) => (e: Event) => set(valueOf(e))
  return html`
    <div class="page login">
      <h2>Sign in</h2>
      <p>The admin API needs a superuser (<code>auth.superusers</code>) or an admin token (<code>http.admin_tokens</code>).</p>
      ${error !== null && html`<p class="error" data-testid="login-error">${error}</p>`}
      <div class="columns">
        <form class="card form-grid" onSubmit=${async (e: Event) => {
          e.preventDefault()
          try {
            setToken(null)
            await request("POST", "/api/v1/login", { username, password })
            onDone()
          } catch (err) {
            setError(err instanceof ApiError ? err.message : String(err))
          }
        }}>
          <h3>Superuser</h3>
          <label>User name <input name="username" autocomplete="username" value=${username} onInput=${value(setUsername)} /></label>
          <label>Password <input name="password" type="password" autocomplete="current-password" value=${password} onInput=${value(setPassword)} /></label>
          <button type="submit">Sign in</button>
        </form>
        <form class="card form-grid" onSubmit=${(e: Event) => {
          e.preventDefault()
          setToken(token.trim())
          onDone()
        }}>
          <h3>Admin token</h3>
          <label>Token <input name="token" type="password" autocomplete="off" value=${token} onInput=${value(setTokenInput)} /></label>
          <button type="submit">Use token</button>
        </form>
      </div>
    </div>`
}
