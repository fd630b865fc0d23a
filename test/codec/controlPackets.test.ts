/**
 * Property tests for the MQTT control packets the broker decodes through mqtt-packet plus
 * validatePacket.ts (CONNECT with its will, SUBSCRIBE, UNSUBSCRIBE, v5 DISCONNECT and AUTH):
 * every field and every v5 property a client may send survives encode -> decodePacket; any
 * property that may appear once is refused when repeated; and arbitrary byte streams, cut into
 * arbitrary chunks, never throw out of FrameReader + decodePacket nor yield a frame above the
 * maximum packet size. PUBLISH and the acks have their own round trips in decode/encode.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as mqttPacket from "mqtt-packet"
import { decodePacket } from "../../src/mqtt/codec/decode.js"
import { FrameReader } from "../../src/mqtt/codec/FrameReader.js"
import { type ControlPacket, MqttDecodeError, type ProtocolVersion } from "../../src/mqtt/codec/packets.js"
import { asciiText, subscriptionId, text } from "./fixtures.js"

const gen = (packet: mqttPacket.Packet, version: ProtocolVersion) => mqttPacket.generate(packet, { protocolVersion: version })

const control = (d: ReturnType<typeof decodePacket>): ControlPacket => {
  if (d instanceof MqttDecodeError) throw new Error(`decode error 0x${d.reasonCode.toString(16)}: ${d.message}`)
  expect("packet" in d).toBe(true)
  return d as ControlPacket
}

/**
 * User properties whose values are not empty: mqtt-packet's parser drops the earlier values of a
 * repeated name when the first is "" (it tests `if (result[name])`), so those cannot round-trip
 * through it (the fast path's PUBLISH decoder keeps them; see docs/reliability.md).
 */
const userProperties = fc.dictionary(
  text(8).filter((k) => k !== "__proto__"),
  fc.oneof(text(8).filter((v) => v !== ""), fc.array(text(8).filter((v) => v !== ""), { minLength: 2, maxLength: 3 })),
  { minKeys: 1, maxKeys: 3 }
)

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a))
const u16 = fc.integer({ min: 1, max: 0xffff })
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const versions = fc.constantFrom(3 as const, 4 as const, 5 as const)

const connectProperties = fc.record(
  {
    sessionExpiryInterval: u32,
    receiveMaximum: u16,
    maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
    topicAliasMaximum: fc.integer({ min: 0, max: 0xffff }),
    requestResponseInformation: fc.boolean(),
    requestProblemInformation: fc.boolean(),
    userProperties,
    authenticationMethod: text(10),
    authenticationData: bytes(10)
  },
  { requiredKeys: [] }
)

const willProperties = fc.record(
  {
    willDelayInterval: u32,
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: u32,
    contentType: text(10),
    responseTopic: text(10),
    correlationData: bytes(10),
    userProperties
  },
  { requiredKeys: [] }
)

const connectPacket = versions.chain((version) =>
  fc
    .record({
      clientId: version === 3 ? asciiText(23).filter((s) => s.length > 0) : text(30),
      clean: fc.boolean(),
      keepalive: fc.integer({ min: 0, max: 0xffff }),
      username: fc.option(text(20), { nil: undefined }),
      password: fc.option(bytes(20), { nil: undefined }),
      will: fc.option(
        fc.record({
          topic: text(20).filter((t) => t.length > 0),
          payload: bytes(40),
          qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
          retain: fc.boolean(),
          properties: version === 5 ? fc.option(willProperties, { nil: undefined }) : fc.constant(undefined)
        }),
        { nil: undefined }
      ),
      properties: version === 5 ? fc.option(connectProperties, { nil: undefined }) : fc.constant(undefined)
    })
    .map((r) => {
      // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22]; mqtt-packet refuses to write it in any version.
      const password = r.username === undefined ? undefined : r.password
      const packet = {
        cmd: "connect" as const,
        protocolId: version === 3 ? "MQIsdp" : "MQTT",
        protocolVersion: version,
        clientId: r.clientId,
        clean: r.clean || r.clientId === "", // an empty id needs a clean session (mqtt-packet refuses it)
        keepalive: r.keepalive,
        ...(r.username !== undefined ? { username: r.username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(r.will !== undefined ? { will: r.will.properties === undefined ? { ...r.will, properties: undefined } : r.will } : {}),
        ...(r.properties !== undefined ? { properties: r.properties } : {})
      }
      return { version, packet: packet as mqttPacket.IConnectPacket }
    })
)

/** What must survive: properties compared with false/0 flags as mqtt-packet reads them back. */
const normProps = (p: Record<string, unknown> | undefined): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(p ?? {})) {
    if (v === undefined) continue
    if (Buffer.isBuffer(v)) out[k] = v.toString("hex")
    else if (k === "userProperties") out[k] = { ...(v as object) }
    else out[k] = v
  }
  return out
}

describe("control packets: encode -> decodePacket round trip", () => {
  it.prop("CONNECT, every field and every CONNECT and will property (v3, v4, v5)", [connectPacket], ([{ version, packet }]) => {
    const got = control(decodePacket(gen(packet, version), 4)).packet as mqttPacket.IConnectPacket
    expect(got.protocolVersion).toBe(version)
    expect([got.clientId, got.clean, got.keepalive, got.username]).toEqual([packet.clientId, packet.clean, packet.keepalive, packet.username])
    expect(got.password?.toString("hex")).toEqual(packet.password === undefined ? undefined : Buffer.from(packet.password).toString("hex"))
    expect(normProps(got.properties)).toEqual(normProps(packet.properties))
    if (packet.will === undefined) expect(got.will).toBeUndefined()
    else {
      expect([got.will!.topic, Buffer.from(got.will!.payload).toString("hex"), got.will!.qos, got.will!.retain]).toEqual([
        packet.will.topic,
        Buffer.from(packet.will.payload).toString("hex"),
        packet.will.qos,
        packet.will.retain
      ])
      expect(normProps(got.will!.properties)).toEqual(normProps(packet.will.properties))
    }
  }, { fastCheck: { numRuns: 500 } })

  it.prop(
    "SUBSCRIBE with options and v5 properties",
    [
      fc.constantFrom(3 as const, 4 as const, 5 as const),
      u16,
      fc.array(
        fc.record({ topic: text(30).filter((t) => t.length > 0), qos: fc.constantFrom(0 as const, 1 as const, 2 as const), nl: fc.boolean(), rap: fc.boolean(), rh: fc.constantFrom(0, 1, 2) }),
        { minLength: 1, maxLength: 5 }
      ),
      fc.record({ subscriptionIdentifier: subscriptionId, userProperties }, { requiredKeys: [] })
    ],
    ([version, messageId, subs, properties]) => {
      const subscriptions = version === 5 ? subs : subs.map(({ topic, qos }) => ({ topic, qos }))
      const packet = { cmd: "subscribe", messageId, subscriptions, ...(version === 5 ? { properties } : {}) } as mqttPacket.ISubscribePacket
      const got = control(decodePacket(gen(packet, version), version)).packet as mqttPacket.ISubscribePacket
      expect(got.messageId).toBe(messageId)
      expect(got.subscriptions.map((s) => (version === 5 ? [s.topic, s.qos, s.nl, s.rap, s.rh] : [s.topic, s.qos]))).toEqual(
        subs.map((s) => (version === 5 ? [s.topic, s.qos, s.nl, s.rap, s.rh] : [s.topic, s.qos]))
      )
      if (version === 5) expect(normProps(got.properties)).toEqual(normProps(properties))
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "UNSUBSCRIBE with v5 user properties",
    [versions, u16, fc.array(text(30).filter((t) => t.length > 0), { minLength: 1, maxLength: 5 }), fc.option(userProperties, { nil: undefined })],
    ([version, messageId, unsubscriptions, user]) => {
      const properties = version === 5 && user !== undefined ? { properties: { userProperties: user } } : {}
      const got = control(decodePacket(gen({ cmd: "unsubscribe", messageId, unsubscriptions, ...properties } as mqttPacket.IUnsubscribePacket, version), version))
        .packet as mqttPacket.IUnsubscribePacket
      expect([got.messageId, got.unsubscriptions]).toEqual([messageId, unsubscriptions])
      if (version === 5) expect(normProps(got.properties)).toEqual(normProps(properties.properties))
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "v5 DISCONNECT and AUTH with every property they allow",
    [
      fc.constantFrom(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x8b, 0x8e, 0x8f, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a),
      fc.record({ sessionExpiryInterval: u32, reasonString: text(20), userProperties, serverReference: text(20) }, { requiredKeys: [] }),
      fc.constantFrom(0x00, 0x18, 0x19),
      fc.record({ authenticationMethod: text(10), authenticationData: bytes(20), reasonString: text(20), userProperties }, { requiredKeys: ["authenticationMethod"] })
    ],
    ([dReason, dProps, aReason, aProps]) => {
      const d = control(decodePacket(gen({ cmd: "disconnect", reasonCode: dReason, properties: dProps } as mqttPacket.IDisconnectPacket, 5), 5))
        .packet as mqttPacket.IDisconnectPacket
      expect([d.reasonCode ?? 0, normProps(d.properties)]).toEqual([dReason, normProps(dProps)])
      const a = control(decodePacket(gen({ cmd: "auth", reasonCode: aReason, properties: aProps } as mqttPacket.IAuthPacket, 5), 5)).packet as mqttPacket.IAuthPacket
      expect([a.reasonCode ?? 0, normProps(a.properties)]).toEqual([aReason, normProps(aProps)])
    },
    { fastCheck: { numRuns: 300 } }
  )
})

/** CONNECT properties as raw bytes: id and a valid value, so a repeat is the only fault. */
const CONNECT_PROPERTY_BYTES: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
  ["Session Expiry Interval", [0x11, 0, 0, 0, 5]],
  ["Receive Maximum", [0x21, 0, 9]],
  ["Maximum Packet Size", [0x27, 0, 1, 0, 0]],
  ["Topic Alias Maximum", [0x22, 0, 3]],
  ["Request Response Information", [0x19, 1]],
  ["Request Problem Information", [0x17, 0]],
  ["Authentication Method", [0x15, 0, 1, 0x61]],
  ["Authentication Data", [0x16, 0, 1, 0x01]]
]

const connectWith = (props: ReadonlyArray<number>): Buffer => {
  const body = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 0]),
    Buffer.from([props.length, ...props]),
    Buffer.from([0, 1, 0x63])
  ])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

describe("v5 properties that may appear once", () => {
  it.prop(
    "a CONNECT repeating any of them, anywhere among the others, is a Protocol Error (0x82)",
    [fc.nat({ max: CONNECT_PROPERTY_BYTES.length - 1 }), fc.shuffledSubarray([...CONNECT_PROPERTY_BYTES.keys()]), fc.nat()],
    ([twice, others, at]) => {
      const list = others.filter((i) => i !== twice).map((i) => CONNECT_PROPERTY_BYTES[i]![1])
      const repeated = CONNECT_PROPERTY_BYTES[twice]![1]
      list.splice(at % (list.length + 1), 0, repeated)
      list.splice(at % (list.length + 1), 0, repeated)
      const d = decodePacket(connectWith(list.flat()), 4)
      expect(d).toBeInstanceOf(MqttDecodeError)
      expect((d as MqttDecodeError).reasonCode).toBe(0x82)
      // Once each, the same CONNECT is fine.
      const once = others.map((i) => CONNECT_PROPERTY_BYTES[i]![1]).flat()
      expect(decodePacket(connectWith(once), 4)).not.toBeInstanceOf(MqttDecodeError)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it("a SUBSCRIBE with two Subscription Identifiers is a Protocol Error; a property UNSUBSCRIBE does not allow is malformed", () => {
    const sub = Buffer.from([0x82, 11, 0, 1, 4, 0x0b, 1, 0x0b, 2, 0, 1, 0x61, 0])
    expect((decodePacket(sub, 5) as MqttDecodeError).reasonCode).toBe(0x82)
    const unsub = Buffer.from([0xa2, 8, 0, 1, 2, 0x0b, 1, 0, 1, 0x61])
    expect((decodePacket(unsub, 5) as MqttDecodeError).reasonCode).toBe(0x81)
  })
})

describe("arbitrary byte streams through FrameReader and decodePacket", () => {
  const MAX = 2048
  /** Cuts `stream` at the given points and feeds the pieces; every frame is decoded at once. */
  const run = (stream: Buffer, cuts: ReadonlyArray<number>, version: ProtocolVersion) => {
    const reader = new FrameReader(MAX)
    let frames = 0
    let rc = 0
    const sink = {
      onFrame: (frame: Buffer) => {
        frames++
        expect(frame.length).toBeLessThanOrEqual(MAX)
        const d = decodePacket(frame, version)
        return !(d instanceof MqttDecodeError)
      }
    }
    const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
    let from = 0
    for (const to of [...points, stream.length]) {
      if (rc !== 0) break
      rc = reader.feed(stream.subarray(from, to), sink, 1)
      from = to
    }
    expect([0, 0x81, 0x95]).toContain(rc)
    return frames
  }

  it.prop("never throw and never yield a frame over the maximum", [fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 8 }), versions], ([raw, cuts, version]) => {
    run(Buffer.from(raw), cuts, version)
  }, { fastCheck: { numRuns: 1000 } })

  it.prop(
    "valid packets with bytes overwritten, cut anywhere, never throw",
    [
      fc.array(fc.constantFrom(
        gen({ cmd: "subscribe", messageId: 3, subscriptions: [{ topic: "a/#", qos: 1, nl: true, rap: false, rh: 1 }], properties: { subscriptionIdentifier: 7, userProperties: { k: "v" } } }, 5),
        gen({ cmd: "unsubscribe", messageId: 4, unsubscriptions: ["a/#", "b"] , properties: { userProperties: { k: "v" } } }, 5),
        gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clientId: "c", clean: true, keepalive: 30, will: { topic: "w", payload: Buffer.from("x"), qos: 1, retain: false, properties: { willDelayInterval: 5, contentType: "t" } }, properties: { sessionExpiryInterval: 60, receiveMaximum: 10 } }, 5),
        gen({ cmd: "publish", topic: "t/1", payload: Buffer.from("hello"), qos: 2, messageId: 9, retain: false, dup: false, properties: { messageExpiryInterval: 4, userProperties: { a: "b" } } }, 5),
        gen({ cmd: "disconnect", reasonCode: 0x04, properties: { sessionExpiryInterval: 1, reasonString: "r" } }, 5),
        gen({ cmd: "auth", reasonCode: 0x18, properties: { authenticationMethod: "m", authenticationData: Buffer.from([1]) } }, 5),
        gen({ cmd: "pubrel", messageId: 9, reasonCode: 0x92, properties: { reasonString: "x" } }, 5)
      ), { minLength: 1, maxLength: 6 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 })
    ],
    ([packets, edits, cuts]) => {
      const stream = Buffer.concat(packets)
      for (const [at, byte] of edits) stream[at % stream.length] = byte
      run(stream, cuts, 5)
    },
    { fastCheck: { numRuns: 1000 } }
  )
})
