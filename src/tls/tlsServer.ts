/**
 * A TLS server for one listener over the shared TlsContext: a bounded handshake, every failed
 * handshake (garbage, a plain-text client, a refused client certificate) counted and dropped on
 * its own, and the server registered for SIGHUP certificate reloads. Knows nothing of the
 * protocol spoken inside.
 */
import * as tls from "node:tls"
import { inputFaults } from "../net/inputFaults.js"
import type { TlsContext } from "./TlsContext.js"

/** A TLS client has this long to finish its handshake (Node's default is 120 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000

export const createTlsServer = (secure: TlsContext, onSocket: (socket: tls.TLSSocket) => void): tls.Server => {
  const server = tls.createServer({ ...secure.serverOptions, noDelay: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, onSocket)
  server.on("tlsClientError", () => {
    inputFaults.tlsHandshakeFailures++
  })
  secure.register(server)
  return server
}
