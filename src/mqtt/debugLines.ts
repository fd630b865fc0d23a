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

export const peer = (socket: Transport): string => `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`

/** What a connection line says about who it is: address, listener, and once known, client id and user. */
export interface Who {
  readonly socket: Transport
  readonly listener: string
  readonly clientId: string
  readonly username: string | null
}

export const who = (c: Who): string =>
  `${peer(c.socket)} over ${c.listener}${c.clientId === "" ? "" : `, client ${JSON.stringify(c.clientId)}`}${
    c.username === null ? "" : `, user ${JSON.stringify(c.username)}`
  }`

export const acceptedLine = (c: Who): string => `mqtt: connection from ${who(c)}`

export const connectLine = (socket: Transport, p: IConnectPacket): string =>
  `mqtt: CONNECT from ${peer(socket)}: client id ${JSON.stringify(p.clientId)}, ${
    p.username === undefined ? "no user name" : `user ${JSON.stringify(p.username)}`
  }, ${p.password === undefined ? "no password" : "a password"}, MQTT ${p.protocolVersion ?? 4}, ${
    p.clean === false ? "resumes its session" : "clean start"
  }, keepalive ${p.keepalive ?? 0} s${p.will ? `, will on ${JSON.stringify(p.will.topic)}` : ""}`

export const connackLine = (c: Who, reason: number): string =>
  `mqtt: CONNACK to ${who(c)}: ${reason === 0 ? "accepted" : `refused, ${reasonName(reason)}`}`

export const closedLine = (c: Who, accepted: boolean): string =>
  `mqtt: connection from ${who(c)}${accepted ? "" : " (before CONNECT was accepted)"} closed`
