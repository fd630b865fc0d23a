/**
 * The CONNECT step that refuses banned clients (src/bans): a ban on the client id, the user name
 * or the remote address gets CONNACK 0x8A Banned (v3.1/3.1.1: 5, not authorized), then the close.
 * One debug line per refusal, counted with the abuse limits' (connections_refused{reason="banned"},
 * $SYS clients/refused-banned). The address is read only while address bans exist.
 */
import { ReasonCode } from "../../../domain/ReasonCode.js"
import { describeBan } from "../../bans/Bans.js"
import type { Connection } from "../Connection.js"
import { peer } from "../debugLines.js"

/** True when the CONNECT was refused (the chain stops). */
export const refuseBanned = (conn: Connection, clientId: string, username: string | null | undefined): boolean => {
  const bans = conn.ctx.bans
  if (bans === null) return false
  const ban = bans.isBanned(clientId, username, bans.hasAddressBans() ? conn.remote.address : "")
  if (ban === null) return false
  conn.ctx.admission.refused.banned++
  conn.ctx.debug?.(`mqtt: CONNECT from ${peer(conn.socket)} (client ${JSON.stringify(clientId)}) refused: banned, ${describeBan(ban)}`)
  conn.refuse(ReasonCode.Banned)
  return true
}
