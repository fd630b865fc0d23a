/**
 * Server-Sent Events over fetch rather than EventSource: fetch can send the bearer token, which
 * EventSource cannot. Calls `onEvent` per event until the returned stop function is called or
 * the stream ends.
 */
import { ApiError, authHeaders, unauthorized } from "./api.js"

export interface ServerEvent {
  readonly id: string | null
  readonly event: string
  readonly data: string
}

export const streamEvents = (
  path: string,
  onEvent: (event: ServerEvent) => void,
  onEnd: (error: string | null) => void,
  onOpen: () => void = () => {}
): (() => void) => {
  const abort = new AbortController()
  void (async () => {
    try {
      const response = await fetch(path, { headers: { ...authHeaders(), accept: "text/event-stream" }, credentials: "same-origin", signal: abort.signal })
      if (response.status === 401) unauthorized()
      if (!response.ok || response.body === null) throw new ApiError(response.status, "Error", `${path} answered ${response.status}: ${await response.text()}`)
      onOpen()
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += value
        let end: number
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "")
          let id: string | null = null
          let event = "message"
          const data: Array<string> = []
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith(":")) continue
            const colon = line.indexOf(":")
            const field = colon < 0 ? line : line.slice(0, colon)
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "")
            if (field === "data") data.push(text)
            else if (field === "event") event = text
            else if (field === "id") id = text
          }
          if (data.length > 0) onEvent({ id, event, data: data.join("\n") })
        }
      }
      onEnd(null)
    } catch (e) {
      if (!abort.signal.aborted) onEnd(e instanceof Error ? e.message : String(e))
    }
  })()
  return () => abort.abort()
}
