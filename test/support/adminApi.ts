/** A small client for the admin API in tests: JSON in, JSON out, with a bearer token. */
export interface AdminResponse<T = unknown> {
  readonly status: number
  readonly body: T
}

export const adminApi = (base: string, token?: string) => {
  const call = async <T = any>(method: string, path: string, body?: unknown): Promise<AdminResponse<T>> => {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers["content-type"] = "application/json"
    const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    const text = await res.text()
    return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as T }
  }
  return {
    get: <T = any>(path: string) => call<T>("GET", path),
    post: <T = any>(path: string, body?: unknown) => call<T>("POST", path, body ?? {}),
    del: <T = any>(path: string) => call<T>("DELETE", path)
  }
}
