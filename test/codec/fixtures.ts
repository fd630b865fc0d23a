/**
 * Shared helpers for the codec tests: a fresh mqtt-packet parser as the reference decoder, and
 * normalisers that put its packets and ours into one comparable shape (mqtt-packet keeps user
 * properties as an object of string | string[], a single subscription identifier as a number, the
 * payload format indicator as a boolean; Buffers become hex so equality failures are readable).
 */
import { FastCheck as fc } from "effect"
import * as mqttPacket from "mqtt-packet"
import type { AckPacket, ProtocolVersion, PublishPacket, PublishProperties } from "../../src/mqtt/codec/packets.js"

export type RefResult = { readonly packet: mqttPacket.Packet } | { readonly error: string }

/** Decodes one frame with a fresh mqtt-packet parser (what the codec is checked against). */
export const refParse = (frame: Buffer, version: ProtocolVersion): RefResult => {
  const parser = mqttPacket.parser({ protocolVersion: version })
  let packet: mqttPacket.Packet | undefined
  let error: string | undefined
  parser.on("packet", (p) => {
    if (packet === undefined) packet = p
  })
  parser.on("error", (e: unknown) => {
    error ??= String(e)
  })
  try {
    parser.parse(frame)
  } catch (e) {
    error ??= `threw: ${String(e)}`
  }
  if (error !== undefined) return { error }
  if (packet === undefined) return { error: "incomplete" }
  return { packet }
}

const hex = (b: Buffer | string | undefined) => (b === undefined ? undefined : Buffer.from(b).toString("hex"))

type Json = Record<string, unknown>

const compact = (o: Json): Json => {
  const out: Json = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out
}

/**
 * Our user properties (ordered pairs) in mqtt-packet's grouped form, including its quirk: it only
 * turns a repeated name into an array when the earlier value is truthy, so a repeat after an
 * empty-string value overwrites it (`if (result[name][key])` in its parser). Ours keeps both.
 */
export const groupUserProperties = (pairs: ReadonlyArray<readonly [string, string]> | undefined) => {
  if (pairs === undefined) return undefined
  const out: Record<string, string | Array<string>> = {}
  for (const [k, v] of pairs) {
    const prev = Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined
    if (!prev) out[k] = v
    else if (Array.isArray(prev)) prev.push(v)
    else out[k] = [prev, v]
  }
  return out
}

const plainUserProperties = (u: mqttPacket.UserProperties | undefined) => {
  if (u === undefined) return undefined
  const out: Record<string, string | Array<string>> = {}
  for (const k of Object.keys(u)) out[k] = u[k]!
  return out
}

const normOurProps = (p: PublishProperties | null) => {
  if (p === null) return undefined
  const ids = p.subscriptionIdentifiers
  return compact({
    payloadFormatIndicator: p.payloadFormatIndicator === undefined ? undefined : p.payloadFormatIndicator !== 0,
    messageExpiryInterval: p.messageExpiryInterval,
    topicAlias: p.topicAlias,
    responseTopic: p.responseTopic,
    correlationData: hex(p.correlationData),
    userProperties: groupUserProperties(p.userProperties),
    subscriptionIdentifier: ids === undefined ? undefined : ids.length === 1 ? ids[0] : ids,
    contentType: p.contentType
  })
}

const normRefProps = (p: Json | undefined) => {
  if (p === undefined) return undefined
  return compact({
    ...p,
    correlationData: hex(p["correlationData"] as Buffer | undefined),
    userProperties: plainUserProperties(p["userProperties"] as mqttPacket.UserProperties | undefined)
  })
}

/** Our PUBLISH, comparable with `normRefPublish`. */
export const normOurPublish = (p: PublishPacket) =>
  compact({
    cmd: "publish",
    topic: p.topic,
    qos: p.qos,
    dup: p.dup,
    retain: p.retain,
    messageId: p.qos > 0 ? p.packetId : undefined,
    payload: hex(p.payload),
    properties: normOurProps(p.properties)
  })

export const normRefPublish = (p: mqttPacket.IPublishPacket) =>
  compact({
    cmd: "publish",
    topic: p.topic,
    qos: p.qos,
    dup: p.dup,
    retain: p.retain,
    messageId: p.qos > 0 ? p.messageId : undefined,
    payload: hex(p.payload),
    properties: normRefProps(p.properties as Json | undefined)
  })

const ACK_NAMES = { 4: "puback", 5: "pubrec", 6: "pubrel", 7: "pubcomp" } as const

export const normOurAck = (a: AckPacket) =>
  compact({
    cmd: ACK_NAMES[a.cmd],
    messageId: a.packetId,
    reasonCode: a.reasonCode,
    properties:
      a.reasonString === undefined && a.userProperties === undefined
        ? undefined
        : compact({ reasonString: a.reasonString, userProperties: groupUserProperties(a.userProperties) })
  })

export const normRefAck = (
  a: mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket | mqttPacket.IPubrelPacket | mqttPacket.IPubcompPacket
) =>
  compact({
    cmd: a.cmd,
    messageId: a.messageId,
    reasonCode: a.reasonCode ?? 0,
    properties: normRefProps(a.properties as Json | undefined)
  })

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Any Unicode text without U+0000 (lone surrogates cannot be generated by the "binary" unit). */
export const text = (maxLength: number) =>
  fc.string({ unit: "binary", maxLength }).filter((s) => !s.includes("\u0000"))

export const userProperties = fc
  .dictionary(
    text(8).filter((k) => k !== "__proto__"),
    fc.oneof(text(8), fc.array(text(8), { minLength: 2, maxLength: 3 })),
    { minKeys: 1, maxKeys: 3 }
  )

export const subscriptionId = fc.integer({ min: 1, max: 268_435_455 })

/** mqtt-packet's v5 PUBLISH properties, any subset. */
export const publishProperties = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: fc.integer({ min: 0, max: 0xffff_ffff }),
    topicAlias: fc.integer({ min: 1, max: 0xffff }),
    responseTopic: text(20),
    correlationData: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
    userProperties,
    subscriptionIdentifier: fc.oneof(subscriptionId, fc.array(subscriptionId, { minLength: 2, maxLength: 3 })),
    contentType: text(20)
  },
  { requiredKeys: [] }
)

/** Printable ASCII, the usual topic (and the decoder's byte-loop fast path). */
export const asciiText = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength })

/** A valid mqtt-packet PUBLISH for `version`. */
export const publishPacket = (version: ProtocolVersion) =>
  fc
    .record({
      topic: fc.oneof(text(30), asciiText(120)),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      dup: fc.boolean(),
      retain: fc.boolean(),
      messageId: fc.integer({ min: 1, max: 0xffff }),
      payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      properties: version === 5 ? fc.option(publishProperties, { nil: undefined }) : fc.constant(undefined)
    })
    .map(
      (r): mqttPacket.IPublishPacket => ({
        cmd: "publish",
        topic: r.topic,
        qos: r.qos,
        dup: r.qos > 0 && r.dup, // [MQTT-3.3.1-2] DUP is 0 for QoS 0
        retain: r.retain,
        payload: r.payload,
        ...(r.qos > 0 ? { messageId: r.messageId } : {}),
        ...(r.properties === undefined ? {} : { properties: r.properties })
      })
    )
