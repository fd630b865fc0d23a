/**
 * The decoded shapes of MQTT control packets, as the broker's handlers see them. PUBLISH and its
 * acknowledgements (the per-message path) are small classes with every field set in the
 * constructor, so V8 keeps one hidden class per kind; everything else (CONNECT, SUBSCRIBE, v5
 * DISCONNECT, AUTH, ...) is mqtt-packet's own packet object wrapped in a `ControlPacket` whose
 * `cmd` is the numeric packet type. Handlers switch on `cmd` (a small integer), never on strings.
 * This module holds types and constructors only: no parsing, no Effect.
 */
import type {
  IAuthPacket,
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  ISubackPacket,
  ISubscribePacket,
  IUnsubackPacket,
  IUnsubscribePacket
} from "mqtt-packet"

export type {
  IAuthPacket,
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  ISubackPacket,
  ISubscribePacket,
  IUnsubackPacket,
  IUnsubscribePacket
} from "mqtt-packet"

/** MQTT control packet types, the high nibble of the fixed header's first byte (MQTT 5 §2.1.2). */
export const Cmd = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15
} as const

/** MQTT 5 property identifiers of PUBLISH (§3.3.2.3) and of the four acks (§3.4.2.2). */
export const P_PAYLOAD_FORMAT = 0x01
export const P_MESSAGE_EXPIRY = 0x02
export const P_CONTENT_TYPE = 0x03
export const P_RESPONSE_TOPIC = 0x08
export const P_CORRELATION_DATA = 0x09
export const P_SUBSCRIPTION_ID = 0x0b
export const P_REASON_STRING = 0x1f
export const P_TOPIC_ALIAS = 0x23
export const P_USER_PROPERTY = 0x26

/** 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0 (the CONNECT protocol level byte). */
export type ProtocolVersion = 3 | 4 | 5

/**
 * MQTT 5 User Properties in wire order. A list of pairs, not a map: the same name may appear more
 * than once and the order must be kept when forwarding [MQTT-3.3.2-17], [MQTT-3.3.2-18].
 */
export type UserProperties = Array<readonly [string, string]>

/** The MQTT 5 PUBLISH properties (§3.3.2.3); a property absent from the packet is `undefined`. */
export interface PublishProperties {
  payloadFormatIndicator: number | undefined
  messageExpiryInterval: number | undefined
  topicAlias: number | undefined
  responseTopic: string | undefined
  correlationData: Buffer | undefined
  userProperties: UserProperties | undefined
  subscriptionIdentifiers: Array<number> | undefined
  contentType: string | undefined
}

/** All fields initialised, in one order, so every instance shares one hidden class. */
export class PublishProps implements PublishProperties {
  payloadFormatIndicator: number | undefined = undefined
  messageExpiryInterval: number | undefined = undefined
  topicAlias: number | undefined = undefined
  responseTopic: string | undefined = undefined
  correlationData: Buffer | undefined = undefined
  userProperties: UserProperties | undefined = undefined
  subscriptionIdentifiers: Array<number> | undefined = undefined
  contentType: string | undefined = undefined
}

export interface PublishPacket {
  cmd: 3
  qos: 0 | 1 | 2
  dup: boolean
  retain: boolean
  /** May be "" in MQTT 5 when a Topic Alias stands in for it; the broker checks topic rules. */
  topic: string
  /** 0 when qos is 0. */
  packetId: number
  /** A view of the frame: copy it if it outlives the frame's socket chunk. */
  payload: Buffer
  /** null for v3/v4, and for v5 when the property length is 0. */
  properties: PublishProperties | null
}

/** Fields assigned in one order in the constructor: one hidden class for every PUBLISH. */
export class Publish implements PublishPacket {
  readonly cmd: 3
  qos: 0 | 1 | 2
  dup: boolean
  retain: boolean
  topic: string
  packetId: number
  payload: Buffer
  properties: PublishProperties | null
  constructor(
    qos: 0 | 1 | 2,
    dup: boolean,
    retain: boolean,
    topic: string,
    packetId: number,
    payload: Buffer,
    properties: PublishProperties | null
  ) {
    this.cmd = 3
    this.qos = qos
    this.dup = dup
    this.retain = retain
    this.topic = topic
    this.packetId = packetId
    this.payload = payload
    this.properties = properties
  }
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. */
export interface AckPacket {
  cmd: 4 | 5 | 6 | 7
  packetId: number
  /** 0 (Success) when absent: v3/v4 always, v5 when the remaining length is 2 (§3.4.2.1). */
  reasonCode: number
  reasonString: string | undefined
  userProperties: UserProperties | undefined
}

export class Ack implements AckPacket {
  constructor(
    public cmd: 4 | 5 | 6 | 7,
    public packetId: number,
    public reasonCode: number,
    public reasonString: string | undefined,
    public userProperties: UserProperties | undefined
  ) {}
}

/** PINGREQ, PINGRESP, and the body-less v3/v4 DISCONNECT. Decoding returns shared frozen instances. */
export interface SimplePacket {
  cmd: 12 | 13 | 14
}

/**
 * Every other packet, exactly as mqtt-packet's parser produced it (`packet.cmd` is still
 * mqtt-packet's string). The broker switches on the numeric `cmd`; `packet` is then typed.
 * DISCONNECT appears here only for MQTT 5 (reason code and properties); for v3/v4 it is a
 * SimplePacket, so a handler tells them apart with `"packet" in decoded`.
 */
export type ControlPacket =
  | { readonly cmd: 1; readonly packet: IConnectPacket }
  | { readonly cmd: 2; readonly packet: IConnackPacket }
  | { readonly cmd: 8; readonly packet: ISubscribePacket }
  | { readonly cmd: 9; readonly packet: ISubackPacket }
  | { readonly cmd: 10; readonly packet: IUnsubscribePacket }
  | { readonly cmd: 11; readonly packet: IUnsubackPacket }
  | { readonly cmd: 14; readonly packet: IDisconnectPacket }
  | { readonly cmd: 15; readonly packet: IAuthPacket }

/**
 * A packet the codec refused. Returned, never thrown (an Error captures a stack: microseconds).
 * `reasonCode` is 0x81 Malformed Packet or 0x82 Protocol Error, ready for a v5 DISCONNECT;
 * for v3/v4 the connection is simply closed [MQTT-4.8.0-1]. `cmd` is 0 (a reserved packet type)
 * so one numeric `switch (decoded.cmd)` covers packets and errors alike.
 */
export class MqttDecodeError {
  readonly cmd: 0
  constructor(readonly reasonCode: number, readonly message: string) {
    this.cmd = 0
  }
}

export type DecodedPacket = PublishPacket | AckPacket | SimplePacket | ControlPacket | MqttDecodeError
