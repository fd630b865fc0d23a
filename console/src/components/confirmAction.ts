/**
 * A row's destructive action (kick, delete): asks first, calls the API, and reports the outcome
 * in the page's note line.
 */
import { html } from "htm/preact"
import { ApiError, request } from "../api.js"

export const ActionButton = ({ label, question, method = "DELETE", path, body, onDone, onNote }: {
  label: string
  question: string
  method?: string
  path: string
  body?: unknown
  onDone: () => void
  onNote: (text: string) => void
}) =>
  html`<button type="button" class="danger small" name=${label.toLowerCase()} onClick=${async () => {
    if (!confirm(question)) return
    try {
      const result = await request<unknown>(method, path, body)
      onNote(`${label}: done${result !== undefined ? ` ${JSON.stringify(result)}` : ""}`)
    } catch (e) {
      onNote(`${label} failed: ${e instanceof ApiError ? e.message : String(e)}`)
    }
    onDone()
  }}>${label}</button>`
