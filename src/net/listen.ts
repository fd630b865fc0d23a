/**
 * Binds a TCP server and turns the usual failures into one line that says what to do, for every
 * listener (MQTT, Kafka). After binding, later server errors are logged, never thrown.
 */
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
    server.listen({ port, host, exclusive: names.shared !== true }, () => {
      server.off("error", onListenError)
      server.on("error", (err) => Effect.runFork(Effect.logError(`${names.protocol} listener error`, err)))
      resume(Effect.succeed((server.address() as net.AddressInfo).port))
    })
  })
