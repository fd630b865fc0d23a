/**
 * The HTTP listener (`http.port`, `http.host`): health, Prometheus metrics and the OpenAPI
 * document, served from the BrokerApi definition. It opens before storage (App.ts), so
 * `/health/ready` answers 503 while the log replays and again once a shutdown has begun.
 * Nothing here is on the per-message path.
 */
import { createServer } from "node:http"
import { HttpApiBuilder, type HttpApp, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type { RequestError, RouteNotFound } from "@effect/platform/HttpServerError"
import { Cause, Effect, Layer, Option } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { BrokerApi, Health, NotReady } from "./Api.js"
import { AdminCredentials } from "./admin/AdminAuth.js"
import { Unauthorized } from "./admin/errors.js"
import type { BrokerHandle } from "./admin/BrokerHandle.js"
import { AdminLive } from "./admin/index.js"
import * as ConsoleStatic from "./consoleStatic.js"
import { HttpListener } from "./HttpListener.js"
import { Metrics, scrape } from "./Metrics.js"
import { Readiness } from "./Readiness.js"


/** With http.metrics_auth, /metrics and /health/* take the admin API's credentials. */
const metricsAuth = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const credentials = yield* AdminCredentials
  return (request: HttpServerRequest.HttpServerRequest): boolean =>
    !config.http.metricsAuth || credentials.requestAccepted({ authorization: request.headers.authorization, cookie: request.headers.cookie })
})

const metricsAuthRefusal = "http.metrics_auth is on: send Authorization: Bearer <one of http.admin_tokens>"

const HealthLive = HttpApiBuilder.group(BrokerApi, "health", (handlers) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const allowed = yield* metricsAuth
    const guarded = <A, E>(request: HttpServerRequest.HttpServerRequest, answer: Effect.Effect<A, E>) =>
      allowed(request) ? answer : Effect.fail(new Unauthorized({ message: metricsAuthRefusal }))
    return handlers
      .handle("live", ({ request }) => guarded(request, Effect.succeed(new Health({ status: "ok", phase: readiness.phase }))))
      .handle("ready", ({ request }) =>
        guarded(
          request,
          readiness.phase === "ready"
            ? Effect.succeed(new Health({ status: "ok", phase: "ready" }))
            : Effect.fail(new NotReady({
              phase: readiness.phase,
              message: readiness.phase === "starting" ? "storage is being replayed; listeners open when it is done" : "the broker is shutting down"
            }))
        ))
  }))

/** OpenMetrics when the scraper asks for it (Prometheus does by default), the text format otherwise. */
const wantsOpenMetrics = (accept: string | undefined): boolean => accept !== undefined && accept.includes("application/openmetrics-text")

const MetricsLive = HttpApiBuilder.group(BrokerApi, "metrics", (handlers) =>
  Effect.gen(function*() {
    const registries = yield* Metrics
    const allowed = yield* metricsAuth
    return handlers.handleRaw("scrape", ({ request }) =>
      Effect.gen(function*() {
        if (registries === null) return textResponse(404, "metrics are off")
        if (!allowed(request)) return textResponse(401, metricsAuthRefusal)
        const { body, contentType } = yield* scrape(registries, wantsOpenMetrics(request.headers.accept))
        return HttpServerResponse.uint8Array(body, { status: 200, contentType })
      }))
  }))

const textResponse = (status: number, body: string, contentType = "text/plain; charset=utf-8") =>
  HttpServerResponse.text(body, { status, contentType })

const errorBody = (tag: string, message: string, status: number) => HttpServerResponse.unsafeJson({ _tag: tag, message }, { status })

/**
 * Errors the router and the body reader raise get JSON bodies like every other error here: an
 * unknown route 404, a body that is not JSON 400 with the parser's words, a body over the limit
 * 413. (They fail the app; a middleware given to the server would see them only after the
 * server answered them with empty bodies, so the app is wrapped before serving.)
 */
const errorsAsJson = <R>(app: HttpApp.Default<never, R>, maxBodyBytes: number): HttpApp.Default<never, R> => {
  const tooLarge = () => errorBody("PayloadTooLarge", `the request body is over ${maxBodyBytes} bytes`, 413)
  /** The JSON answer for a router or body-reader error, or null for anything else. */
  const answer = (e: unknown): HttpServerResponse.HttpServerResponse | null => {
    const tag = (e as { _tag?: unknown } | null)?._tag
    if (tag === "RouteNotFound") {
      const { request } = e as RouteNotFound
      return errorBody("NotFound", `no route ${request.method} ${request.url}: see /api/v1/openapi.json`, 404)
    }
    if (tag !== "RequestError") return null
    const { cause, reason } = e as RequestError
    const why = cause instanceof Error ? cause.message : String(cause ?? reason)
    if (why === "maxBytes exceeded") return tooLarge()
    return errorBody("BadRequest", `the request body could not be read as JSON (${why}): send Content-Type: application/json and a valid JSON document`, 400)
  }
  const guarded = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Number(request.headers["content-length"] ?? 0) > maxBodyBytes
      ? Effect.succeed(tooLarge())
      : (app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, R | HttpServerRequest.HttpServerRequest>))
  return guarded.pipe(
    HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes)),
    // The API builder reads bodies with orDie: a body that is not JSON arrives as a defect.
    Effect.catchAllCause((cause) => {
      const e = Cause.isFailType(cause) ? cause.error : Cause.isDieType(cause) ? cause.defect : undefined
      const response = e === undefined ? null : answer(e)
      return response === null ? Effect.failCause(cause) : Effect.succeed(response)
    })
  ) as HttpApp.Default<never, R>
}

const ApiLive = HttpApiBuilder.api(BrokerApi).pipe(Layer.provide([HealthLive, MetricsLive, AdminLive]))

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || host.startsWith("127.")

/** Where to listen: `http.host`, unless the admin API is open (no credentials) and that is not loopback. */
export const bindHost = (configured: string, open: boolean): string => (open && !isLoopback(configured) ? "127.0.0.1" : configured)

const describeListenError = (host: string, port: number, cause: unknown): string => {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return code === "EADDRINUSE"
    ? `HTTP port ${port} is already in use: stop the other process or pass --http-port (-1 turns the HTTP listener off)`
    : code === "EACCES"
    ? `not allowed to listen on ${host}:${port}: use a port above 1023 or run with the needed privilege`
    : `cannot listen on ${host}:${port} (${code ?? String(cause)}): check http.host and --http-port`
}

/**
 * The listener with its routes, or only an HttpListener saying -1 when `http.port` is -1.
 * Needs Readiness and Metrics, which the caller provides beneath storage.
 */
export const layer: Layer.Layer<HttpListener, Error, BrokerConfig | Readiness | Metrics | BrokerHandle | AdminCredentials> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* BrokerConfig
    const credentials = yield* AdminCredentials
    const { port } = config.http
    if (port < 0) return Layer.succeed(HttpListener, { host: config.http.host, port: -1 })
    const host = bindHost(config.http.host, credentials.open)
    if (host !== config.http.host) {
      yield* Effect.logWarning(
        `HTTP: no http.admin_tokens and no auth.superusers, so the admin API is open and the listener binds ${host} only, not ${config.http.host}: set http.admin_tokens (or auth.superusers) to serve other machines`
      )
    }
    // exclusive: under --workers N each worker serves its own HTTP port (its own /metrics).
    const server = NodeHttpServer.layer(createServer, { host, port, exclusive: true }).pipe(
      Layer.mapError((e) => new Error(describeListenError(host, port, e.cause)))
    )
    const bound = Layer.effect(
      HttpListener,
      HttpServer.addressWith((address) =>
        Effect.gen(function*() {
          const boundPort = address._tag === "TcpAddress" ? address.port : -1
          yield* Effect.log(`HTTP listening on ${host}:${boundPort} (console /, admin API /api/v1, /metrics, /health/live, /health/ready)`)
          return { host, port: boundPort }
        })
      )
    )
    // HttpApiBuilder.serve() without its error-to-empty-response step coming first: see errorsAsJson.
    // A base64 MQTT payload of limits.max_packet_size fits, up to 16 MiB.
    const maxBodyBytes = Math.min(16 << 20, Math.max(1 << 20, Math.ceil(config.limits.maxPacketSize * 4 / 3) + 4096))
    const routes = Layer.unwrapEffect(Effect.map(HttpApiBuilder.httpApp, (app) => HttpServer.serve(errorsAsJson(app, maxBodyBytes)))).pipe(
      Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer]),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/api/v1/openapi.json" })),
      Layer.provide(ConsoleStatic.layer),
      Layer.provide(ApiLive)
    )
    return Layer.merge(routes, bound).pipe(Layer.provide(server))
  })
)
