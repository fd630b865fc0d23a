/**
 * PUBLISH from a client (the hot path): rate limit, topic alias, topic and ACL checks, QoS 2
 * retries, Receive Maximum, payload format; then the message is routed and acknowledged once it
 * is durable in the log. Plain synchronous code, no allocation beyond the Message.
 */
import { isUtf8 } from "node:buffer"
import { Effect, Runtime } from "effect"
import { ReasonCode } from "../../../domain/ReasonCode.js"
import { validateTopicName } from "../../../domain/topic/TopicName.js"
import { encodeAck } from "../codec/encode.js"
import { Cmd, type PublishPacket, PublishProps } from "../codec/packets.js"
import type { Connection } from "../Connection.js"
import { InboundRef, type LiveSession } from "../engine/LiveSession.js"
import { messageDrops } from "../engine/deliveryStats.js"
import { Message, originHeader } from "../engine/Message.js"

export const handlePublish = (conn: Connection, p: PublishPacket, session: LiveSession): void => {
  const limits = conn.ctx.config.limits
  // This one is read already and goes through; the next wait for the window to roll over.
  if (limits.maxPublishRate !== 0 && ++conn.publishesInWindow >= limits.maxPublishRate) conn.holdForRate()
  let topic = p.topic
  let props = p.properties
  if (props !== null) {
    if (props.subscriptionIdentifiers !== undefined) return conn.fail(ReasonCode.ProtocolError) // [MQTT-3.3.4-6]
    const alias = props.topicAlias
    if (alias !== undefined) {
      // [MQTT-3.3.2-8..12] topic aliases are per connection and bounded by our maximum.
      if (alias === 0 || alias > limits.topicAliasMaximum) return conn.fail(ReasonCode.TopicAliasInvalid)
      if (topic === "") {
        const known = conn.aliasesIn?.get(alias)
        if (known === undefined) return conn.fail(ReasonCode.ProtocolError)
        topic = known
      } else (conn.aliasesIn ??= new Map()).set(alias, topic)
      const copy = Object.assign(new PublishProps(), props)
      copy.topicAlias = undefined
      props = copy
    }
  }
  if (validateTopicName(topic, limits.maxTopicLevels, limits.maxTopicLength) !== 0) return conn.fail(ReasonCode.TopicNameInvalid)
  const acl = conn.acl
  if (acl !== null && !acl.mayPublish(topic)) return refusePublish(conn, p.qos, p.packetId)
  const qos = p.qos
  const held = qos === 2 && session.qos2Inbound !== null ? session.qos2Inbound.get(p.packetId) : undefined
  if (held !== undefined) {
    // [MQTT-4.3.3-9] a retried PUBLISH of a message we hold: acknowledge (once it is durable),
    // never store or route it twice.
    const packetId = p.packetId
    if (held === null) conn.writeShortAck(Cmd.PUBREC, packetId)
    else conn.ctx.engine.log.unsafeOnDurable(held.tp, held.offset, (error) => ackRetry(conn, packetId, error === undefined))
    return
  }
  if (qos > 0 && ++conn.inflightIn > limits.receiveMaximum) return conn.fail(ReasonCode.ReceiveMaximumExceeded) // [MQTT-3.3.4-8]
  if (props !== null && props.payloadFormatIndicator === 1 && !isUtf8(p.payload)) {
    if (qos === 0) return conn.fail(ReasonCode.PayloadFormatInvalid)
    conn.inflightIn--
    conn.writeFrame(encodeAck(qos === 1 ? Cmd.PUBACK : Cmd.PUBREC, p.packetId, conn.version, ReasonCode.PayloadFormatInvalid))
    return
  }
  const now = Date.now()
  const expiry = props === null ? undefined : props.messageExpiryInterval
  const msg = new Message(topic, p.payload, qos, p.retain, props, expiry === undefined ? 0 : now + expiry * 1000, conn.clientId, now)
  msg.originHeader = conn.originHeader ??= originHeader(conn.clientId)
  // The packet id travels with the message: a retry after a crash is then recognised.
  if (qos === 2 && session.stored) msg.inboundPacketId = p.packetId
  const engine = conn.ctx.engine
  const routed = engine.publish(msg)
  if (msg.tp !== null && engine.log.unsafeUnwrittenBytes() > limits.logHighWater) conn.ctx.holdForLog(conn)
  if (qos === 0) return
  if (qos === 2) {
    ;(session.qos2Inbound ??= new Map()).set(p.packetId, new InboundRef(msg.tp!, msg.offset))
    session.dirty = true
  }
  const reason = routed === 0 && conn.version === 5 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success
  const packetId = p.packetId
  // Acknowledge only once the message is durable in the log.
  engine.log.unsafeOnDurable(msg.tp!, msg.offset, (error) => ackPublish(conn, qos, packetId, error === undefined ? reason : ReasonCode.UnspecifiedError))
}

/**
 * A PUBLISH the ACL refuses is dropped: v5 clients get 0x87 on the PUBACK/PUBREC, v3 clients a
 * normal ack (they have no way to hear a refusal; Mosquitto does the same).
 */
const refusePublish = (conn: Connection, qos: number, packetId: number): void => {
  messageDrops.notAuthorized++
  if (qos === 0) return
  conn.writeFrame(encodeAck(qos === 1 ? Cmd.PUBACK : Cmd.PUBREC, packetId, conn.version, conn.version === 5 ? ReasonCode.NotAuthorized : 0))
}

const ackPublish = (conn: Connection, qos: number, packetId: number, reason: number): void => {
  if (conn.closing) return
  const version = conn.version
  if (reason >= 0x80 && version < 5) return refuseUnstored(conn, qos, packetId)
  if (qos === 1) {
    conn.inflightIn--
    if (reason === 0 || version < 5) conn.writeShortAck(Cmd.PUBACK, packetId)
    else conn.writeFrame(encodeAck(Cmd.PUBACK, packetId, version, reason))
    return
  }
  if (reason >= 0x80) {
    conn.inflightIn--
    conn.session?.qos2Inbound?.delete(packetId)
  }
  if (reason === 0 || version < 5) conn.writeShortAck(Cmd.PUBREC, packetId)
  else conn.writeFrame(encodeAck(Cmd.PUBREC, packetId, version, reason))
}

/** PUBREC for a retried QoS 2 PUBLISH, once the message first received is durable. */
const ackRetry = (conn: Connection, packetId: number, durable: boolean): void => {
  if (conn.closing) return
  if (!durable && conn.version < 5) return refuseUnstored(conn, 2, packetId)
  if (durable) conn.writeShortAck(Cmd.PUBREC, packetId)
  else conn.writeFrame(encodeAck(Cmd.PUBREC, packetId, conn.version, ReasonCode.UnspecifiedError))
}

/**
 * MQTT 3 has no negative acknowledgement: a message storage could not keep is never
 * acknowledged; the connection closes, and the client sends it again when it reconnects.
 */
const refuseUnstored = (conn: Connection, qos: number, packetId: number): void => {
  if (qos === 2) conn.session?.qos2Inbound?.delete(packetId)
  Runtime.runFork(conn.ctx.runtime)(Effect.logWarning(`mqtt: client ${conn.clientId}: a QoS ${qos} message could not be stored; closing so it is sent again (MQTT 3 has no refusal)`))
  conn.close()
}
