/**
 * The admin API (/api/v1) from the browser. A bearer token, once given on the login screen, is
 * kept for this tab only (sessionStorage); a console session cookie travels by itself. Every
 * failure becomes an ApiError carrying the API's own message, which the pages show as it is.
 */
const TOKEN_KEY = "robustmq.token"

export class ApiError extends Error {
  constructor(readonly status: number, readonly tag: string, message: string) {
    super(message)
  }
}

export const getToken = (): string | null => sessionStorage.getItem(TOKEN_KEY)
export const setToken = (token: string | null): void => {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, token)
}

/** Called when the API answers 401, so the shell can show the login screen. */
let onUnauthorized: () => void = () => {}
export const setUnauthorizedHandler = (handler: () => void): void => {
  onUnauthorized = handler
}

/** The bearer token's header, when one was given. */
export const authHeaders = (): Record<string, string> => {
  const token = getToken()
  return token === null ? {} : { authorization: `Bearer ${token}` }
}

/** A token the API refused is dropped, so the login screen can say so and ask again. */
let refusedToken = false
export const tokenWasRefused = (): boolean => refusedToken
export const unauthorized = (): void => {
  refusedToken = getToken() !== null
  if (refusedToken) setToken(null)
  onUnauthorized()
}

const headers = (json: boolean): Record<string, string> => ({
  accept: "application/json",
  ...authHeaders(),
  ...(json ? { "content-type": "application/json" } : {})
})

/** A request to the broker's HTTP listener; `path` starts with `/`. */
export const request = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await response.text()
  if (!response.ok) {
    let tag = "Error"
    let message = text || `${response.status} ${response.statusText}`
    try {
      const json = JSON.parse(text) as { _tag?: string; message?: string }
      tag = json._tag ?? tag
      message = json.message ?? message
    } catch {
      // not JSON: keep the text
    }
    if (response.status === 401) unauthorized()
    throw new ApiError(response.status, tag, message)
  }
  return (text === "" ? undefined : JSON.parse(text)) as T
}

export const get = <T>(path: string, query: Readonly<Record<string, string | number | undefined>> = {}): Promise<T> => {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(key, String(value))
  const qs = params.toString()
  return request<T>("GET", qs === "" ? path : `${path}?${qs}`)
}

/** /metrics as text (the overview charts read it). */
export const metricsText = async (): Promise<string> => {
  const response = await fetch("/metrics", { headers: headers(false), credentials: "same-origin" })
  if (response.status === 401) unauthorized()
  if (!response.ok) throw new ApiError(response.status, "Error", `/metrics answered ${response.status}`)
  return response.text()
}
