/**
 * The MQTT listeners beside plain TCP, each off unless its port is set: MQTT over TLS
 * (mqtt.tls_port), over WebSocket (mqtt.ws_port) and over WebSocket with TLS (mqtt.wss_port).
 * Every one feeds the same ServerContext as the TCP listener, so limits, sessions, shutdown and
 * the sweep treat its connections alike. Built above MqttServer: its scope closes first, so
 * these stop accepting before the connections are closed.
 */
import type * as tls from "node:tls"
import { Context, Effect, Layer } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { openListener } from "../net/listen.js"
import { SharedTls } from "../tls/TlsContext.js"
import { createTlsServer, HANDSHAKE_TIMEOUT_MS } from "../tls/tlsServer.js"
import { acceptSocket, MqttServer } from "./MqttServer.js"
import { makeWebSocketServer } from "./webSocketServer.js"

/** The bound ports (useful with port 0); -1 for a listener that is off. */
export class MqttListeners extends Context.Tag("broker/MqttListeners")<MqttListeners, {
  readonly tlsPort: number
  readonly wsPort: number
  readonly wssPort: number
}>() {}

export const make = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const { context: ctx } = yield* MqttServer
  const { host, tlsPort, wsPort, wssPort, wsPath, wsTrustProxy } = config.mqtt
  const secure = (yield* SharedTls).context

  let tlsBound = -1
  if (tlsPort >= 0) {
    // Garbage, plain MQTT or a refused client certificate: that socket alone is dropped.
    const server = createTlsServer(secure!, (socket) => acceptSocket(ctx, socket, "tls"), ctx.debug)
    tlsBound = yield* openListener(server, host, tlsPort, { protocol: "MQTT over TLS", portHint: "--mqtts-port", addressHint: "--mqtt-host and --mqtts-port", shared: true, what: "MQTT over TLS" })
  }
  let wsBound = -1
  if (wsPort >= 0) {
    const server = makeWebSocketServer(ctx, { path: wsPath, trustProxy: wsTrustProxy, tls: null })
    wsBound = yield* openListener(server, host, wsPort, { protocol: "MQTT over WebSocket", portHint: "--ws-port", addressHint: "--mqtt-host and --ws-port", shared: true, what: `MQTT over WebSocket (path ${wsPath})` })
  }
  let wssBound = -1
  if (wssPort >= 0) {
    const server = makeWebSocketServer(ctx, { path: wsPath, trustProxy: wsTrustProxy, tls: { ...secure!.serverOptions, handshakeTimeout: HANDSHAKE_TIMEOUT_MS } })
    secure!.register(server as tls.Server)
    wssBound = yield* openListener(server, host, wssPort, { protocol: "MQTT over WebSocket with TLS", portHint: "--wss-port", addressHint: "--mqtt-host and --wss-port", shared: true, what: `MQTT over WebSocket with TLS (path ${wsPath})` })
  }
  return MqttListeners.of({ tlsPort: tlsBound, wsPort: wsBound, wssPort: wssBound })
})

export const layer = Layer.scoped(MqttListeners, make)
