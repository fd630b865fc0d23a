/**
 * The text of the MQTT connection's debug lines (log.level = "debug"): who connected over
 * what, what a CONNECT asked for and what the CONNACK answered, and who left. Only built when
 * debug is on (ServerContext.debug). A CONNECT line says whether a password was sent, never
 * what it is.
 */
import type { IConnectPacket } from "mqtt-packet"
import { ReasonCode } from "../../domain/ReasonCode.js"
import type { Transport } from "./Transport.js"

const reasonNames = new Map<number, string>()
for (const [name, code] of Object.entries(ReasonCode)) if (!reasonNames.has(code)) reasonNames.set(code, name)

/** `0x86 BadUserNameOrPassword`. */
export const reasonName = (code: number): string => `0x${code.toString(16).padStart(2, "0")} ${reasonNames.get(code) ?? "Unknown"}`

/** A WebSocketTransport names itself; a tls.TLSSocket is `encrypted`; else plain TCP. */
const transportName = (socket: Transport): string => {
  const s = socket as { readonly transportName?: string; readonly encrypted?: boolean }
  return s.transportName ?? (s.encrypted === true ? "tls" : "tcp")
}

export const peer = (socket: Transport): string => `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`

export const acceptedLine = (socket: Transport): string => `mqtt: connection from ${peer(socket)} (${transportName(socket)})`

export const connectLine = (socket: Transport, p: IConnectPacket): string =>
  `mqtt: CONNECT from ${peer(socket)}: client id ${JSON.stringify(p.clientId)}, ${
    p.username === undefined ? "no user name" : `user ${JSON.stringify(p.username)}`
  }, ${p.password === undefined ? "no password" : "a password"}, MQTT ${p.protocolVersion ?? 4}, ${
    p.clean === false ? "resumes its session" : "clean start"
  }, keepalive ${p.keepalive ?? 0} s${p.will ? `, will on ${JSON.stringify(p.will.topic)}` : ""}`

export const connackLine = (socket: Transport, clientId: string, reason: number): string =>
  `mqtt: CONNACK to ${peer(socket)}${clientId === "" ? "" : ` (client ${clientId})`}: ${reason === 0 ? "accepted" : `refused, ${reasonName(reason)}`}`

export const closedLine = (socket: Transport, clientId: string): string =>
  `mqtt: connection from ${peer(socket)}${clientId === "" ? " (before CONNECT was accepted)" : ` (client ${clientId})`} closed`
