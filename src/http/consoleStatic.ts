/**
 * The web console's files, built by scripts/build-console.mjs into dist/console: index.html at `/`
 * and at every `/console/*` path (the console's own pages, routed in the browser), and the
 * content-hashed bundles at `/assets/<name>`, cached for good and sent gzipped (precompressed at
 * build) when the client accepts it. A request names a file only by looking it up in the list of
 * files the build wrote (listed at start, and again after a rebuild), so no request path ever
 * reaches the file system; `..` (encoded or not), slashes, backslashes and NULs are refused with a
 * JSON 400 before any lookup.
 */
import { existsSync, readdirSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"

/** The project root: the nearest directory above this module holding package.json (from src/ and dist/src/ alike). */
const projectRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

export const consoleDir = join(projectRoot(), "dist", "console")

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  html: "text/html; charset=utf-8",
  json: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  woff2: "font/woff2",
  map: "application/json"
}

const contentType = (name: string): string => CONTENT_TYPES[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream"

/** Hashed names never change content; index.html is checked on every load so a new build shows at once. */
const IMMUTABLE = "public, max-age=31536000, immutable"
const NO_CACHE = "no-cache"

/**
 * What the console may load: its own files, and the broker's WebSocket listeners and HTTP API
 * (any host: the MQTT client page may connect elsewhere). No inline script, nothing from a CDN.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

const jsonError = (status: number, tag: string, message: string) => HttpServerResponse.unsafeJson({ _tag: tag, message }, { status })

/** A name as the build writes them (`main-7STOTRDB.js`): the only shape /assets/ serves. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** The part of a path after `prefix`, decoded; null when it cannot be decoded. */
const decodedRest = (url: string, prefix: string): string | null => {
  const path = url.split(/[?#]/, 1)[0]!
  try {
    return decodeURIComponent(path.slice(prefix.length))
  } catch {
    return null
  }
}

/** A traversal attempt or an absolute path: `..` as a segment, a backslash, a NUL, or a leading slash. */
const isTraversal = (decoded: string): boolean =>
  decoded.startsWith("/") || decoded.includes("\\") || decoded.includes("\0") || decoded.split("/").includes("..")

const TRAVERSAL_MESSAGE = "path traversal refused: console paths hold no '..', '\\', NUL or absolute path (files are /assets/<name>)"

/**
 * The files of the build, listed at start and again (at most once a second) when a name is
 * missing: a rebuild under a running broker.
 */
const makeBuildListing = () => {
  let index = false
  let assets: ReadonlySet<string> = new Set()
  let listedAt = 0
  const list = () => {
    if (Date.now() - listedAt < 1000) return
    listedAt = Date.now()
    const assetsDir = join(consoleDir, "assets")
    index = existsSync(join(consoleDir, "index.html"))
    assets = new Set(index && existsSync(assetsDir) ? readdirSync(assetsDir).filter((n) => !n.endsWith(".gz")) : [])
  }
  list()
  return {
    hasIndex: () => index || (list(), index),
    hasAsset: (name: string) => assets.has(name) || (list(), assets.has(name))
  }
}

const acceptsGzip = (request: HttpServerRequest.HttpServerRequest): boolean => /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")

/** One file, gzipped when the client takes it and the build wrote a .gz beside it. */
const sendFile = (request: HttpServerRequest.HttpServerRequest, path: string, name: string, cacheControl: string, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const gzip = acceptsGzip(request)
    const body = yield* Effect.promise(() => (gzip ? readFile(path + ".gz").catch(() => null) : Promise.resolve(null)))
    const headers: Record<string, string> = { "cache-control": cacheControl, vary: "accept-encoding", "x-content-type-options": "nosniff", ...extra }
    if (body !== null) headers["content-encoding"] = "gzip"
    const bytes = body ?? (yield* Effect.promise(() => readFile(path)))
    return HttpServerResponse.uint8Array(bytes, { status: 200, contentType: contentType(name), headers })
  })

/** The routes `/`, `/console/*` and `/assets/*`, added to the API's router. */
export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const build = makeBuildListing()
    const notBuilt = jsonError(404, "NotFound", "the web console is not built: run `npm run build` (scripts/build-console.mjs writes dist/console)")

    const index = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const rest = decodedRest(request.url, "/")
      if (rest === null) return jsonError(400, "BadRequest", "the path is not valid percent-encoding")
      if (isTraversal(rest)) return jsonError(400, "BadRequest", TRAVERSAL_MESSAGE)
      if (!build.hasIndex()) return notBuilt
      return yield* sendFile(request, join(consoleDir, "index.html"), "index.html", NO_CACHE, { "content-security-policy": CSP, "x-frame-options": "DENY" })
    })

    const asset = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const name = decodedRest(request.url, "/assets/")
      if (name === null) return jsonError(400, "BadRequest", "the path is not valid percent-encoding")
      if (isTraversal(name) || name.includes("/") || !SAFE_NAME.test(name)) return jsonError(400, "BadRequest", TRAVERSAL_MESSAGE)
      if (!build.hasIndex()) return notBuilt
      if (!build.hasAsset(name)) return jsonError(404, "NotFound", `no console file ${name}: reload the console (the broker may run a newer build)`)
      return yield* sendFile(request, join(consoleDir, "assets", name), name, IMMUTABLE)
    })

    yield* router.get("/", index)
    yield* router.get("/console", index)
    yield* router.get("/console/*", index)
    yield* router.get("/assets/*", asset)
  })
)
