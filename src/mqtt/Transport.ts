/**
 * What an MQTT Connection needs from the byte stream under it: write, close, pause reads,
 * back-pressure, the peer's address and, on TLS, its certificate. A TCP or TLS socket (a
 * tls.TLSSocket is a net.Socket) is one as it is, so the TCP path has no adapter in between;
 * a WebSocket gets one (WebSocketTransport.ts). Input arrives the other way: the listener calls
 * `Connection.onData` with each chunk and `onClose` once.
 */
import type { PeerCertificate } from "node:tls"

/** The MQTT listeners: plain TCP, TLS, WebSocket, WebSocket over TLS. */
export type Listener = "tcp" | "tls" | "ws" | "wss"

export interface Transport {
  /** Queues bytes; a WebSocket sends them as one binary frame. */
  write(data: Buffer): unknown
  /** Closes after what was written (a WebSocket: close frame 1000); `done` may never run. */
  end(done?: () => void): unknown
  /** Closes now, dropping unsent output. */
  destroy(): unknown
  pause(): unknown
  resume(): unknown
  readonly destroyed: boolean
  /** Bytes written and not yet handed to the kernel (output back-pressure, stall detection). */
  readonly writableLength: number
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
  /** TLS only: whether the client's certificate verified against [tls] ca_file. */
  readonly authorized?: boolean
  /** TLS only: the client's certificate ({} when it sent none). */
  getPeerCertificate?(): PeerCertificate | object | null
}
