/**
 * DISCONNECT from the client: a normal one drops the will [MQTT-3.14.4-3]; v5 may change the
 * Session Expiry Interval (not from 0) and ask for the will anyway (0x04).
 */
import { ReasonCode } from "../../../domain/ReasonCode.js"
import type { IDisconnectPacket, SimplePacket } from "../codec/packets.js"
import type { Connection } from "../Connection.js"

export const handleDisconnect = (conn: Connection, p: { readonly cmd: 14; readonly packet: IDisconnectPacket } | SimplePacket): void => {
  if ("packet" in p) {
    const d = p.packet
    const expiry = d.properties?.sessionExpiryInterval
    if (expiry !== undefined) {
      // [MQTT-3.14.2-2] a session that was to end with the connection cannot be revived here.
      if (conn.expiryInterval === 0 && expiry !== 0) return conn.fail(ReasonCode.ProtocolError)
      conn.expiryInterval = Math.min(expiry, conn.ctx.config.limits.maxSessionExpiry)
    }
    // 0x04 Disconnect with Will Message: the will is still published.
    conn.graceful = (d.reasonCode ?? 0) !== ReasonCode.DisconnectWithWill
  } else {
    conn.graceful = true
  }
  conn.close()
}
