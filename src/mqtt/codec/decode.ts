/**
 * Decodes one whole MQTT frame (as cut by FrameReader) into a packet for the handlers.
 *
 * PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, PINGREQ, PINGRESP and the v3/v4 DISCONNECT are the
 * per-message traffic, decoded here by hand: mqtt-packet's streaming parser costs microseconds per
 * PUBLISH (DESIGN.md §3 step 1), this path a fraction of that. It allocates the packet object, the
 * topic string and a payload view, nothing else; it never throws and never runs Effect. Spec
 * violations come back as an MqttDecodeError carrying the reason code for the DISCONNECT.
 *
 * Everything else goes through ONE module-level mqtt-packet parser (not one per connection:
 * ~1.9 KB each, DESIGN.md): it is given the protocol version, fed the single complete frame, and
 * its 'packet'/'error' event is captured synchronously. The fast path is tested to agree with
 * mqtt-packet on every valid packet; where the spec says a packet is malformed or a protocol
 * error and mqtt-packet is lenient, this path is the stricter one. What mqtt-packet decodes is
 * then checked by validatePacket.ts (repeated or misplaced v5 properties, empty filter lists)
 * before any handler sees it.
 *
 * Not checked here, because they need connection state or belong to topic rules in domain/:
 * empty topic names ([MQTT-4.7.3-1]; legal in v5 with a Topic Alias), wildcards in topic names
 * [MQTT-3.3.2-2], Topic Alias 0 or above the maximum [MQTT-3.3.2-8] [MQTT-3.3.2-9], a client
 * sending a Subscription Identifier [MQTT-3.3.4-6], payload format (§3.3.2.3.2), QoS above the
 * granted maximum. Strings inside CONNECT/SUBSCRIBE/UNSUBSCRIBE are decoded by mqtt-packet, which
 * replaces ill-formed UTF-8 with U+FFFD rather than refusing it.
 */
import { isUtf8 } from "node:buffer"
import * as mqttPacket from "mqtt-packet"
import {
  Ack,
  type AckPacket,
  type ControlPacket,
  MqttDecodeError,
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
  Publish,
  type PublishPacket,
  PublishProps,
  type SimplePacket,
  type UserProperties
} from "./packets.js"
import { validateControlPacket } from "./validatePacket.js"

const MALFORMED = 0x81
const PROTOCOL_ERROR = 0x82

const PINGREQ_PACKET: SimplePacket = Object.freeze({ cmd: 12 as const })
const PINGRESP_PACKET: SimplePacket = Object.freeze({ cmd: 13 as const })
const DISCONNECT_PACKET: SimplePacket = Object.freeze({ cmd: 14 as const })

// ---------------------------------------------------------------------------------------------
// Cursor helpers. Decoding is synchronous and single-threaded, so one module-level cursor and one
// error slot replace per-call result tuples: no allocation beyond the values themselves.
// ---------------------------------------------------------------------------------------------

/** Read position inside the frame being decoded. */
let at = 0
/** Why the last helper returned its failure value (only read when it failed). */
let why = ""

/** Variable Byte Integer at `at` (§1.5.5). -1 when it overruns `end` or exceeds 4 bytes. */
const readVarint = (buf: Buffer, end: number): number => {
  let value = 0
  let mul = 1
  for (let i = 0; i < 4; i++) {
    if (at >= end) return -1
    const b = buf[at++]!
    value += (b & 0x7f) * mul
    if ((b & 0x80) === 0) return value
    mul *= 128
  }
  return -1
}

/**
 * Node's Buffer has these (they back `toString`, minus its argument juggling) but @types/node does
 * not declare them. A cast, not a global augmentation, so nothing else in the tree sees them.
 */
interface SliceMethods extends Buffer {
  latin1Slice(start: number, end: number): string
  utf8Slice(start: number, end: number): string
}

/**
 * UTF-8 Encoded String at `at` (§1.5.4), or null with `why` set. Ill-formed UTF-8 [MQTT-1.5.4-1]
 * and U+0000 [MQTT-1.5.4-2] make the packet malformed. ASCII, the usual case, is checked with a
 * byte loop; only strings with high bytes pay for a view and `isUtf8` (which also rejects
 * surrogate code points and overlong forms).
 */
const readString = (buf: Buffer, end: number): string | null => {
  if (at + 2 > end) {
    why = "string length overruns the packet"
    return null
  }
  const len = (buf[at]! << 8) | buf[at + 1]!
  const start = at + 2
  const stop = start + len
  if (stop > end) {
    why = "string overruns the packet"
    return null
  }
  at = stop
  let ascii = true
  for (let i = start; i < stop; i++) {
    const b = buf[i]!
    if (b === 0) {
      why = "string contains U+0000 [MQTT-1.5.4-2]"
      return null
    }
    if (b > 0x7f) {
      ascii = false
      break
    }
  }
  if (ascii) return (buf as SliceMethods).latin1Slice(start, stop)
  if (!isUtf8(buf.subarray(start, stop))) {
    why = "string is not well-formed UTF-8 [MQTT-1.5.4-1]"
    return null
  }
  const s = (buf as SliceMethods).utf8Slice(start, stop)
  if (s.indexOf("\u0000") !== -1) {
    why = "string contains U+0000 [MQTT-1.5.4-2]"
    return null
  }
  return s
}

/** Binary Data at `at` (§1.5.6) as a view, or null when it overruns `end`. */
const readBinary = (buf: Buffer, end: number): Buffer | null => {
  if (at + 2 > end) return null
  const len = (buf[at]! << 8) | buf[at + 1]!
  const start = at + 2
  if (start + len > end) return null
  at = start + len
  return buf.subarray(start, start + len)
}


const malformed = (message: string) => new MqttDecodeError(MALFORMED, message)
const protocolError = (message: string) => new MqttDecodeError(PROTOCOL_ERROR, message)

// A property that appears twice where only one is allowed (§3.3.2.3.x "It is a Protocol Error to
// include ... more than once").
const duplicate = (name: string) => protocolError(`duplicate ${name} property`)

/**
 * Hot path: PUBLISH (§3.3). `pos` is the first byte after the fixed header, `flags` its low nibble.
 */
const decodePublish = (
  frame: Buffer,
  flags: number,
  pos: number,
  version: ProtocolVersion
): PublishPacket | MqttDecodeError => {
  const qos = (flags >> 1) & 3
  if (qos === 3) return malformed("PUBLISH QoS 3 [MQTT-3.3.1-4]")
  const dup = (flags & 8) !== 0
  if (dup && qos === 0) return malformed("PUBLISH DUP set on QoS 0 [MQTT-3.3.1-2]")
  const end = frame.length
  at = pos
  const topic = readString(frame, end)
  if (topic === null) return malformed(`PUBLISH topic: ${why}`)
  let packetId = 0
  if (qos > 0) {
    if (at + 2 > end) return malformed("PUBLISH packet identifier missing")
    packetId = (frame[at]! << 8) | frame[at + 1]!
    at += 2
    // [MQTT-2.2.1-3] a QoS > 0 PUBLISH carries a non-zero Packet Identifier.
    if (packetId === 0) return protocolError("PUBLISH packet identifier 0 [MQTT-2.2.1-3]")
  }
  let properties: PublishProps | null = null
  if (version === 5) {
    const len = readVarint(frame, end)
    if (len < 0 || at + len > end) return malformed("PUBLISH property length overruns the packet")
    const stop = at + len
    if (len > 0) {
      const p = (properties = new PublishProps())
      while (at < stop) {
        // Identifiers are Variable Byte Integers, but every defined one fits in one byte (§2.2.2.2).
        const id = frame[at++]!
        switch (id) {
          case P_PAYLOAD_FORMAT:
            if (p.payloadFormatIndicator !== undefined) return duplicate("Payload Format Indicator")
            if (at + 1 > stop) return malformed("PUBLISH property overruns the property length")
            p.payloadFormatIndicator = frame[at++]!
            break
          case P_MESSAGE_EXPIRY:
            if (p.messageExpiryInterval !== undefined) return duplicate("Message Expiry Interval")
            if (at + 4 > stop) return malformed("PUBLISH property overruns the property length")
            p.messageExpiryInterval = frame.readUInt32BE(at)
            at += 4
            break
          case P_TOPIC_ALIAS:
            if (p.topicAlias !== undefined) return duplicate("Topic Alias")
            if (at + 2 > stop) return malformed("PUBLISH property overruns the property length")
            p.topicAlias = (frame[at]! << 8) | frame[at + 1]!
            at += 2
            break
          case P_RESPONSE_TOPIC: {
            if (p.responseTopic !== undefined) return duplicate("Response Topic")
            const s = readString(frame, stop)
            if (s === null) return malformed(`PUBLISH Response Topic: ${why}`)
            p.responseTopic = s
            break
          }
          case P_CORRELATION_DATA: {
            if (p.correlationData !== undefined) return duplicate("Correlation Data")
            const b = readBinary(frame, stop)
            if (b === null) return malformed("PUBLISH property overruns the property length")
            p.correlationData = b
            break
          }
          case P_USER_PROPERTY: {
            const k = readString(frame, stop)
            if (k === null) return malformed(`PUBLISH User Property name: ${why}`)
            const v = readString(frame, stop)
            if (v === null) return malformed(`PUBLISH User Property value: ${why}`)
            if (p.userProperties === undefined) p.userProperties = [[k, v]]
            else p.userProperties.push([k, v])
            break
          }
          case P_SUBSCRIPTION_ID: {
            const n = readVarint(frame, stop)
            if (n < 0) return malformed("PUBLISH Subscription Identifier overruns the property length")
            // §3.3.2.3.8: it is a Protocol Error if the Subscription Identifier has a value of 0.
            if (n === 0) return protocolError("PUBLISH Subscription Identifier 0")
            if (p.subscriptionIdentifiers === undefined) p.subscriptionIdentifiers = [n]
            else p.subscriptionIdentifiers.push(n)
            break
          }
          case P_CONTENT_TYPE: {
            if (p.contentType !== undefined) return duplicate("Content Type")
            const s = readString(frame, stop)
            if (s === null) return malformed(`PUBLISH Content Type: ${why}`)
            p.contentType = s
            break
          }
          default:
            // §2.2.2.2: an identifier not valid for the packet type makes it a Malformed Packet.
            return malformed(`PUBLISH property 0x${id.toString(16)} not allowed`)
        }
      }
    }
  }
  return new Publish(qos as 0 | 1 | 2, dup, (flags & 1) !== 0, topic, packetId, frame.subarray(at, end), properties)
}

/** Valid MQTT 5 reason codes: bit 1 for PUBACK/PUBREC (§3.4.2.1), bit 2 for PUBREL/PUBCOMP (§3.6.2.1). */
const ACK_CODES = new Uint8Array(256)
for (const c of [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]) ACK_CODES[c]! |= 1
for (const c of [0x00, 0x92]) ACK_CODES[c]! |= 2

const ACK_NAMES = ["", "", "", "", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP"] as const

/** Hot path: PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4-§3.7). Flags are checked by the caller. */
const decodeAck = (
  frame: Buffer,
  cmd: 4 | 5 | 6 | 7,
  pos: number,
  version: ProtocolVersion
): AckPacket | MqttDecodeError => {
  const end = frame.length
  const rl = end - pos
  if (version < 5 ? rl !== 2 : rl < 2) return malformed(`${ACK_NAMES[cmd]} remaining length ${rl}`)
  const packetId = (frame[pos]! << 8) | frame[pos + 1]!
  // No PUBLISH or PUBREL ever carries id 0 [MQTT-2.2.1-3], so an ack for it answers nothing.
  if (packetId === 0) return protocolError(`${ACK_NAMES[cmd]} packet identifier 0`)
  if (rl === 2) return new Ack(cmd, packetId, 0, undefined, undefined)
  // v5: a Reason Code (omissible when 0, §3.4.2.1) from the packet's list [MQTT-3.4.2-1], then,
  // if the remaining length is 4 or more, properties (§3.4.2.2.1).
  const reasonCode = frame[pos + 2]!
  if ((ACK_CODES[reasonCode]! & (cmd === 4 || cmd === 5 ? 1 : 2)) === 0) {
    return malformed(`${ACK_NAMES[cmd]} reason code 0x${reasonCode.toString(16)} not allowed`)
  }
  if (rl === 3) return new Ack(cmd, packetId, reasonCode, undefined, undefined)
  at = pos + 3
  const len = readVarint(frame, end)
  if (len < 0 || at + len !== end) return malformed(`${ACK_NAMES[cmd]} property length does not match the packet`)
  let reasonString: string | undefined = undefined
  let userProperties: UserProperties | undefined = undefined
  while (at < end) {
    const id = frame[at++]!
    if (id === P_REASON_STRING) {
      if (reasonString !== undefined) return duplicate("Reason String")
      const s = readString(frame, end)
      if (s === null) return malformed(`${ACK_NAMES[cmd]} Reason String: ${why}`)
      reasonString = s
    } else if (id === P_USER_PROPERTY) {
      const k = readString(frame, end)
      if (k === null) return malformed(`${ACK_NAMES[cmd]} User Property name: ${why}`)
      const v = readString(frame, end)
      if (v === null) return malformed(`${ACK_NAMES[cmd]} User Property value: ${why}`)
      if (userProperties === undefined) userProperties = [[k, v]]
      else userProperties.push([k, v])
    } else {
      return malformed(`${ACK_NAMES[cmd]} property 0x${id.toString(16)} not allowed`)
    }
  }
  return new Ack(cmd, packetId, reasonCode, reasonString, userProperties)
}

// ---------------------------------------------------------------------------------------------
// The slow path: one shared mqtt-packet parser for the rare packets.
// ---------------------------------------------------------------------------------------------

/** mqtt-packet's parser; `settings` is untyped in its .d.ts. */
interface SharedParser extends mqttPacket.Parser {
  settings: { protocolVersion: number }
}

/**
 * One settings object per version, assigned before every parse. Assigned, not mutated: after a
 * CONNECT mqtt-packet replaces `parser.settings` with the CONNECT packet itself, and writing the
 * version into that would alter a packet already handed to the broker.
 */
const SETTINGS: Record<ProtocolVersion, { protocolVersion: number }> = {
  3: { protocolVersion: 3 },
  4: { protocolVersion: 4 },
  5: { protocolVersion: 5 }
}

let captured: mqttPacket.Packet | null = null
let capturedError: string | null = null
const onPacket = (packet: mqttPacket.Packet): void => {
  captured = packet
}
const onError = (error: unknown): void => {
  capturedError = error instanceof Error ? error.message : String(error)
}

const newParser = (): SharedParser => {
  const p = mqttPacket.parser({ protocolVersion: 4 }) as SharedParser
  p.on("packet", onPacket)
  p.on("error", onError)
  return p
}
let parser = newParser()

/** Packet type names by number, for error messages. */
const SLOW_NAMES: ReadonlyArray<string> = [
  "", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"
]

/** Once per control packet (CONNECT, SUBSCRIBE, ...): not per message. */
const decodeSlow = (frame: Buffer, type: number, version: ProtocolVersion): ControlPacket | MqttDecodeError => {
  captured = null
  capturedError = null
  parser.settings = SETTINGS[version]
  try {
    parser.parse(frame)
  } catch (e) {
    // mqtt-packet can throw on some malformed input (a read past the end of its buffer list).
    capturedError = e instanceof Error ? e.message : String(e)
  }
  const packet = captured
  const error = capturedError
  captured = null
  capturedError = null
  // After a CONNECT mqtt-packet keeps that packet as its settings: drop it, with the password
  // and will payload it holds (views that would pin the socket chunk).
  parser.settings = SETTINGS[4]
  if (error !== null || packet === null) {
    parser = newParser()
    return malformed(`${SLOW_NAMES[type]}: ${error ?? "incomplete packet"}`)
  }
  const invalid = validateControlPacket(frame, type, packet as never, version)
  if (invalid !== null) return invalid
  return { cmd: type, packet } as ControlPacket
}

/**
 * Hot path: decodes one complete frame (fixed header included). `version` is the connection's
 * negotiated protocol level; CONNECT decodes whatever it says, since it carries the version itself.
 * Returns a packet, or an MqttDecodeError (0x81 Malformed Packet, 0x82 Protocol Error). Never throws.
 */
export function decodePacket(
  frame: Buffer,
  version: ProtocolVersion
): PublishPacket | AckPacket | SimplePacket | ControlPacket | MqttDecodeError {
  const end = frame.length
  if (end < 2) return malformed("packet shorter than a fixed header")
  const b0 = frame[0]!
  const type = b0 >> 4
  const flags = b0 & 0x0f
  // Remaining Length (§2.1.4): it must account for exactly the rest of the frame.
  let rl = 0
  let mul = 1
  let pos = 1
  for (;;) {
    if (pos >= end || pos > 4) return malformed("bad remaining length")
    const b = frame[pos++]!
    rl += (b & 0x7f) * mul
    if ((b & 0x80) === 0) break
    mul *= 128
  }
  if (pos + rl !== end) return malformed("remaining length does not match the frame")
  switch (type) {
    case 3:
      return decodePublish(frame, flags, pos, version)
    case 4:
    case 5:
    case 7:
      // Reserved flag bits must be as listed in §2.1.3 Table 2-2 [MQTT-2.1.3-1]; 3.1.1: [MQTT-2.2.2-1].
      if (flags !== 0) return malformed(`${SLOW_NAMES[type]} reserved flags must be 0 [MQTT-2.1.3-1]`)
      return decodeAck(frame, type, pos, version)
    case 6:
      if (flags !== 2) return malformed("PUBREL reserved flags must be 0010 [MQTT-3.6.1-1]")
      return decodeAck(frame, 6, pos, version)
    case 12:
    case 13:
      if (flags !== 0) return malformed(`${SLOW_NAMES[type]} reserved flags must be 0 [MQTT-2.1.3-1]`)
      if (rl !== 0) return malformed(`${SLOW_NAMES[type]} remaining length must be 0`)
      return type === 12 ? PINGREQ_PACKET : PINGRESP_PACKET
    case 14:
      if (version === 5) return decodeSlow(frame, 14, version)
      if (flags !== 0) return malformed("DISCONNECT reserved flags must be 0 [MQTT-3.14.1-1]")
      if (rl !== 0) return malformed("DISCONNECT remaining length must be 0 (v3.1.1 §3.14.1)")
      return DISCONNECT_PACKET
    case 0:
      return malformed("packet type 0 is reserved")
    default:
      return decodeSlow(frame, type, version)
  }
}
