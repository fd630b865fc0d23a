import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as mqttPacket from "mqtt-packet"
import { decodePacket } from "../../src/mqtt/codec/decode.js"
import {
  encodeAck,
  encodeControl,
  encodePublish,
  encodePublishProperties,
  PINGRESP,
  publishPacketIdOffset,
  setDup
} from "../../src/mqtt/codec/encode.js"
import {
  MqttDecodeError,
  type ProtocolVersion,
  type PublishPacket,
  PublishProps,
  type PublishProperties
} from "../../src/mqtt/codec/packets.js"
import { normRefAck, normRefPublish, publishPacket, refParse, text } from "./fixtures.js"

const gen = (packet: mqttPacket.Packet, version: ProtocolVersion) => mqttPacket.generate(packet, { protocolVersion: version })

const ref = (frame: Buffer, version: ProtocolVersion): mqttPacket.Packet => {
  const r = refParse(frame, version)
  if ("error" in r) throw new Error(`mqtt-packet refused ${frame.toString("hex")}: ${r.error}`)
  return r.packet
}

const props = (fields: Partial<PublishProperties>): PublishProperties => Object.assign(new PublishProps(), fields)

/** Encodes an mqtt-packet PUBLISH with our encoder (properties in mqtt-packet's object form). */
const encodeLikeRef = (p: mqttPacket.IPublishPacket, version: ProtocolVersion): Buffer => {
  let block: Buffer | null = null
  if (version === 5 && p.properties !== undefined) {
    const r = p.properties
    const pairs: Array<readonly [string, string]> = []
    for (const [k, v] of Object.entries(r.userProperties ?? {})) {
      for (const x of Array.isArray(v) ? v : [v]) pairs.push([k, x])
    }
    const ids = r.subscriptionIdentifier
    block = encodePublishProperties(
      props({
        payloadFormatIndicator: r.payloadFormatIndicator === undefined ? undefined : r.payloadFormatIndicator ? 1 : 0,
        messageExpiryInterval: r.messageExpiryInterval,
        topicAlias: r.topicAlias,
        responseTopic: r.responseTopic,
        correlationData: r.correlationData,
        userProperties: r.userProperties === undefined ? undefined : pairs,
        contentType: r.contentType
      }),
      ids === undefined ? null : Array.isArray(ids) ? ids : [ids]
    )
  }
  return encodePublish(version, p.topic, p.payload as Buffer, p.qos, p.retain, p.dup, p.messageId ?? 0, block)
}

describe("encodePublish", () => {
  for (const version of [3, 4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      it(`v${version} qos ${qos}: byte-identical to mqtt-packet, with string and Buffer topics`, () => {
        for (const [retain, dup] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          if (qos === 0 && dup) continue
          const packet: mqttPacket.IPublishPacket = {
            cmd: "publish", topic: "sensors/ü/temp", payload: Buffer.from("21.5"), qos, retain, dup, ...(qos > 0 ? { messageId: 4242 } : {})
          }
          const expected = gen(packet, version)
          expect(encodePublish(version, packet.topic, packet.payload as Buffer, qos, retain, dup, 4242, null)).toEqual(expected)
          expect(encodePublish(version, Buffer.from(packet.topic), packet.payload as Buffer, qos, retain, dup, 4242, null)).toEqual(expected)
        }
      })
    }
  }

  it("remaining lengths of 1 to 4 bytes", () => {
    for (const size of [0, 100, 200, 16_380, 20_000, 2_097_200]) {
      const payload = Buffer.alloc(size, 0x5a)
      for (const version of [4, 5] as const) {
        const frame = encodePublish(version, "t", payload, 1, false, false, 1, null)
        const expected = gen({ cmd: "publish", topic: "t", payload, qos: 1, messageId: 1, retain: false, dup: false }, version)
        expect(frame.equals(expected)).toBe(true) // toEqual walks big Buffers element by element
      }
    }
  })

  it("v5 with all properties and subscription identifiers parses back in mqtt-packet", () => {
    const p = props({
      payloadFormatIndicator: 1,
      messageExpiryInterval: 3600,
      topicAlias: 7,
      responseTopic: "reply/π",
      correlationData: Buffer.from([9, 8, 7]),
      userProperties: [["a", "1"], ["b", "2"], ["a", "3"]],
      contentType: "text/plain",
      subscriptionIdentifiers: [999] // ignored: the argument supplies the receiver's ids
    })
    const block = encodePublishProperties(p, [1, 200, 300_000])
    const frame = encodePublish(5, "x/y", Buffer.from("payload"), 2, true, false, 77, block)
    const parsed = ref(frame, 5) as mqttPacket.IPublishPacket
    expect(normRefPublish(parsed)).toEqual({
      cmd: "publish", topic: "x/y", qos: 2, dup: false, retain: true, messageId: 77,
      payload: Buffer.from("payload").toString("hex"),
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 3600,
        topicAlias: 7,
        responseTopic: "reply/π",
        correlationData: "090807",
        userProperties: { a: ["1", "3"], b: "2" },
        subscriptionIdentifier: [1, 200, 300_000],
        contentType: "text/plain"
      }
    })
    // And our decoder gives back exactly what went in, user property order included.
    const ours = decodePacket(frame, 5) as PublishPacket
    expect(ours.properties).toEqual({ ...p, subscriptionIdentifiers: [1, 200, 300_000] })
  })

  it("encodePublishProperties: null when there is nothing to send; subscription ids alone", () => {
    expect(encodePublishProperties(null, null)).toBeNull()
    expect(encodePublishProperties(new PublishProps(), null)).toBeNull()
    expect(encodePublishProperties(new PublishProps(), [])).toBeNull()
    expect(encodePublishProperties(null, [5])).toEqual(Buffer.from([0x0b, 5]))
    expect(encodePublishProperties(null, [128])).toEqual(Buffer.from([0x0b, 0x80, 0x01]))
    const frame = encodePublish(5, "t", Buffer.from("p"), 0, false, false, 0, encodePublishProperties(null, [268_435_455]))
    expect((ref(frame, 5) as mqttPacket.IPublishPacket).properties).toEqual({ subscriptionIdentifier: 268_435_455 })
  })

  it("v5 with no properties writes property length 0", () => {
    const frame = encodePublish(5, "t", Buffer.from("p"), 0, false, false, 0, null)
    expect([...frame]).toEqual([0x30, 5, 0, 1, 0x74, 0, 0x70])
  })

  for (const version of [4, 5] as const) {
    it.prop(`v${version}: random publishes encode to what mqtt-packet parses back, and we decode identically`, [publishPacket(version)], ([packet]) => {
      const frame = encodeLikeRef(packet, version)
      const parsed = ref(frame, version) as mqttPacket.IPublishPacket
      const expected = normRefPublish(ref(gen(packet, version), version) as mqttPacket.IPublishPacket)
      expect(normRefPublish(parsed)).toEqual(expected)
      const ours = decodePacket(frame, version)
      expect(ours).not.toBeInstanceOf(MqttDecodeError)
      // Re-encoding our decoded packet reproduces the frame byte for byte.
      const d = ours as PublishPacket
      const again = encodePublish(version, d.topic, d.payload, d.qos, d.retain, d.dup, d.packetId, version === 5 ? encodePublishProperties(d.properties, d.properties?.subscriptionIdentifiers ?? null) : null)
      expect(again.toString("hex")).toBe(frame.toString("hex"))
    }, { fastCheck: { numRuns: 300 } })
  }
})

describe("packet id patching and DUP", () => {
  it.prop("publishPacketIdOffset finds the packet id for any topic and size", [text(40), fc.integer({ min: 0, max: 20_000 }), fc.constantFrom(1, 2), fc.constantFrom(4 as const, 5 as const), fc.integer({ min: 1, max: 0xffff })], ([topic, size, qos, version, id]) => {
    const shared = encodePublish(version, topic, Buffer.alloc(size, 1), qos, false, false, 0, version === 5 ? encodePublishProperties(null, [3]) : null)
    const off = publishPacketIdOffset(shared)
    // Copy the prefix up to and including the packet id; share the tail.
    const prefix = Buffer.from(shared.subarray(0, off + 2))
    prefix.writeUInt16BE(id, off)
    const frame = Buffer.concat([prefix, shared.subarray(off + 2)])
    const parsed = ref(frame, version) as mqttPacket.IPublishPacket
    expect(parsed.messageId).toBe(id)
    expect(parsed.topic).toBe(topic)
    expect(parsed.payload.length).toBe(size)
    expect(shared.readUInt16BE(off)).toBe(0) // the shared frame is untouched
  }, { fastCheck: { numRuns: 200 } })

  it("publishPacketIdOffset is -1 for QoS 0", () => {
    expect(publishPacketIdOffset(encodePublish(4, "t", Buffer.alloc(3), 0, false, false, 0, null))).toBe(-1)
  })

  it("setDup sets only the DUP flag", () => {
    const frame = encodePublish(4, "t", Buffer.from("x"), 1, true, false, 5, null)
    setDup(frame)
    expect(ref(frame, 4)).toMatchObject({ dup: true, retain: true, qos: 1, messageId: 5, topic: "t" })
  })
})

describe("encodeAck", () => {
  const cmds = [[4, "puback"], [5, "pubrec"], [6, "pubrel"], [7, "pubcomp"]] as const
  for (const [cmd, name] of cmds) {
    it(`${name} v3/v4 is byte-identical to mqtt-packet`, () => {
      for (const version of [3, 4] as const) {
        expect(encodeAck(cmd, 0x1234, version, 0)).toEqual(gen({ cmd: name, messageId: 0x1234 } as mqttPacket.Packet, version))
        // v3/v4 have no reason codes: a failure code is simply not sent.
        expect(encodeAck(cmd, 1, version, 0x80, "ignored").length).toBe(4)
      }
    })

    it(`${name} v5: success omits the reason code (4 bytes, as mqtt-packet)`, () => {
      const frame = encodeAck(cmd, 9, 5, 0)
      expect(frame).toEqual(gen({ cmd: name, messageId: 9, reasonCode: 0 } as mqttPacket.Packet, 5))
    })

    const code = cmd <= 5 ? 0x87 : 0x92
    it(`${name} v5: reason code, with and without a reason string, parse in mqtt-packet`, () => {
      const short = encodeAck(cmd, 9, 5, code)
      expect(short.length).toBe(5) // no property length (§3.4.2.2.1)
      expect(normRefAck(ref(short, 5) as mqttPacket.IPubackPacket)).toEqual({ cmd: name, messageId: 9, reasonCode: code })
      const withString = encodeAck(cmd, 9, 5, code, "not allowed: ü")
      expect(normRefAck(ref(withString, 5) as mqttPacket.IPubackPacket)).toEqual({ cmd: name, messageId: 9, reasonCode: code, properties: { reasonString: "not allowed: ü" } })
      const success = encodeAck(cmd, 9, 5, 0, "fine")
      expect(normRefAck(ref(success, 5) as mqttPacket.IPubackPacket)).toEqual({ cmd: name, messageId: 9, reasonCode: 0, properties: { reasonString: "fine" } })
      // Long reason string: 2-byte property and remaining lengths.
      const long = "x".repeat(300)
      expect(normRefAck(ref(encodeAck(cmd, 9, 5, code, long), 5) as mqttPacket.IPubackPacket)).toMatchObject({ properties: { reasonString: long } })
      // And our own decoder agrees.
      expect(decodePacket(withString, 5)).toEqual({ cmd, packetId: 9, reasonCode: code, reasonString: "not allowed: ü", userProperties: undefined })
    })
  }
})

describe("PINGRESP and encodeControl", () => {
  it("PINGRESP", () => {
    expect(ref(PINGRESP, 4)).toMatchObject({ cmd: "pingresp" })
    expect(decodePacket(PINGRESP, 5)).toEqual({ cmd: 13 })
  })

  it("CONNACK, SUBACK, UNSUBACK, DISCONNECT, AUTH round-trip through mqtt-packet", () => {
    const cases: Array<[mqttPacket.Packet, ProtocolVersion]> = [
      [{ cmd: "connack", sessionPresent: true, returnCode: 0 }, 4],
      [{ cmd: "connack", sessionPresent: false, reasonCode: 0x87, properties: { reasonString: "no", topicAliasMaximum: 10 } }, 5],
      [{ cmd: "suback", messageId: 3, granted: [0, 1, 0x80] }, 4],
      [{ cmd: "suback", messageId: 3, granted: [2, 0x87], properties: { reasonString: "r" } }, 5],
      [{ cmd: "unsuback", messageId: 4, granted: [] }, 4],
      [{ cmd: "unsuback", messageId: 4, granted: [0, 0x11] }, 5],
      [{ cmd: "disconnect", reasonCode: 0x8e, properties: { reasonString: "taken over" } }, 5],
      [{ cmd: "auth", reasonCode: 0x18, properties: { authenticationMethod: "m" } }, 5]
    ]
    for (const [packet, version] of cases) {
      const frame = encodeControl(packet, version)
      // A v3/v4 UNSUBACK carries no codes: mqtt-packet leaves `granted` out when parsing it.
      const { granted, ...rest } = packet as mqttPacket.IUnsubackPacket
      const expected = packet.cmd === "unsuback" && version < 5 ? rest : packet
      expect(ref(frame, version)).toMatchObject(expected as object)
    }
  })
})
