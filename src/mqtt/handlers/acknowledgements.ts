/**
 * The QoS 1 and 2 acknowledgements. PUBACK and PUBCOMP end an outbound message, PUBREC moves
 * one to its release, PUBREL releases an inbound one. A QoS 2 step a persistent session must
 * survive a crash with is answered only once it is durable.
 */
import { Effect, Runtime } from "effect"
import { ReasonCode } from "../../../domain/ReasonCode.js"
import { encodeAck } from "../codec/encode.js"
import { type AckPacket, Cmd } from "../codec/packets.js"
import type { Connection } from "../Connection.js"
import type { LiveSession } from "../engine/LiveSession.js"
import { RELEASED } from "../engine/ProgressJournal.js"

/** PUBACK (QoS 1) and PUBCOMP (QoS 2): the outbound message is done, its window slot free. */
export const handleCompletion = (conn: Connection, p: AckPacket, session: LiveSession): void => {
  conn.acksIn++
  session.complete(p.packetId)
}

/** PUBREC: answered with PUBREL, only once PUBREC is durable (after it the client may complete the message). */
export const handlePubrec = (conn: Connection, p: AckPacket, session: LiveSession): void => {
  conn.acksIn++
  const rel = session.received(p.packetId, p.reasonCode)
  if (rel === null) return
  if (session.journaled === null) conn.writeFrame(rel)
  else session.whenProgressDurable((error) => (error === undefined ? conn.writeFrame(rel) : progressNotStored(conn)))
}

/** PUBREL: the inbound QoS 2 message is released; PUBCOMP (or 0x92 for an id we do not hold). */
export const handlePubrel = (conn: Connection, p: AckPacket, session: LiveSession): void => {
  const packetId = p.packetId
  const inbound = session.qos2Inbound
  const held = inbound === null ? undefined : inbound.get(packetId)
  if (held === undefined) {
    conn.writeFrame(encodeAck(Cmd.PUBCOMP, packetId, conn.version, conn.version === 5 ? ReasonCode.PacketIdentifierNotFound : 0))
    return
  }
  inbound!.delete(packetId)
  if (conn.inflightIn > 0) conn.inflightIn--
  session.dirty = true
  const journal = session.journaled
  if (journal === null) return conn.writeShortAck(Cmd.PUBCOMP, packetId)
  // PUBCOMP only once the release is durable: the client may reuse the id right after it,
  // and a crash must not leave the id looking held (the new message would be dropped).
  journal.record(session, RELEASED, packetId, held === null ? "" : held.tp, held === null ? -1 : held.offset)
  journal.whenDurable(session, (error) => (error === undefined ? conn.writeShortAck(Cmd.PUBCOMP, packetId) : progressNotStored(conn)))
}

/**
 * Storage failed to keep a QoS 2 step (PUBREC or PUBREL received): the answer it guards cannot
 * go out. Closing makes the client repeat the step on its next connection, when storage may
 * work again.
 */
const progressNotStored = (conn: Connection): void => {
  if (conn.closing) return
  Runtime.runFork(conn.ctx.runtime)(Effect.logWarning(`mqtt: client ${conn.clientId}: QoS 2 progress could not be stored; closing so the client repeats it`))
  conn.close(ReasonCode.UnspecifiedError)
}
