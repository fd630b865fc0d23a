/**
 * Binds a TCP server and turns the usual failures into one line that says what to do, for every
 * listener (MQTT, Kafka). After binding, later server errors are logged, never thrown.
 */
import cluster from "node:cluster"
import type * as net from "node:net"
import { Effect } from "effect"

export interface ListenerNames {
  /** "MQTT", "Kafka": used in messages. */
  readonly protocol: string
  /** How the operator changes the port, e.g. "--mqtt-port". */
  readonly portHint: string
  /** How the operator changes host and port, e.g. "--mqtt-host and --mqtt-port". */
  readonly addressHint: string
  /**
   * Under `--workers N`, every worker serves this port (node:cluster shares it); otherwise each
   * binds its own (the Kafka, HTTP and node-link ports are per worker).
   */
  readonly shared?: boolean
}

/**
 * Binds `server` for the enclosing scope (closed with it) and logs `what` with the bound
 * address: for the listeners that are off unless their port is set (port 0 is then logged).
 */
export const openListener = (server: net.Server, host: string, port: number, names: ListenerNames & { readonly what: string }) =>
  Effect.gen(function*() {
    const bound = yield* Effect.acquireRelease(listen(server, host, port, names), () => Effect.sync(() => server.close()))
    yield* Effect.log(`${names.what} listening on ${host}:${bound}`)
    return bound
  })

/**
 * Node 22.12+ and 23.1+ on Linux can bind one port from several processes (SO_REUSEPORT): the
 * kernel then spreads connections over the workers, and none passes through the primary.
 */
export const reusePortSupported = (version: string = process.versions.node, platform: string = process.platform): boolean => {
  const [major = 0, minor = 0] = version.split(".").map(Number)
  return platform === "linux" && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12))
}

/**
 * How a worker binds a port all workers serve: its own socket with SO_REUSEPORT where the
 * runtime can, else through the primary (node:cluster hands each connection to a worker). A
 * port picked at random (0) goes through the primary: it must be the same for every worker.
 */
export const sharedBinding = (shared: boolean, port: number, isWorker: boolean = cluster.isWorker, supported: boolean = reusePortSupported()): "own" | "primary" | "reuse-port" =>
  !shared || !isWorker ? "own" : port !== 0 && supported ? "reuse-port" : "primary"

/** Resolves with the bound port (useful with port 0). */
export const listen = (server: net.Server, host: string, port: number, names: ListenerNames) =>
  Effect.async<number, Error>((resume) => {
    const onListenError = (err: NodeJS.ErrnoException) => {
      const message = err.code === "EADDRINUSE"
        ? `${names.protocol} port ${port} is already in use: stop the other process or pass ${names.portHint}`
        : err.code === "EACCES"
        ? `not allowed to listen on ${host}:${port}: use a port above 1023 or run with the needed privilege`
        : `cannot listen on ${host}:${port} (${err.code ?? err.message}): check ${names.addressHint}`
      resume(Effect.fail(new Error(message)))
    }
    server.once("error", onListenError)
    const binding = sharedBinding(names.shared === true, port)
    server.listen({ port, host, exclusive: binding !== "primary", ...(binding === "reuse-port" ? { reusePort: true } : {}) }, () => {
      server.off("error", onListenError)
      server.on("error", (err) => Effect.runFork(Effect.logError(`${names.protocol} listener error`, err)))
      if (binding === "reuse-port") Effect.runFork(Effect.logInfo(`${names.protocol} port ${port}: this worker's own socket (SO_REUSEPORT), connections spread by the kernel`))
      resume(Effect.succeed((server.address() as net.AddressInfo).port))
    })
  })
