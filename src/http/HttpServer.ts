/**
 * The HTTP listener (`http.port`, `http.host`): health, Prometheus metrics and the OpenAPI
 * document, served from the BrokerApi definition. It opens before storage (App.ts), so
 * `/health/ready` answers 503 while the log replays and again once a shutdown has begun.
 * Nothing here is on the per-message path.
 */
import { createServer } from "node:http"
import { HttpApiBuilder, type HttpApp, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import type { RouteNotFound } from "@effect/platform/HttpServerError"
import { Context, Effect, Layer } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { BrokerApi, Health, NotReady } from "./Api.js"
import { Metrics, scrape } from "./Metrics.js"
import { Readiness } from "./Readiness.js"

/** The bound HTTP port (-1 when the listener is off). */
export class HttpListener extends Context.Tag("broker/HttpListener")<HttpListener, { readonly port: number }>() {}

const HealthLive = HttpApiBuilder.group(BrokerApi, "health", (handlers) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    return handlers
      .handle("live", () => Effect.succeed(new Health({ status: "ok", phase: readiness.phase })))
      .handle("ready", () =>
        readiness.phase === "ready"
          ? Effect.succeed(new Health({ status: "ok", phase: "ready" }))
          : Effect.fail(new NotReady({
            phase: readiness.phase,
            message: readiness.phase === "starting" ? "storage is being replayed; listeners open when it is done" : "the broker is shutting down"
          })))
  }))

/** OpenMetrics when the scraper asks for it (Prometheus does by default), the text format otherwise. */
const wantsOpenMetrics = (accept: string | undefined): boolean => accept !== undefined && accept.includes("application/openmetrics-text")

const MetricsLive = HttpApiBuilder.group(BrokerApi, "metrics", (handlers) =>
  Effect.gen(function*() {
    const registries = yield* Metrics
    return handlers.handleRaw("scrape", ({ request }) =>
      Effect.gen(function*() {
        if (registries === null) return textResponse(404, "metrics are off")
        const { body, contentType } = yield* scrape(registries, wantsOpenMetrics(request.headers.accept))
        return HttpServerResponse.uint8Array(body, { status: 200, contentType })
      }))
  }))

const textResponse = (status: number, body: string, contentType = "text/plain; charset=utf-8") =>
  HttpServerResponse.text(body, { status, contentType })

/**
 * An unknown route gets 404 with a JSON body saying where the routes are, like every other error
 * here. (The router fails with RouteNotFound; a middleware given to the server would see it
 * only after the server answered it with an empty 404, so the app is wrapped before serving.)
 */
const notFoundAsJson = <R>(app: HttpApp.Default<never, R>): HttpApp.Default<never, R> =>
  Effect.catchIf(
    app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, R | HttpServerRequest.HttpServerRequest>,
    (e): e is RouteNotFound => (e as { _tag?: unknown } | null)?._tag === "RouteNotFound",
    (e) =>
      Effect.succeed(HttpServerResponse.unsafeJson(
        { _tag: "NotFound", message: `no route ${e.request.method} ${e.request.url}: see /api/v1/openapi.json` },
        { status: 404 }
      ))
  ) as HttpApp.Default<never, R>

const ApiLive = HttpApiBuilder.api(BrokerApi).pipe(Layer.provide(HealthLive), Layer.provide(MetricsLive))

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
export const layer: Layer.Layer<HttpListener, Error, BrokerConfig | Readiness | Metrics> = Layer.unwrapEffect(
  Effect.map(BrokerConfig, (config) => {
    const { host, port } = config.http
    if (port < 0) return Layer.succeed(HttpListener, { port: -1 })
    const server = NodeHttpServer.layer(createServer, { host, port }).pipe(
      Layer.mapError((e) => new Error(describeListenError(host, port, e.cause)))
    )
    const bound = Layer.effect(
      HttpListener,
      HttpServer.addressWith((address) =>
        Effect.gen(function*() {
          const boundPort = address._tag === "TcpAddress" ? address.port : -1
          yield* Effect.log(`HTTP listening on ${host}:${boundPort} (/metrics, /health/live, /health/ready)`)
          return { port: boundPort }
        })
      )
    )
    // HttpApiBuilder.serve() without its error-to-empty-404 step coming first: see notFoundAsJson.
    const routes = Layer.unwrapEffect(Effect.map(HttpApiBuilder.httpApp, (app) => HttpServer.serve(notFoundAsJson(app)))).pipe(
      Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer]),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/api/v1/openapi.json" })),
      Layer.provide(ApiLive)
    )
    return Layer.merge(routes, bound).pipe(Layer.provide(server))
  })
)
