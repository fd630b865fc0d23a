/** The effective configuration (defaults, file, env and flags merged), secrets redacted by the API. */
import { html } from "htm/preact"
import { useEffect, useState } from "preact/hooks"
import { ApiError, get } from "../api.js"

export const Config = () => {
  const [config, setConfig] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    get<unknown>("/api/v1/config").then((c) => setConfig(JSON.stringify(c, null, 2)), (e) => setError(e instanceof ApiError ? e.message : String(e)))
  }, [])
  return html`
    <div class="page">
      <h2>Configuration</h2>
      <p class="muted">What this broker runs with: defaults, the TOML file, <code>ROBUSTMQ_*</code> variables and flags merged. Tokens and secrets are redacted.</p>
      ${error !== null && html`<p class="error">${error}</p>`}
      <section class="card"><pre class="config" data-testid="config">${config ?? "…"}</pre></section>
    </div>`
}
