/**
 * The MQTT listeners beside plain TCP, each off unless its port is set: MQTT over TLS
 * (mqtt.tls_port), over WebSocket (mqtt.ws_port) and over WebSocket with TLS (mqtt.wss_port).
 * Every one feeds the same ServerContext as the TCP listener, so limits, sessions, shutdown and
 * the sweep treat its connections alike. Built above MqttServer: its scope closes first, so
 * these stop accepting before the connections are closed.
 */
import type * as net from "node:net"
import * as tls from "node:tls"
import { Context, Effect, Layer } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { inputFaults } from "../net/inputFaults.js"
import { listen, type ListenerNames } from "../net/listen.js"
import * as TlsContext from "../tls/TlsContext.js"
import { acceptSocket, MqttServer } from "./MqttServer.js"
import { makeWebSocketServer } from "./webSocketServer.js"

/** The bound ports (useful with port 0); -1 for a listener that is off. */
export class MqttListeners extends Context.Tag("broker/MqttListeners")<MqttListeners, {
  readonly tlsPort: number
  readonly wsPort: number
  readonly wssPort: number
}>() {}

/** A TLS client has this long to finish its handshake (Node's default is 120 s). */
const HANDSHAKE_TIMEOUT_MS = 10_000

/** Binds `server`, closes it with the scope, logs the bound address. */
const open = (server: net.Server, host: string, port: number, names: ListenerNames & { readonly what: string }) =>
  Effect.gen(function*() {
    const bound = yield* Effect.acquireRelease(listen(server, host, port, names), () => Effect.sync(() => server.close()))
    yield* Effect.log(`${names.what} listening on ${host}:${bound}`)
    return bound
  })

export const make = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const { context: ctx } = yield* MqttServer
  const { host, tlsPort, wsPort, wssPort, wsPath, wsTrustProxy } = config.mqtt
  const enabledBy = tlsPort >= 0 ? "mqtt.tls_port" : wssPort >= 0 ? "mqtt.wss_port" : null
  const secure = enabledBy === null ? null : yield* TlsContext.make(config.tls, enabledBy)

  let tlsBound = -1
  if (tlsPort >= 0) {
    const server = tls.createServer({ ...secure!.serverOptions, noDelay: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket) => acceptSocket(ctx, socket))
    // Garbage, plain MQTT or a refused client certificate: that socket alone is dropped.
    server.on("tlsClientError", () => {
      inputFaults.tlsHandshakeFailures++
    })
    secure!.register(server)
    tlsBound = yield* open(server, host, tlsPort, { protocol: "MQTT over TLS", portHint: "--mqtts-port", addressHint: "--mqtt-host and --mqtts-port", what: "MQTT over TLS" })
  }
  let wsBound = -1
  if (wsPort >= 0) {
    const server = makeWebSocketServer(ctx, { path: wsPath, trustProxy: wsTrustProxy, tls: null })
    wsBound = yield* open(server, host, wsPort, { protocol: "MQTT over WebSocket", portHint: "--ws-port", addressHint: "--mqtt-host and --ws-port", what: `MQTT over WebSocket (path ${wsPath})` })
  }
  let wssBound = -1
  if (wssPort >= 0) {
    const server = makeWebSocketServer(ctx, { path: wsPath, trustProxy: wsTrustProxy, tls: { ...secure!.serverOptions, handshakeTimeout: HANDSHAKE_TIMEOUT_MS } })
    secure!.register(server as tls.Server)
    wssBound = yield* open(server, host, wssPort, { protocol: "MQTT over WebSocket with TLS", portHint: "--wss-port", addressHint: "--mqtt-host and --wss-port", what: `MQTT over WebSocket with TLS (path ${wsPath})` })
  }
  return MqttListeners.of({ tlsPort: tlsBound, wsPort: wsBound, wssPort: wssBound })
})

export const layer = Layer.scoped(MqttListeners, make)
