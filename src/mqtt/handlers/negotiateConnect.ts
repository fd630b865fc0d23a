/**
 * CONNECT's protocol rules as one pure function: the packet, the limits and the number of
 * clients connected go in; a refusal (with how to answer it) or the settings the connection
 * runs under come out. Authentication, admission and the session are the handler's (connect.ts):
 * they need the broker's state, this needs none, so every rule here is a plain unit test.
 */
import { isUtf8 } from "node:buffer"
import { ReasonCode } from "../../../domain/ReasonCode.js"
import { NEVER_EXPIRES, type QoS } from "../../../domain/session/Session.js"
import { validateTopicName } from "../../../domain/topic/TopicName.js"
import type { LimitsConfig } from "../../../config/BrokerConfigShape.js"
import { type IConnectPacket, type ProtocolVersion, PublishProps, type UserProperties } from "../codec/packets.js"
import type { Will } from "../engine/Engine.js"
import { Message } from "../engine/Message.js"

/** What the rules need besides the packet. */
export interface ConnectTerms {
  readonly limits: LimitsConfig
  /** mqtt.max_keepalive (0 = any). */
  readonly maxKeepalive: number
  /** Clients connected now (limits.max_connections bounds it). */
  readonly connected: number
  readonly now: number
  /** Names a client that sent an empty client id. */
  readonly newClientId: () => string
}

/** The settings an accepted CONNECT runs under. */
export interface ConnectSettings {
  readonly version: ProtocolVersion
  readonly clientId: string
  /** Set when the broker named the client (v5 tells it in CONNACK). */
  readonly assignedClientId: string | undefined
  readonly cleanStart: boolean
  /** Seconds; 0 = none. */
  readonly keepalive: number
  /** Set when mqtt.max_keepalive overrode the client's (v5 tells it in CONNACK). */
  readonly serverKeepAlive: number | undefined
  /** Session Expiry Interval in seconds (NEVER_EXPIRES for a v3 persistent session). */
  readonly expiry: number
  /** The client asked for more than limits.max_session_expiry (v5 tells it the value used). */
  readonly expiryCapped: boolean
  readonly will: Will | null
  /** Outbound QoS 1/2 window: our limit and the client's Receive Maximum. */
  readonly sendQuota: number
  /** The client's Maximum Packet Size; 0 = none. */
  readonly clientMaxPacketSize: number
  readonly topicAliasMaximum: number
  readonly requestResponseInformation: boolean
}

export type ConnectNegotiation =
  | { readonly _tag: "Accepted"; readonly settings: ConnectSettings }
  /** CONNACK with `reason`, then close [MQTT-3.2.2-6]. */
  | { readonly _tag: "Refused"; readonly reason: number }
  /** A malformed or protocol-violating CONNECT: closed without a CONNACK [MQTT-4.8.0-1]. */
  | { readonly _tag: "Violation"; readonly reason: number }

const refused = (reason: number): ConnectNegotiation => ({ _tag: "Refused", reason })
const violation = (reason: number): ConnectNegotiation => ({ _tag: "Violation", reason })

/** The CONNECT rules in spec order. */
export const negotiateConnect = (packet: IConnectPacket, terms: ConnectTerms): ConnectNegotiation => {
  const { limits } = terms
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion
  const props = packet.properties ?? {}
  if (version === 5 && props.authenticationMethod !== undefined) return refused(ReasonCode.BadAuthenticationMethod)
  // v5 §3.1.2.11.3-4: a Receive Maximum or Maximum Packet Size of 0 is a protocol error.
  if (props.receiveMaximum === 0 || props.maximumPacketSize === 0) return violation(ReasonCode.ProtocolError)
  // [MQTT-3.1.2-22] 3.1.1 (and 3.1): no password without a user name; v5 allows it.
  if (version < 5 && packet.password !== undefined && packet.username === undefined) return violation(ReasonCode.MalformedPacket)
  if (packet.will && (packet.will.qos ?? 0) > 2) return violation(ReasonCode.MalformedPacket) // [MQTT-3.1.2-14]
  let clientId = packet.clientId
  let assignedClientId: string | undefined
  if (clientId === "") {
    // [MQTT-3.1.3-7..8] an empty id needs a clean session in 3.1.1; 3.1 requires an id.
    if (version === 3 || (version === 4 && !packet.clean)) return refused(ReasonCode.ClientIdentifierNotValid)
    clientId = terms.newClientId()
    if (version === 5) assignedClientId = clientId
  } else if (version === 3 && clientId.length > 23) {
    return refused(ReasonCode.ClientIdentifierNotValid)
  }
  if (terms.connected >= limits.maxConnections) return refused(ReasonCode.QuotaExceeded)
  let keepalive = packet.keepalive ?? 0
  let serverKeepAlive: number | undefined
  const maxKeepalive = terms.maxKeepalive
  if (maxKeepalive > 0 && (keepalive === 0 || keepalive > maxKeepalive)) {
    if (version === 5) keepalive = serverKeepAlive = maxKeepalive
    else if (keepalive > maxKeepalive) return refused(ReasonCode.ClientIdentifierNotValid) // v3 cannot be told
  }
  let expiry = version === 5 ? (props.sessionExpiryInterval ?? 0) : packet.clean ? 0 : NEVER_EXPIRES
  let expiryCapped = false
  if (version === 5 && expiry > limits.maxSessionExpiry) {
    expiry = limits.maxSessionExpiry
    expiryCapped = true
  }
  let will: Will | null = null
  if (packet.will) {
    const w = packet.will
    if (validateTopicName(w.topic, limits.maxTopicLevels, limits.maxTopicLength) !== 0) return refused(ReasonCode.TopicNameInvalid)
    const payload = Buffer.from(w.payload)
    if (w.properties?.payloadFormatIndicator && !isUtf8(payload)) return refused(ReasonCode.PayloadFormatInvalid)
    will = willOf(w, payload, clientId, terms.now)
  }
  return {
    _tag: "Accepted",
    settings: {
      version,
      clientId,
      assignedClientId,
      cleanStart: packet.clean ?? true,
      keepalive,
      serverKeepAlive,
      expiry,
      expiryCapped,
      will,
      sendQuota: Math.min(limits.maxInflight, props.receiveMaximum ?? 65535),
      clientMaxPacketSize: props.maximumPacketSize ?? 0,
      topicAliasMaximum: version === 5 ? (props.topicAliasMaximum ?? 0) : 0,
      requestResponseInformation: props.requestResponseInformation === true
    }
  }
}

/** The v5 CONNACK properties for accepted `settings` (v3 CONNACKs carry none). */
export const connackProperties = (settings: ConnectSettings, limits: LimitsConfig): Record<string, unknown> | undefined => {
  if (settings.version !== 5) return undefined
  const p: Record<string, unknown> = {
    receiveMaximum: limits.receiveMaximum,
    maximumPacketSize: limits.maxPacketSize,
    topicAliasMaximum: limits.topicAliasMaximum
  }
  if (settings.assignedClientId !== undefined) p.assignedClientIdentifier = settings.assignedClientId
  if (settings.serverKeepAlive !== undefined) p.serverKeepAlive = settings.serverKeepAlive
  if (settings.expiryCapped) p.sessionExpiryInterval = settings.expiry
  if (settings.requestResponseInformation) p.responseInformation = `response/${settings.clientId}`
  return p
}

const willOf = (w: NonNullable<IConnectPacket["will"]>, payload: Buffer, clientId: string, now: number): Will => {
  const wp = w.properties
  let mprops: PublishProps | null = null
  if (wp !== undefined) {
    mprops = new PublishProps()
    mprops.payloadFormatIndicator = wp.payloadFormatIndicator === undefined ? undefined : wp.payloadFormatIndicator ? 1 : 0
    mprops.contentType = wp.contentType
    mprops.responseTopic = wp.responseTopic
    mprops.correlationData = wp.correlationData
    mprops.userProperties = userPairs(wp.userProperties)
  }
  const expiresAt = wp?.messageExpiryInterval !== undefined ? now + wp.messageExpiryInterval * 1000 : 0
  return {
    message: new Message(w.topic, payload, (w.qos ?? 0) as QoS, w.retain ?? false, mprops, expiresAt, clientId, now),
    delay: wp?.willDelayInterval ?? 0
  }
}

/** mqtt-packet gives user properties as an object of string | string[]; we keep ordered pairs. */
const userPairs = (u: Record<string, string | Array<string>> | undefined): UserProperties | undefined => {
  if (u === undefined) return undefined
  const out: UserProperties = []
  for (const [k, v] of Object.entries(u)) {
    if (Array.isArray(v)) for (const x of v) out.push([k, x])
    else out.push([k, v])
  }
  return out
}
