/** UNSUBSCRIBE: UNSUBACK once the removal is stored (v5 with a reason code per filter). */
import { ReasonCode } from "../../../domain/ReasonCode.js"
import { encodeControl } from "../codec/encode.js"
import type { IUnsubscribePacket } from "../codec/packets.js"
import type { Connection } from "../Connection.js"
import type { LiveSession } from "../engine/LiveSession.js"

export const handleUnsubscribe = (conn: Connection, packet: IUnsubscribePacket, session: LiveSession): void => {
  const result = conn.ctx.engine.unsubscribe(session, packet.unsubscriptions)
  const messageId = packet.messageId!
  const unsuback = (stored: boolean) => {
    const packetOut =
      conn.version === 5
        ? { cmd: "unsuback" as const, messageId, granted: stored ? result.codes : result.codes.map(() => ReasonCode.UnspecifiedError) }
        : { cmd: "unsuback" as const, messageId }
    conn.writeFrame(encodeControl(packetOut as never, conn.version))
  }
  if (result.persist === null) unsuback(true)
  else conn.runControl(result.persist, unsuback)
}
