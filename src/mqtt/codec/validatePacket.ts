/**
 * Checks what mqtt-packet lets through in the control packets it decodes for us (CONNECT, the
 * will, SUBSCRIBE, UNSUBSCRIBE, v5 DISCONNECT and AUTH), before a handler or anything with a
 * Schema sees them. mqtt-packet turns a repeated property into an array (and silently keeps the
 * last of a repeated 0), accepts identifiers that do not belong to the packet, and hands over an
 * UNSUBSCRIBE with no filter. So the v5 property blocks are walked here on the raw frame, and the
 * decoded payload lists are checked for emptiness. Only runs on the slow path; never throws.
 */
import { MqttDecodeError, type ProtocolVersion } from "./packets.js"

const MALFORMED = 0x81
const PROTOCOL_ERROR = 0x82

/** How a property's value is laid out (MQTT 5 §2.2.2.2), to step over it. */
const enum Kind {
  Byte = 1,
  Two = 2,
  Four = 4,
  Varint = 5,
  Utf8 = 6,
  Binary = 7,
  Pair = 8
}

/** Where a property may appear: one bit per packet kind this module checks. */
const CONNECT = 1
const WILL = 2
const SUBSCRIBE = 4
const UNSUBSCRIBE = 8
const DISCONNECT = 16
const AUTH = 32

interface PropertySpec {
  readonly name: string
  readonly kind: Kind
  readonly where: number
}

const PROPERTIES: ReadonlyArray<PropertySpec | undefined> = (() => {
  const table: Array<PropertySpec | undefined> = []
  const def = (id: number, name: string, kind: Kind, where: number) => (table[id] = { name, kind, where })
  def(0x01, "Payload Format Indicator", Kind.Byte, WILL)
  def(0x02, "Message Expiry Interval", Kind.Four, WILL)
  def(0x03, "Content Type", Kind.Utf8, WILL)
  def(0x08, "Response Topic", Kind.Utf8, WILL)
  def(0x09, "Correlation Data", Kind.Binary, WILL)
  def(0x0b, "Subscription Identifier", Kind.Varint, SUBSCRIBE)
  def(0x11, "Session Expiry Interval", Kind.Four, CONNECT | DISCONNECT)
  def(0x15, "Authentication Method", Kind.Utf8, CONNECT | AUTH)
  def(0x16, "Authentication Data", Kind.Binary, CONNECT | AUTH)
  def(0x17, "Request Problem Information", Kind.Byte, CONNECT)
  def(0x18, "Will Delay Interval", Kind.Four, WILL)
  def(0x19, "Request Response Information", Kind.Byte, CONNECT)
  def(0x1c, "Server Reference", Kind.Utf8, DISCONNECT)
  def(0x1f, "Reason String", Kind.Utf8, DISCONNECT | AUTH)
  def(0x21, "Receive Maximum", Kind.Two, CONNECT)
  def(0x22, "Topic Alias Maximum", Kind.Two, CONNECT)
  def(0x26, "User Property", Kind.Pair, CONNECT | WILL | SUBSCRIBE | UNSUBSCRIBE | DISCONNECT | AUTH)
  def(0x27, "Maximum Packet Size", Kind.Four, CONNECT)
  return table
})()

const P_USER_PROPERTY = 0x26

/** Read position in the frame being checked, and the properties met so far (one slot each: synchronous). */
let at = 0
const seen = new Uint8Array(PROPERTIES.length)

const varint = (buf: Buffer, end: number): number => {
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

/** Steps over a 2-byte-length string or binary; false when it overruns `end`. */
const skipLengthPrefixed = (buf: Buffer, end: number): boolean => {
  if (at + 2 > end) return false
  at += 2 + ((buf[at]! << 8) | buf[at + 1]!)
  return at <= end
}

/**
 * Walks the property block at `at` (its length varint first) for a packet of kind `where`.
 * Returns null when every property is allowed there and none that may appear once repeats.
 */
const checkProperties = (buf: Buffer, end: number, where: number, packet: string): MqttDecodeError | null => {
  const len = varint(buf, end)
  if (len < 0 || at + len > end) return new MqttDecodeError(MALFORMED, `${packet}: property length overruns the packet`)
  const stop = at + len
  seen.fill(0)
  while (at < stop) {
    const id = varint(buf, stop)
    const spec = id < 0 ? undefined : PROPERTIES[id]
    if (spec === undefined || (spec.where & where) === 0) {
      // §2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
      return new MqttDecodeError(MALFORMED, `${packet}: property 0x${id.toString(16)} not allowed`)
    }
    if (id !== P_USER_PROPERTY) {
      // "It is a Protocol Error to include the <property> more than once" (§3.1.2.11, §3.8.2.1, ...).
      if (seen[id] === 1) return new MqttDecodeError(PROTOCOL_ERROR, `${packet}: ${spec.name} more than once`)
      seen[id] = 1
    }
    let ok = true
    switch (spec.kind) {
      case Kind.Byte:
      case Kind.Two:
      case Kind.Four:
        at += spec.kind
        ok = at <= stop
        break
      case Kind.Varint:
        ok = varint(buf, stop) >= 0
        break
      case Kind.Utf8:
      case Kind.Binary:
        ok = skipLengthPrefixed(buf, stop)
        break
      case Kind.Pair:
        ok = skipLengthPrefixed(buf, stop) && skipLengthPrefixed(buf, stop)
        break
    }
    if (!ok) return new MqttDecodeError(MALFORMED, `${packet}: ${spec.name} overruns the property length`)
  }
  return null
}

/** The decoded fields this module looks at (mqtt-packet's shapes, loosely). */
interface Decoded {
  readonly protocolVersion?: number
  readonly will?: unknown
  readonly subscriptions?: ReadonlyArray<unknown>
  readonly unsubscriptions?: ReadonlyArray<unknown>
}

/**
 * Checks one control packet mqtt-packet decoded from `frame` (fixed header included). `version`
 * is the connection's; a CONNECT's own level is read from the packet. Returns the error to close
 * with, or null.
 */
export const validateControlPacket = (frame: Buffer, type: number, packet: Decoded, version: ProtocolVersion): MqttDecodeError | null => {
  // [MQTT-3.8.3-3] / [MQTT-3.10.3-2]: at least one topic filter; v5 calls an empty one a Protocol Error.
  if (type === 8 && (packet.subscriptions === undefined || packet.subscriptions.length === 0)) {
    return new MqttDecodeError(PROTOCOL_ERROR, "SUBSCRIBE with no topic filter [MQTT-3.8.3-3]")
  }
  if (type === 10 && (packet.unsubscriptions === undefined || packet.unsubscriptions.length === 0)) {
    return new MqttDecodeError(PROTOCOL_ERROR, "UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2]")
  }
  const level = type === 1 ? packet.protocolVersion : version
  if (level !== 5) return null
  const end = frame.length
  at = 1
  if (varint(frame, end) < 0) return null // FrameReader already checked the fixed header
  switch (type) {
    case 1: {
      // Protocol name, level, flags, keep alive (§3.1.2), then properties.
      if (!skipLengthPrefixed(frame, end) || at + 4 > end) return null
      const flags = frame[at + 1]!
      at += 4
      const bad = checkProperties(frame, end, CONNECT, "CONNECT")
      if (bad !== null || (flags & 0x04) === 0) return bad
      // The will properties follow the client id (§3.1.3.2).
      if (!skipLengthPrefixed(frame, end)) return null
      return checkProperties(frame, end, WILL, "CONNECT will")
    }
    case 8:
    case 10:
      at += 2 // packet identifier
      return checkProperties(frame, end, type === 8 ? SUBSCRIBE : UNSUBSCRIBE, type === 8 ? "SUBSCRIBE" : "UNSUBSCRIBE")
    case 14:
    case 15:
      // Reason code, and properties only if anything follows it (§3.14.2.1, §3.15.2.1).
      if (at + 1 >= end) return null
      at += 1
      return checkProperties(frame, end, type === 14 ? DISCONNECT : AUTH, type === 14 ? "DISCONNECT" : "AUTH")
    default:
      return null
  }
}
