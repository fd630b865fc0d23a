/**
 * A TLS server for one listener over the shared TlsContext: a bounded handshake, every failed
 * handshake (garbage, a plain-text client, a refused client certificate) counted and dropped on
 * its own, and the server registered for SIGHUP certificate reloads. Knows nothing of the
 * protocol spoken inside.
 */
import * as tls from "node:tls"
import { inputFaults } from "../net/inputFaults.js"
import type { DebugLog } from "../net/debugLog.js"
import type { TlsContext } from "./TlsContext.js"

/** A TLS client has this long to finish its handshake (Node's default is 120 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000

export const createTlsServer = (secure: TlsContext, onSocket: (socket: tls.TLSSocket) => void, debug: DebugLog = null): tls.Server => {
  const server = tls.createServer({ ...secure.serverOptions, noDelay: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, onSocket)
  server.on("tlsClientError", (error, socket) => {
    inputFaults.tlsHandshakeFailures++
    debug?.(handshakeFailedLine(error, socket))
  })
  secure.register(server)
  return server
}

/**
 * A failed handshake, for the debug line: OpenSSL's short reason ("wrong version number",
 * "certificate expired"), else Node's message; no key material is in either. The address is
 * gone ("?") when the client hung up first.
 */
export const handshakeFailedLine = (error: Error, socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined }): string => {
  const reason = (error as { readonly reason?: unknown }).reason
  return `tls: handshake from ${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"} failed: ${typeof reason === "string" ? reason : error.message.trim()}`
}
