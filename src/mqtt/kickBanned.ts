/**
 * The MQTT listener's part of a new ban: every connection the ban covers closes, a v5 client
 * with DISCONNECT 0x98 Administrative action (0x8A Banned is a CONNACK code only, MQTT 5
 * section 3.14.2.1). Runs once per ban added, never per message.
 */
import { ReasonCode } from "../../domain/ReasonCode.js"
import { type BanEnforcer, describeBan } from "../bans/Bans.js"
import { peer } from "./debugLines.js"
import type { ServerContext } from "./ServerContext.js"

export const kickBanned = (ctx: ServerContext): BanEnforcer => (ban, covers) => {
  let closed = 0
  for (const conn of [...ctx.connections]) {
    if (conn.closing || !covers(conn.clientId, conn.username, () => conn.remote.address)) continue
    ctx.debug?.(`mqtt: ${peer(conn.socket)} (client ${JSON.stringify(conn.clientId)}) disconnected: banned, ${describeBan(ban)}`)
    conn.close(ReasonCode.AdministrativeAction)
    closed++
  }
  return closed
}
