/**
 * Encodes the packets the broker sends. PUBLISH and the four acknowledgements are written by hand
 * into one exactly-sized buffer each (no intermediate chunks, no concat), because the broker sends
 * them per message; everything else (CONNACK, SUBACK, UNSUBACK, v5 DISCONNECT, AUTH) goes through
 * mqtt-packet's `generate`, once per control packet.
 *
 * A PUBLISH is encoded once per variant (protocol version × QoS × retain, plus v5 subscription
 * identifiers) and shared by every subscriber of that variant; for QoS > 0 the broker copies the
 * frame (or just its prefix up to the packet id) and patches each subscriber's packet id at
 * `publishPacketIdOffset`. Nothing here throws on valid input or runs Effect.
 */
import * as mqttPacket from "mqtt-packet"
import {
  P_CONTENT_TYPE,
  P_CORRELATION_DATA,
  P_MESSAGE_EXPIRY,
  P_PAYLOAD_FORMAT,
  P_REASON_STRING,
  P_RESPONSE_TOPIC,
  P_SUBSCRIPTION_ID,
  P_TOPIC_ALIAS,
  P_USER_PROPERTY,
  type ProtocolVersion,
  type PublishProperties
} from "./packets.js"

/** Node's Buffer has this (it backs `write`) but @types/node does not declare it. */
interface WriteMethods extends Buffer {
  utf8Write(s: string, offset: number): number
}

/** Bytes needed for a Variable Byte Integer (§1.5.5). */
const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4)

/** Writes a Variable Byte Integer at `pos`; returns the position after it. */
const writeVarint = (buf: Buffer, pos: number, n: number): number => {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  buf[pos++] = n
  return pos
}

/** Writes a UTF-8 Encoded String (§1.5.4) of known byte length; returns the position after it. */
const writeString = (buf: Buffer, pos: number, s: string, byteLength: number): number => {
  buf[pos] = byteLength >> 8
  buf[pos + 1] = byteLength & 0xff
  ;(buf as WriteMethods).utf8Write(s, pos + 2)
  return pos + 2 + byteLength
}


/**
 * The body of an outbound v5 PUBLISH property block (§3.3.2.3), without its length varint, or null
 * when there is nothing to send. Once per message variant, not per subscriber.
 *
 * `subscriptionIdentifiers` are the receiving subscription's ids [MQTT-3.3.4-3]; `p`'s own
 * `subscriptionIdentifiers` are ignored, since a publisher's never travel onwards. `p.topicAlias`
 * is written when set: aliases are per connection and direction (§3.3.2.3.4), so the broker clears the
 * publisher's before forwarding. User properties keep their order [MQTT-3.3.2-18].
 */
export function encodePublishProperties(
  p: PublishProperties | null,
  subscriptionIdentifiers: ReadonlyArray<number> | null
): Buffer | null {
  let size = 0
  let responseTopicLen = 0
  let contentTypeLen = 0
  if (p !== null) {
    if (p.payloadFormatIndicator !== undefined) size += 2
    if (p.messageExpiryInterval !== undefined) size += 5
    if (p.topicAlias !== undefined) size += 3
    if (p.responseTopic !== undefined) size += 3 + (responseTopicLen = Buffer.byteLength(p.responseTopic))
    if (p.correlationData !== undefined) size += 3 + p.correlationData.length
    if (p.userProperties !== undefined) {
      for (let i = 0; i < p.userProperties.length; i++) {
        const kv = p.userProperties[i]!
        size += 5 + Buffer.byteLength(kv[0]) + Buffer.byteLength(kv[1])
      }
    }
    if (p.contentType !== undefined) size += 3 + (contentTypeLen = Buffer.byteLength(p.contentType))
  }
  if (subscriptionIdentifiers !== null) {
    for (let i = 0; i < subscriptionIdentifiers.length; i++) size += 1 + varintSize(subscriptionIdentifiers[i]!)
  }
  if (size === 0) return null
  const buf = Buffer.allocUnsafe(size)
  let pos = 0
  if (p !== null) {
    if (p.payloadFormatIndicator !== undefined) {
      buf[pos++] = P_PAYLOAD_FORMAT
      buf[pos++] = p.payloadFormatIndicator
    }
    if (p.messageExpiryInterval !== undefined) {
      buf[pos++] = P_MESSAGE_EXPIRY
      pos = buf.writeUInt32BE(p.messageExpiryInterval, pos)
    }
    if (p.topicAlias !== undefined) {
      buf[pos++] = P_TOPIC_ALIAS
      pos = buf.writeUInt16BE(p.topicAlias, pos)
    }
    if (p.responseTopic !== undefined) {
      buf[pos++] = P_RESPONSE_TOPIC
      pos = writeString(buf, pos, p.responseTopic, responseTopicLen)
    }
    if (p.correlationData !== undefined) {
      buf[pos++] = P_CORRELATION_DATA
      pos = buf.writeUInt16BE(p.correlationData.length, pos)
      pos += p.correlationData.copy(buf, pos)
    }
    if (p.userProperties !== undefined) {
      for (let i = 0; i < p.userProperties.length; i++) {
        const kv = p.userProperties[i]!
        buf[pos++] = P_USER_PROPERTY
        pos = writeString(buf, pos, kv[0], Buffer.byteLength(kv[0]))
        pos = writeString(buf, pos, kv[1], Buffer.byteLength(kv[1]))
      }
    }
    if (p.contentType !== undefined) {
      buf[pos++] = P_CONTENT_TYPE
      pos = writeString(buf, pos, p.contentType, contentTypeLen)
    }
  }
  if (subscriptionIdentifiers !== null) {
    for (let i = 0; i < subscriptionIdentifiers.length; i++) {
      buf[pos++] = P_SUBSCRIPTION_ID
      pos = writeVarint(buf, pos, subscriptionIdentifiers[i]!)
    }
  }
  return buf
}

/**
 * Hot path (once per variant): a whole PUBLISH frame (§3.3). `topic` may be a string or its UTF-8
 * bytes. `packetId` is written only when qos > 0 (0 is fine as a placeholder the broker patches).
 * For v5, `properties` is a block from `encodePublishProperties`; null writes property length 0.
 * Callers keep the remaining length within the receiver's Maximum Packet Size [MQTT-3.1.2-24].
 */
export function encodePublish(
  version: ProtocolVersion,
  topic: string | Buffer,
  payload: Buffer,
  qos: number,
  retain: boolean,
  dup: boolean,
  packetId: number,
  properties: Buffer | null
): Buffer {
  const topicLen = typeof topic === "string" ? Buffer.byteLength(topic) : topic.length
  let rl = 2 + topicLen + payload.length
  if (qos > 0) rl += 2
  const propLen = properties === null ? 0 : properties.length
  if (version === 5) rl += varintSize(propLen) + propLen
  const buf = Buffer.allocUnsafe(1 + varintSize(rl) + rl)
  buf[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0)
  let pos = writeVarint(buf, 1, rl)
  if (typeof topic === "string") {
    pos = writeString(buf, pos, topic, topicLen)
  } else {
    buf[pos++] = topicLen >> 8
    buf[pos++] = topicLen & 0xff
    // Topics are short: a plain loop beats Buffer#copy's fixed cost there.
    if (topicLen < 48) for (let i = 0; i < topicLen; i++) buf[pos++] = topic[i]!
    else pos += topic.copy(buf, pos)
  }
  if (qos > 0) {
    buf[pos++] = packetId >> 8
    buf[pos++] = packetId & 0xff
  }
  if (version === 5) {
    pos = writeVarint(buf, pos, propLen)
    if (properties !== null) pos += properties.copy(buf, pos)
  }
  payload.copy(buf, pos)
  return buf
}

/**
 * Offset of the 2-byte packet id in a PUBLISH frame, or -1 for QoS 0 (which has none). The broker
 * copies the shared frame (or `frame.subarray(0, offset + 2)`, sharing the tail) and patches each
 * subscriber's id with `copy.writeUInt16BE(id, offset)`.
 */
export function publishPacketIdOffset(frame: Buffer): number {
  if ((frame[0]! & 0x06) === 0) return -1
  let pos = 1
  while ((frame[pos]! & 0x80) !== 0) pos++ // Remaining Length continuation bytes
  pos++
  return pos + 2 + ((frame[pos]! << 8) | frame[pos + 1]!)
}

/** Sets the DUP flag of a PUBLISH frame in place, for a redelivery [MQTT-3.3.1-1]; use it on a copy. */
export function setDup(frame: Buffer): void {
  frame[0] = frame[0]! | 0x08
}

/**
 * Hot path: PUBACK (4), PUBREC (5), PUBREL (6), PUBCOMP (7) (§3.4-§3.7). For v5 the Reason Code
 * and Property Length are left out when the code is 0 and there are no properties, and the
 * Property Length is left out when there are none (both allowed: §3.4.2.1, §3.4.2.2.1).
 * The caller drops `reasonString` if it would exceed the client's Maximum Packet Size [MQTT-3.4.2-2].
 */
export function encodeAck(
  cmd: 4 | 5 | 6 | 7,
  packetId: number,
  version: ProtocolVersion,
  reasonCode: number,
  reasonString?: string
): Buffer {
  // PUBREL's reserved flags are 0010 [MQTT-3.6.1-1]; the others' are 0.
  const b0 = (cmd << 4) | (cmd === 6 ? 0x02 : 0)
  if (version < 5 || (reasonCode === 0 && reasonString === undefined)) {
    const buf = Buffer.allocUnsafe(4)
    buf[0] = b0
    buf[1] = 2
    buf[2] = packetId >> 8
    buf[3] = packetId & 0xff
    return buf
  }
  if (reasonString === undefined) {
    const buf = Buffer.allocUnsafe(5)
    buf[0] = b0
    buf[1] = 3
    buf[2] = packetId >> 8
    buf[3] = packetId & 0xff
    buf[4] = reasonCode
    return buf
  }
  const strLen = Buffer.byteLength(reasonString)
  const propLen = 3 + strLen
  const rl = 3 + varintSize(propLen) + propLen
  const buf = Buffer.allocUnsafe(1 + varintSize(rl) + rl)
  buf[0] = b0
  let pos = writeVarint(buf, 1, rl)
  buf[pos++] = packetId >> 8
  buf[pos++] = packetId & 0xff
  buf[pos++] = reasonCode
  pos = writeVarint(buf, pos, propLen)
  buf[pos++] = P_REASON_STRING
  writeString(buf, pos, reasonString, strLen)
  return buf
}

/** PINGRESP (§3.13), shared: never mutate it. */
export const PINGRESP: Buffer = Buffer.from([0xd0, 0x00])

/**
 * Control packets (CONNACK, SUBACK, UNSUBACK, DISCONNECT, AUTH, ...) via mqtt-packet, once per
 * control packet. mqtt-packet throws on a packet it cannot encode: that is a broker bug (a defect).
 */
export function encodeControl(packet: mqttPacket.Packet, version: ProtocolVersion): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version })
}
