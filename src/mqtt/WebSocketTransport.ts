/**
 * MQTT over WebSocket (MQTT 5.0 section 6): one Connection per WebSocket, fed each binary
 * message as if it were a TCP read. Messages and packets need not line up (a packet may span
 * messages, a message may hold several), so the Connection's FrameReader frames them exactly as
 * on TCP. A text message closes the connection [MQTT-6.0.0-1]; ws itself refuses a message over
 * limits.max_packet_size with close code 1009 before buffering it (webSocketListener.ts).
 * Listeners are shared functions that find their Connection on the WebSocket, as on TCP.
 */
import type { IncomingMessage } from "node:http"
import { TLSSocket } from "node:tls"
import { WebSocket } from "ws"
import { inputFaults } from "../net/inputFaults.js"
import { Connection } from "./Connection.js"
import type { ServerContext } from "./ServerContext.js"
import type { Transport } from "./Transport.js"

/** The Transport a Connection writes to: binary frames out, ws's pause and buffer underneath. */
export class WebSocketTransport implements Transport {
  conn: Connection | null = null
  /** One shared callback: a frame handed to the socket is output progress (stall detection). */
  private readonly sent = (error?: Error) => {
    if (error === undefined && this.conn !== null) this.conn.drains++
  }

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string | undefined,
    readonly remotePort: number | undefined,
    /** The TLS socket under a wss:// connection, for the client certificate; null on ws://. */
    private readonly tlsSocket: TLSSocket | null
  ) {}

  write(data: Buffer): void {
    this.ws.send(data, { binary: true }, this.sent)
  }
  end(): void {
    this.ws.close(1000)
  }
  destroy(): void {
    this.ws.terminate()
  }
  pause(): void {
    this.ws.pause()
  }
  resume(): void {
    this.ws.resume()
  }
  /** Closing counts: nothing written after the close frame would reach the client. */
  get destroyed(): boolean {
    return this.ws.readyState >= WebSocket.CLOSING
  }
  get writableLength(): number {
    return this.ws.bufferedAmount
  }
  /** For log lines (src/mqtt/debugLines.ts). */
  get transportName(): "ws" | "wss" {
    return this.tlsSocket === null ? "ws" : "wss"
  }
  get authorized(): boolean {
    return this.tlsSocket !== null && this.tlsSocket.authorized
  }
  getPeerCertificate(): object | null {
    return this.tlsSocket === null ? null : this.tlsSocket.getPeerCertificate()
  }
}

type MqttWebSocket = WebSocket & { mqtt?: Connection }

function onMessage(this: MqttWebSocket, data: Buffer, isBinary: boolean) {
  const conn = this.mqtt!
  if (isBinary) return conn.onData(data)
  inputFaults.wsBadFrames++
  this.close(1003, "MQTT over WebSocket takes binary frames only")
  conn.close()
}
function onClose(this: MqttWebSocket, code: number) {
  if (code === 1009) inputFaults.wsBadFrames++ // ws closed it: a frame over maxPayload
  this.mqtt!.onClose()
}
function onError(this: MqttWebSocket) {
  // ws closes the connection after every error (with 1009 for an oversized frame); 'close' follows.
}

/**
 * The client's address: the socket's peer, or with mqtt.ws_trust_proxy the first (original
 * client) entry of X-Forwarded-For, which only a proxy in front may be trusted to set.
 */
const clientAddress = (req: IncomingMessage, trustProxy: boolean): string | undefined => {
  const forwarded = trustProxy ? req.headers["x-forwarded-for"] : undefined
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim()
  return first === undefined || first === "" ? req.socket.remoteAddress : first
}

/** A WebSocket that completed its upgrade becomes an MQTT connection of `ctx`. */
export const acceptWebSocket = (ctx: ServerContext, ws: MqttWebSocket, req: IncomingMessage, trustProxy: boolean): void => {
  if (ctx.shuttingDown) return ws.terminate()
  const tlsSocket = req.socket instanceof TLSSocket ? req.socket : null
  const transport = new WebSocketTransport(ws, clientAddress(req, trustProxy), req.socket.remotePort, tlsSocket)
  const conn = new Connection(transport, ctx, tlsSocket === null ? "ws" : "wss")
  transport.conn = conn
  ws.mqtt = conn
  ctx.connections.add(conn)
  ws.on("message", onMessage)
  ws.on("close", onClose)
  ws.on("error", onError)
}
