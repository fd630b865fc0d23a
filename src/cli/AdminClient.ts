/**
 * The admin CLI's side of the HTTP admin API (/api/v1): the `--url`, `--token` and `--output`
 * flags every API command takes, a client derived from BrokerApi (src/http/Api.ts), so request
 * and response shapes come from the definition the server is built from, and the mapping of
 * every failure to one line saying what to do next (broker not reachable, token missing or
 * refused, the server's own message otherwise). `send` is the raw request that the event tail
 * (Server-Sent Events) needs. Never prints the token.
 */
import { Options } from "@effect/cli"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Config, Effect, Option, ParseResult, Redacted } from "effect"
import { BrokerApi } from "../http/Api.js"
import { choice } from "./flags.js"

export const DEFAULT_URL = "http://127.0.0.1:8080"

/** A failed admin request, worded for the operator (main.ts prints `message` as one line). */
export class AdminError extends Error {}

export const urlOption = Options.text("url").pipe(
  Options.withPseudoName("URL"),
  Options.withDescription(`the broker's HTTP listener (http.host, http.port); default $ROBUSTMQ_URL or ${DEFAULT_URL}`),
  Options.withFallbackConfig(Config.string("ROBUSTMQ_URL").pipe(Config.withDefault(DEFAULT_URL)))
)

export const tokenOption = Options.redacted("token").pipe(
  Options.withPseudoName("TOKEN"),
  Options.withDescription("admin bearer token (one of http.admin_tokens); default $ROBUSTMQ_TOKEN"),
  Options.withFallbackConfig(Config.redacted("ROBUSTMQ_TOKEN")),
  Options.optional
)

export const outputOption = choice("output", ["table", "json"], "table: aligned text for people (default); json: the API's JSON, for scripts").pipe(
  Options.withAlias("o"),
  Options.withDefault("table" as const)
)

/** The flags of every command that talks to the API. */
export const connectionOptions = { url: urlOption, token: tokenOption, output: outputOption }

export interface Connection {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted<string>>
}

export type Query = Readonly<Record<string, string | number | boolean | undefined>>

export interface RequestOptions {
  readonly query?: Query
  readonly body?: unknown
  /** Milliseconds before giving up (default 10 s). */
  readonly timeoutMs?: number
}

const TIMEOUT_MS = 10_000

/** `base` + `/api/v1` + `path` + the defined query parameters. */
export const apiUrl = (base: string, path: string, query: Query = {}): URL => {
  let url: URL
  try {
    url = new URL(base)
  } catch {
    throw new AdminError(`--url must be an http(s) URL such as ${DEFAULT_URL}, got ${JSON.stringify(base)}`)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new AdminError(`--url must be an http(s) URL such as ${DEFAULT_URL}, got ${JSON.stringify(base)}`)
  }
  const full = new URL(`${url.pathname.replace(/\/+$/, "")}/api/v1${path}`, url)
  for (const [k, v] of Object.entries(query)) if (v !== undefined) full.searchParams.set(k, String(v))
  return full
}

const headersFor = (connection: Connection, accept: string, hasBody: boolean): Record<string, string> => ({
  accept,
  ...(hasBody ? { "content-type": "application/json" } : {}),
  ...(Option.isSome(connection.token) ? { authorization: `Bearer ${Redacted.value(connection.token.value)}` } : {})
})

/** Why fetch threw, for the operator. */
const unreachable = (connection: Connection, e: unknown, timeoutMs: number): AdminError => {
  if (e instanceof AdminError) return e
  const name = (e as { name?: unknown } | null)?.name
  if (name === "TimeoutError" || name === "AbortError") {
    return new AdminError(`no answer from the broker at ${connection.url} within ${timeoutMs / 1000} s: is it overloaded, or is --url another service?`)
  }
  const cause = (e as { cause?: { code?: unknown; message?: unknown } } | null)?.cause
  const code = typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : String(e)
  return new AdminError(`cannot reach the broker at ${connection.url} (${code}): is the broker running with its HTTP listener on? pass --url or set ROBUSTMQ_URL`)
}

/** The `message` of a JSON error body, or the text itself (cut short). */
const serverMessage = (text: string): string | undefined => {
  try {
    const body = JSON.parse(text) as { message?: unknown } | null
    if (typeof body?.message === "string" && body.message !== "") return body.message
  } catch {
    // not JSON: fall through to the text
  }
  const trimmed = text.trim().replace(/\s+/g, " ")
  return trimmed === "" ? undefined : trimmed.slice(0, 200)
}

/** The one line for a non-2xx answer. */
export const describeStatus = (connection: Connection, method: string, path: string, status: number, text: string): AdminError => {
  const message = serverMessage(text)
  if (status === 401) {
    return new AdminError(
      Option.isSome(connection.token)
        ? "the broker refused the token (401): check --token or ROBUSTMQ_TOKEN against http.admin_tokens"
        : `the admin API needs a token (401): pass --token or set ROBUSTMQ_TOKEN`
    )
  }
  if (status === 404 && message === undefined) return new AdminError(`${method} ${path}: not found (404): is the broker at ${connection.url} a RobustMQ with the admin API?`)
  if (status === 413) return new AdminError(`the broker refused the request as too large (413)${message === undefined ? "" : `: ${message}`}`)
  return new AdminError(message ?? `${method} ${path} failed with HTTP ${status}`)
}

/** Opens a request and checks its status; the caller reads the body. */
export const send = (
  connection: Connection,
  method: string,
  path: string,
  options: RequestOptions & { readonly accept?: string; readonly signal?: AbortSignal } = {}
): Effect.Effect<Response, AdminError> =>
  Effect.tryPromise({
    try: async () => {
      const timeoutMs = options.timeoutMs ?? TIMEOUT_MS
      const url = apiUrl(connection.url, path, options.query)
      const hasBody = options.body !== undefined
      const response = await fetch(url, {
        method,
        headers: headersFor(connection, options.accept ?? "application/json", hasBody),
        ...(hasBody ? { body: JSON.stringify(options.body) } : {}),
        signal: options.signal ?? AbortSignal.timeout(timeoutMs)
      })
      if (!response.ok) throw describeStatus(connection, method, `/api/v1${path}`, response.status, await response.text())
      return response
    },
    catch: (e) => unreachable(connection, e, options.timeoutMs ?? TIMEOUT_MS)
  })

const makeApi = (connection: Connection) =>
  HttpApiClient.make(BrokerApi, {
    baseUrl: apiUrl(connection.url, "").href.replace(/\/api\/v1$/, ""),
    transformClient: Option.isSome(connection.token)
      ? HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(connection.token.value)))
      : undefined
  })

/** The typed admin API client: one method per endpoint, grouped as in BrokerApi. */
export type AdminApi = Effect.Effect.Success<ReturnType<typeof makeApi>>

const tagOf = (e: unknown): string | undefined => {
  const tag = (e as { _tag?: unknown } | null)?._tag
  return typeof tag === "string" ? tag : undefined
}

/** Any failure of a call through the typed client, as the one line for the operator. */
const toAdminError = (connection: Connection, e: unknown): Effect.Effect<AdminError> => {
  if (e instanceof AdminError) return Effect.succeed(e)
  const tag = tagOf(e)
  if (tag === "RequestError") return Effect.succeed(unreachable(connection, (e as { cause?: unknown }).cause, TIMEOUT_MS))
  if (tag === "ResponseError") {
    const { request, response } = e as { request: { method: string; url: string }; response: { status: number; text: Effect.Effect<string, unknown> } }
    const path = new URL(request.url).pathname
    return Effect.map(Effect.orElseSucceed(response.text, () => ""), (text) =>
      response.status >= 200 && response.status < 300
        ? new AdminError(`${request.method} ${path} answered in a shape this CLI does not know: are the CLI and the broker the same version?`)
        : describeStatus(connection, request.method, path, response.status, text))
  }
  if (ParseResult.isParseError(e)) {
    return Effect.succeed(new AdminError(`the request or the answer does not fit the admin API (${e.message.replace(/\s*\n\s*/g, " ")}): are the CLI and the broker the same version?`))
  }
  const message = (e as { message?: unknown } | null)?.message
  if (tag === "Unauthorized") return Effect.succeed(describeStatus(connection, "", "", 401, JSON.stringify({ message })))
  if (typeof message === "string" && message !== "") return Effect.succeed(new AdminError(message))
  return Effect.succeed(new AdminError(`the admin API failed: ${String(e)}`))
}

/** Runs `f` with a typed client for the broker at `connection.url`; failures become one AdminError line. */
export const callApi = <A, E>(connection: Connection, f: (api: AdminApi) => Effect.Effect<A, E>): Effect.Effect<A, AdminError> =>
  Effect.suspend(() => makeApi(connection)).pipe(
    Effect.flatMap(f),
    Effect.timeoutFail({ duration: TIMEOUT_MS, onTimeout: () => unreachable(connection, { name: "TimeoutError" }, TIMEOUT_MS) }),
    Effect.catchAllDefect((e) => Effect.fail(e)),
    Effect.catchAll((e: unknown) => Effect.flip(toAdminError(connection, e))),
    Effect.provide(FetchHttpClient.layer)
  )
