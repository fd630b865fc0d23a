/**
 * The HTTP side of an MQTT WebSocket listener (ws:// or, given TLS options, wss://): upgrades
 * on mqtt.ws_path with an MQTT subprotocol become Connections (WebSocketTransport.ts); anything
 * else gets an HTTP error that says what the port is for. Framing is the `ws` package's, with
 * per-message compression off and a message limit of limits.max_packet_size (close 1009).
 */
import * as http from "node:http"
import * as https from "node:https"
import type { Duplex } from "node:stream"
import type * as tls from "node:tls"
import { WebSocketServer } from "ws"
import { inputFaults } from "../net/inputFaults.js"
import { handshakeFailedLine } from "../tls/tlsServer.js"
import type { ServerContext } from "./ServerContext.js"
import { acceptWebSocket } from "./WebSocketTransport.js"

/** MQTT's WebSocket subprotocol names [MQTT-6.0.0-3]; older clients send the versioned ones. */
const SUBPROTOCOLS = ["mqtt", "mqttv3.1", "mqttv3.1.1", "mqttv5"]

const pickSubprotocol = (offered: ReadonlySet<string>): string | false => {
  for (const name of SUBPROTOCOLS) if (offered.has(name)) return name
  return false
}

const usage = (path: string) =>
  `this port speaks MQTT over WebSocket: connect an MQTT client to ws(s)://<host>:<port>${path} with subprotocol "mqtt"\n`

/** Answers an HTTP request the WebSocket server will not take, and closes. */
const refuse = (socket: Duplex, status: number, reason: string, message: string): void => {
  inputFaults.wsRefusedRequests++
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`)
}

const ignoreError = () => {
  // 'close' follows; the connection (if any) settles there.
}

export interface WebSocketListenerOptions {
  readonly path: string
  readonly trustProxy: boolean
  /** Server certificate and client verification for wss://; null for ws://. */
  readonly tls: tls.TlsOptions | null
}

/** An unbound HTTP(S) server whose upgrades on `options.path` are MQTT connections of `ctx`. */
export const makeWebSocketServer = (ctx: ServerContext, options: WebSocketListenerOptions): http.Server | https.Server => {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: ctx.config.limits.maxPacketSize,
    handleProtocols: (offered) => pickSubprotocol(offered)
  })
  const onRequest = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    inputFaults.wsRefusedRequests++
    res.writeHead(400, { "Content-Type": "text/plain", Connection: "close" })
    res.end(`400 Bad Request: no WebSocket upgrade; ${usage(options.path)}`)
  }
  const server = options.tls === null ? http.createServer(onRequest) : https.createServer(options.tls, onRequest)
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node hands an upgrade's socket over without an error listener: a client that resets it
    // while we refuse (404, wrong subprotocol) would otherwise throw in the broker's process.
    socket.on("error", ignoreError)
    const path = (req.url ?? "/").split("?")[0]
    if (path !== options.path) return refuse(socket, 404, "Not Found", `no MQTT endpoint at ${path}; ${usage(options.path)}`)
    const offered = req.headers["sec-websocket-protocol"]
    if (offered !== undefined && pickSubprotocol(new Set(offered.split(",").map((p) => p.trim()))) === false) {
      return refuse(socket, 400, "Bad Request", `WebSocket subprotocol ${offered} is not MQTT: offer "mqtt" (or mqttv3.1, mqttv3.1.1, mqttv5)\n`)
    }
    wss.handleUpgrade(req, socket, head, (ws) => acceptWebSocket(ctx, ws, req, options.trustProxy))
  })
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    inputFaults.tlsHandshakeFailures++
    ctx.debug?.(handshakeFailedLine(error, socket))
  })
  return server
}
