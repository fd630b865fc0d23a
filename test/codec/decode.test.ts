import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as mqttPacket from "mqtt-packet"
import { decodePacket } from "../../src/mqtt/codec/decode.js"
import {
  type AckPacket,
  Cmd,
  MqttDecodeError,
  type ProtocolVersion,
  type PublishPacket
} from "../../src/mqtt/codec/packets.js"
import {
  normOurAck,
  normOurPublish,
  normRefAck,
  normRefPublish,
  publishPacket,
  refParse
} from "./fixtures.js"

const gen = (packet: mqttPacket.Packet, version: ProtocolVersion) => mqttPacket.generate(packet, { protocolVersion: version })

const asPublish = (d: ReturnType<typeof decodePacket>): PublishPacket => {
  if (d instanceof MqttDecodeError) throw new Error(`decode error 0x${d.reasonCode.toString(16)}: ${d.message}`)
  expect(d.cmd).toBe(Cmd.PUBLISH)
  return d as PublishPacket
}

const asAck = (d: ReturnType<typeof decodePacket>): AckPacket => {
  if (d instanceof MqttDecodeError) throw new Error(`decode error 0x${d.reasonCode.toString(16)}: ${d.message}`)
  expect([4, 5, 6, 7]).toContain(d.cmd)
  return d as AckPacket
}

const errorOf = (d: ReturnType<typeof decodePacket>): number => {
  expect(d).toBeInstanceOf(MqttDecodeError)
  return (d as MqttDecodeError).reasonCode
}

/** Decodes with ours and with mqtt-packet and checks they agree field by field. */
const agreePublish = (frame: Buffer, version: ProtocolVersion) => {
  const ours = asPublish(decodePacket(frame, version))
  const ref = refParse(frame, version)
  if ("error" in ref) throw new Error(`mqtt-packet refused: ${ref.error}`)
  expect(normOurPublish(ours)).toEqual(normRefPublish(ref.packet as mqttPacket.IPublishPacket))
  return ours
}

const agreeAck = (frame: Buffer, version: ProtocolVersion) => {
  const ours = asAck(decodePacket(frame, version))
  const ref = refParse(frame, version)
  if ("error" in ref) throw new Error(`mqtt-packet refused: ${ref.error}`)
  expect(normOurAck(ours)).toEqual(normRefAck(ref.packet as mqttPacket.IPubackPacket))
  return ours
}

const allProperties = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 4_000_000_000,
  topicAlias: 300,
  responseTopic: "reply/to/ü",
  correlationData: Buffer.from([1, 2, 3, 0, 255]),
  userProperties: { a: "1", b: ["2", "3"], "ключ": "значение" },
  subscriptionIdentifier: [1, 128, 16_384, 268_435_455],
  contentType: "application/json"
}

describe("decodePacket: PUBLISH agrees with mqtt-packet", () => {
  for (const version of [3, 4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      for (const retain of [false, true]) {
        for (const dup of qos === 0 ? [false] : [false, true]) {
          it(`v${version} qos ${qos} retain ${retain} dup ${dup}`, () => {
            const frame = gen(
              { cmd: "publish", topic: "a/b/c", payload: Buffer.from("hello"), qos, retain, dup, messageId: 42 },
              version
            )
            const p = agreePublish(frame, version)
            expect(p).toMatchObject({ cmd: 3, qos, retain, dup, topic: "a/b/c", packetId: qos > 0 ? 42 : 0 })
            expect(p.properties).toBeNull()
          })
        }
      }
    }
  }

  it("empty payload, v4 and v5", () => {
    for (const version of [4, 5] as const) {
      const p = agreePublish(gen({ cmd: "publish", topic: "t", payload: Buffer.alloc(0), qos: 1, messageId: 1, retain: false, dup: false }, version), version)
      expect(p.payload.length).toBe(0)
    }
  })

  it("payload is a view of the frame, not a copy", () => {
    const frame = gen({ cmd: "publish", topic: "t", payload: Buffer.from("abc"), qos: 0, retain: false, dup: false }, 4)
    const p = asPublish(decodePacket(frame, 4))
    expect(p.payload.buffer).toBe(frame.buffer)
    expect(p.payload.byteOffset).toBe(frame.byteOffset + frame.length - 3)
  })

  it("multi-byte UTF-8 topics", () => {
    for (const topic of ["ü/ö/ä", "日本/語", "emoji/😀/x", "mixed/ascii/π"]) {
      for (const version of [4, 5] as const) {
        const p = agreePublish(gen({ cmd: "publish", topic, payload: Buffer.from("x"), qos: 1, messageId: 9, retain: false, dup: false }, version), version)
        expect(p.topic).toBe(topic)
      }
    }
  })

  it("large payload (3-byte remaining length)", () => {
    agreePublish(gen({ cmd: "publish", topic: "big", payload: Buffer.alloc(70_000, 7), qos: 2, messageId: 65535, retain: true, dup: true }, 5), 5)
  })

  it("v5: all PUBLISH properties", () => {
    const frame = gen({ cmd: "publish", topic: "t/1", payload: Buffer.from("p"), qos: 1, messageId: 3, retain: false, dup: false, properties: allProperties }, 5)
    const p = agreePublish(frame, 5)
    expect(p.properties).toEqual({
      payloadFormatIndicator: 1,
      messageExpiryInterval: 4_000_000_000,
      topicAlias: 300,
      responseTopic: "reply/to/ü",
      correlationData: Buffer.from([1, 2, 3, 0, 255]),
      userProperties: [["a", "1"], ["b", "2"], ["b", "3"], ["ключ", "значение"]],
      subscriptionIdentifiers: [1, 128, 16_384, 268_435_455],
      contentType: "application/json"
    })
  })

  it("v5: user properties keep wire order, interleaved duplicates included [MQTT-3.3.2-18]", () => {
    const up = (k: string, v: string) => [0x26, 0, k.length, ...Buffer.from(k), 0, v.length, ...Buffer.from(v)]
    const props = [...up("k", "1"), ...up("j", "2"), ...up("k", "3")]
    const body = [0, 1, 0x74, ...[props.length], ...props, 0x70]
    const frame = Buffer.from([0x30, body.length, ...body])
    const p = asPublish(decodePacket(frame, 5))
    expect(p.properties?.userProperties).toEqual([["k", "1"], ["j", "2"], ["k", "3"]])
    expect(p.payload.toString()).toBe("p")
  })

  it("v5: topic alias with an empty topic decodes (the broker resolves it)", () => {
    const p = agreePublish(gen({ cmd: "publish", topic: "", payload: Buffer.from("x"), qos: 0, retain: false, dup: false, properties: { topicAlias: 5 } }, 5), 5)
    expect(p.topic).toBe("")
    expect(p.properties?.topicAlias).toBe(5)
  })

  it("v5: property length 0 gives null properties", () => {
    const p = agreePublish(gen({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false }, 5), 5)
    expect(p.properties).toBeNull()
  })

  it("many distinct ASCII topics, decoded in varying orders", () => {
    const topics = Array.from({ length: 5000 }, (_, i) => `dev/${i % 97}/${i}/${"x".repeat(i % 90)}`)
    const frames = topics.map((topic) => gen({ cmd: "publish", topic, payload: Buffer.alloc(1), qos: 0, retain: false, dup: false }, 4))
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < frames.length; i++) {
        const j = round === 1 ? frames.length - 1 - i : (i * 7919) % frames.length
        expect(asPublish(decodePacket(frames[j]!, 4)).topic).toBe(topics[j])
      }
    }
    // Same length, differing in one byte only.
    for (const topic of ["a/b", "a/c", "a/b", "b/b", "a/b"]) {
      expect(asPublish(decodePacket(gen({ cmd: "publish", topic, payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }, 4), 4)).topic).toBe(topic)
    }
  })

  it("every PUBLISH has the same field order (one hidden class)", () => {
    const a = asPublish(decodePacket(gen({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false }, 4), 4))
    const b = asPublish(decodePacket(gen({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 1, messageId: 1, retain: false, dup: false, properties: allProperties }, 5), 5))
    expect(Object.keys(a)).toEqual(Object.keys(b))
    expect(Object.keys(a)).toEqual(["cmd", "qos", "dup", "retain", "topic", "packetId", "payload", "properties"])
  })

  for (const version of [4, 5] as const) {
    it.prop(`v${version}: random valid publishes decode as mqtt-packet decodes them`, [publishPacket(version)], ([packet]) => {
      agreePublish(gen(packet, version), version)
    }, { fastCheck: { numRuns: 500 } })
  }
})

describe("decodePacket: acks agree with mqtt-packet", () => {
  const acks = ["puback", "pubrec", "pubrel", "pubcomp"] as const
  for (const cmd of acks) {
    it(`${cmd} v3/v4`, () => {
      for (const version of [3, 4] as const) {
        const a = agreeAck(gen({ cmd, messageId: 513 } as mqttPacket.Packet, version), version)
        expect(a).toEqual({ cmd: Cmd[cmd.toUpperCase() as "PUBACK"], packetId: 513, reasonCode: 0, reasonString: undefined, userProperties: undefined })
      }
    })

    it(`${cmd} v5: success, omitted reason code (remaining length 2, §3.4.2.1)`, () => {
      const frame = gen({ cmd, messageId: 7, reasonCode: 0 } as mqttPacket.Packet, 5)
      expect(frame.length).toBe(4)
      expect(agreeAck(frame, 5).reasonCode).toBe(0)
    })

    const code = cmd === "puback" || cmd === "pubrec" ? 0x10 : 0x92
    it(`${cmd} v5: reason code without properties (remaining length 4, and 3)`, () => {
      const frame = gen({ cmd, messageId: 7, reasonCode: code } as mqttPacket.Packet, 5)
      expect(agreeAck(frame, 5).reasonCode).toBe(code)
      // Remaining length 3: reason code, no property length (§3.4.2.2.1).
      const short = Buffer.from([frame[0]!, 3, 0, 7, code])
      expect(agreeAck(short, 5)).toMatchObject({ packetId: 7, reasonCode: code })
    })

    it(`${cmd} v5: reason string and user properties`, () => {
      const frame = gen({ cmd, messageId: 65535, reasonCode: code, properties: { reasonString: "nope, ü", userProperties: { x: ["1", "2"], y: "3" } } } as mqttPacket.Packet, 5)
      const a = agreeAck(frame, 5)
      expect(a.reasonString).toBe("nope, ü")
      expect(a.userProperties).toEqual([["x", "1"], ["x", "2"], ["y", "3"]])
    })
  }
})

describe("decodePacket: PINGREQ, PINGRESP, DISCONNECT", () => {
  it("PINGREQ and PINGRESP are shared constants", () => {
    expect(decodePacket(Buffer.from([0xc0, 0]), 4)).toEqual({ cmd: 12 })
    expect(decodePacket(Buffer.from([0xc0, 0]), 5)).toBe(decodePacket(Buffer.from([0xc0, 0]), 4))
    expect(decodePacket(Buffer.from([0xd0, 0]), 5)).toEqual({ cmd: 13 })
  })

  it("v3/v4 DISCONNECT is a SimplePacket", () => {
    expect(decodePacket(gen({ cmd: "disconnect" }, 4), 4)).toEqual({ cmd: 14 })
    expect(decodePacket(Buffer.from([0xe0, 0]), 3)).toEqual({ cmd: 14 })
  })

  it("v5 DISCONNECT goes to mqtt-packet, with reason code and properties", () => {
    const d = decodePacket(gen({ cmd: "disconnect", reasonCode: 0x04, properties: { sessionExpiryInterval: 60, reasonString: "bye" } }, 5), 5)
    if (!("packet" in d) || d.cmd !== 14) throw new Error("expected a ControlPacket")
    expect(d.packet.reasonCode).toBe(0x04)
    expect(d.packet.properties).toEqual({ sessionExpiryInterval: 60, reasonString: "bye" })
    const bare = decodePacket(Buffer.from([0xe0, 0]), 5)
    if (!("packet" in bare) || bare.cmd !== 14) throw new Error("expected a ControlPacket")
    expect(bare.packet.reasonCode).toBe(0)
  })
})

describe("decodePacket: control packets through the shared mqtt-packet parser", () => {
  it("CONNECT decodes whatever version the connection has so far", () => {
    const connect5 = gen({ cmd: "connect", clientId: "c1", protocolVersion: 5, keepalive: 30, clean: true, properties: { sessionExpiryInterval: 100, receiveMaximum: 10 } }, 5)
    const connect4 = gen({ cmd: "connect", clientId: "c2", protocolVersion: 4, keepalive: 10, clean: false, username: "u", password: Buffer.from("p") }, 4)
    for (const guess of [3, 4, 5] as const) {
      const a = decodePacket(connect5, guess)
      if (!("packet" in a) || a.cmd !== Cmd.CONNECT) throw new Error("expected CONNECT")
      expect(a.packet).toMatchObject({ clientId: "c1", protocolVersion: 5, keepalive: 30, properties: { sessionExpiryInterval: 100, receiveMaximum: 10 } })
      const b = decodePacket(connect4, guess)
      if (!("packet" in b) || b.cmd !== Cmd.CONNECT) throw new Error("expected CONNECT")
      expect(b.packet).toMatchObject({ clientId: "c2", protocolVersion: 4, username: "u", clean: false })
    }
  })

  it("a decoded CONNECT is not altered by later decodes (mqtt-packet keeps it as its settings)", () => {
    const c = decodePacket(gen({ cmd: "connect", clientId: "c", protocolVersion: 5 }, 5), 5)
    if (!("packet" in c) || c.cmd !== Cmd.CONNECT) throw new Error("expected CONNECT")
    const s = decodePacket(gen({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#", qos: 1 }] }, 4), 4)
    if (!("packet" in s) || s.cmd !== Cmd.SUBSCRIBE) throw new Error("expected SUBSCRIBE")
    expect(c.packet.protocolVersion).toBe(5)
    // Parsed as v4: no v5 subscription options.
    expect(s.packet.subscriptions).toEqual([{ topic: "a/#", qos: 1 }])
  })

  it("SUBSCRIBE and UNSUBSCRIBE, v4 and v5", () => {
    const s5 = decodePacket(gen({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "x/+", qos: 2, nl: true, rap: false, rh: 1 }], properties: { subscriptionIdentifier: 9 } }, 5), 5)
    if (!("packet" in s5) || s5.cmd !== Cmd.SUBSCRIBE) throw new Error("expected SUBSCRIBE")
    expect(s5.packet.messageId).toBe(2)
    expect(s5.packet.subscriptions).toEqual([{ topic: "x/+", qos: 2, nl: true, rap: false, rh: 1 }])
    expect(s5.packet.properties).toEqual({ subscriptionIdentifier: 9 })
    const u4 = decodePacket(gen({ cmd: "unsubscribe", messageId: 3, unsubscriptions: ["a", "b/#"] }, 4), 4)
    if (!("packet" in u4) || u4.cmd !== Cmd.UNSUBSCRIBE) throw new Error("expected UNSUBSCRIBE")
    expect(u4.packet.unsubscriptions).toEqual(["a", "b/#"])
  })

  it("AUTH in v5; AUTH in v4 is malformed", () => {
    const frame = gen({ cmd: "auth", reasonCode: 0x18, properties: { authenticationMethod: "SCRAM" } }, 5)
    const a = decodePacket(frame, 5)
    if (!("packet" in a) || a.cmd !== Cmd.AUTH) throw new Error("expected AUTH")
    expect(a.packet.properties?.authenticationMethod).toBe("SCRAM")
    expect(errorOf(decodePacket(frame, 4))).toBe(0x81)
  })

  it("the shared parser recovers after an error", () => {
    const good = gen({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a", qos: 0 }] }, 4)
    const badFlags = Buffer.from(good)
    badFlags[0] = 0x80 // SUBSCRIBE reserved flags must be 0010 [MQTT-3.8.1-1]
    expect(errorOf(decodePacket(badFlags, 4))).toBe(0x81)
    const truncated = Buffer.from([0x82, 3, 0, 1, 0]) // string length byte missing
    expect(errorOf(decodePacket(truncated, 4))).toBe(0x81)
    const ok = decodePacket(good, 4)
    expect("packet" in ok && ok.cmd === Cmd.SUBSCRIBE).toBe(true)
  })
})

describe("decodePacket: errors", () => {
  const pub = (version: ProtocolVersion, extra: Partial<mqttPacket.IPublishPacket> = {}) =>
    gen({ cmd: "publish", topic: "t/x", payload: Buffer.from("data"), qos: 1, messageId: 5, retain: false, dup: false, ...extra }, version)

  it("QoS 3 is malformed [MQTT-3.3.1-4]", () => {
    const f = pub(4)
    f[0] = f[0]! | 0x06
    expect(errorOf(decodePacket(f, 4))).toBe(0x81)
  })

  it("DUP on QoS 0 is malformed [MQTT-3.3.1-2]", () => {
    const f = pub(4, { qos: 0 })
    f[0] = f[0]! | 0x08
    expect(errorOf(decodePacket(f, 4))).toBe(0x81)
  })

  it("packet id 0 on a QoS 1 PUBLISH is a protocol error [MQTT-2.2.1-3]", () => {
    expect(errorOf(decodePacket(pub(4, { messageId: 0 }), 4))).toBe(0x82)
    expect(errorOf(decodePacket(pub(5, { qos: 2, messageId: 0 }), 5))).toBe(0x82)
  })

  it("reserved flag bits of acks, PINGREQ and DISCONNECT [MQTT-2.1.3-1] [MQTT-3.6.1-1]", () => {
    expect(errorOf(decodePacket(Buffer.from([0x41, 2, 0, 1]), 4))).toBe(0x81) // PUBACK
    expect(errorOf(decodePacket(Buffer.from([0x52, 2, 0, 1]), 4))).toBe(0x81) // PUBREC
    expect(errorOf(decodePacket(Buffer.from([0x60, 2, 0, 1]), 4))).toBe(0x81) // PUBREL must be 0010
    expect(errorOf(decodePacket(Buffer.from([0x63, 2, 0, 1]), 5))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0x78, 2, 0, 1]), 4))).toBe(0x81) // PUBCOMP
    expect(errorOf(decodePacket(Buffer.from([0xc1, 0]), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0xe2, 0]), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0xe2, 0]), 5))).toBe(0x81)
  })

  it("invalid UTF-8 in the topic is malformed [MQTT-1.5.4-1]", () => {
    for (const bad of [[0xc3, 0x28], [0xed, 0xa0, 0x80] /* surrogate */, [0xc0, 0x80] /* overlong NUL */, [0xff], [0xe2, 0x82]]) {
      const body = [0, bad.length, ...bad, 0x64]
      expect(errorOf(decodePacket(Buffer.from([0x30, body.length, ...body]), 4))).toBe(0x81)
    }
  })

  it("U+0000 in the topic is malformed [MQTT-1.5.4-2]", () => {
    expect(errorOf(decodePacket(pub(4, { topic: "a\u0000b" }), 4))).toBe(0x81)
    expect(errorOf(decodePacket(pub(5, { topic: "ü\u0000" }), 5))).toBe(0x81)
  })

  it("topic or packet id overrunning the packet is malformed", () => {
    expect(errorOf(decodePacket(Buffer.from([0x30, 3, 0, 5, 0x61]), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0x32, 3, 0, 1, 0x61]), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0x30, 1, 0]), 4))).toBe(0x81)
  })

  it("remaining length that does not match the frame is malformed", () => {
    const f = pub(4)
    expect(errorOf(decodePacket(f.subarray(0, f.length - 1), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.concat([f, Buffer.from([0])]), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0x30]), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0]), 4))).toBe(0x81)
  })

  it("v5: property length overrunning the packet is malformed", () => {
    // topic "t", packet id, property length 10, one byte of properties.
    expect(errorOf(decodePacket(Buffer.from([0x32, 7, 0, 1, 0x74, 0, 1, 10, 0x01]), 5))).toBe(0x81)
    // A string property whose length runs past the property block (into the payload).
    expect(errorOf(decodePacket(Buffer.from([0x30, 9, 0, 1, 0x74, 3, 0x08, 0, 3, 0x61, 0x62, 0x63]), 5))).toBe(0x81)
    // A 4-byte property cut short by the property length.
    expect(errorOf(decodePacket(Buffer.from([0x30, 9, 0, 1, 0x74, 3, 0x02, 0, 0, 0, 0, 0]), 5))).toBe(0x81)
  })

  it("v5: a duplicate single-valued property is a protocol error", () => {
    for (const prop of [[0x23, 0, 1], [0x01, 1], [0x02, 0, 0, 0, 1], [0x03, 0, 1, 0x61], [0x08, 0, 1, 0x61], [0x09, 0, 1, 7]]) {
      const props = [...prop, ...prop]
      const body = [0, 1, 0x74, props.length, ...props, 0x70]
      expect(errorOf(decodePacket(Buffer.from([0x30, body.length, ...body]), 5))).toBe(0x82)
    }
  })

  it("v5: a property not allowed in PUBLISH is malformed (§2.2.2.2)", () => {
    for (const prop of [[0x11, 0, 0, 0, 1] /* session expiry */, [0x1f, 0, 1, 0x61] /* reason string */, [0x00], [0x80, 0x01]]) {
      const body = [0, 1, 0x74, prop.length, ...prop]
      expect(errorOf(decodePacket(Buffer.from([0x30, body.length, ...body]), 5))).toBe(0x81)
    }
  })

  it("v5: subscription identifier 0 is a protocol error (§3.3.2.3.8)", () => {
    const body = [0, 1, 0x74, 2, 0x0b, 0]
    expect(errorOf(decodePacket(Buffer.from([0x30, body.length, ...body]), 5))).toBe(0x82)
  })

  it("v5: invalid UTF-8 or U+0000 in string properties is malformed", () => {
    for (const id of [0x03, 0x08]) {
      const body = [0, 1, 0x74, 5, id, 0, 2, 0xc3, 0x28]
      expect(errorOf(decodePacket(Buffer.from([0x30, body.length, ...body]), 5))).toBe(0x81)
    }
    const body = [0, 1, 0x74, 7, 0x26, 0, 1, 0x61, 0, 1, 0x00]
    expect(errorOf(decodePacket(Buffer.from([0x30, body.length, ...body]), 5))).toBe(0x81)
  })

  it("v3/v4 acks must have remaining length 2", () => {
    expect(errorOf(decodePacket(Buffer.from([0x40, 3, 0, 1, 0]), 4))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0x40, 1, 0]), 4))).toBe(0x81)
  })

  it("v5 acks: bad reason code, bad properties, packet id 0", () => {
    expect(errorOf(decodePacket(Buffer.from([0x40, 3, 0, 1, 0x92]), 5))).toBe(0x81) // 0x92 is not a PUBACK code
    expect(errorOf(decodePacket(Buffer.from([0x62, 3, 0, 1, 0x10]), 5))).toBe(0x81) // 0x10 is not a PUBREL code
    expect(errorOf(decodePacket(Buffer.from([0x40, 5, 0, 1, 0, 1, 0x1f]), 5))).toBe(0x81) // reason string cut short
    expect(errorOf(decodePacket(Buffer.from([0x40, 6, 0, 1, 0, 0, 0x1f, 0]), 5))).toBe(0x81) // bytes after the properties
    expect(errorOf(decodePacket(Buffer.from([0x40, 6, 0, 1, 0, 2, 0x23, 0, 1].slice(0, 8)), 5))).toBe(0x81)
    expect(errorOf(decodePacket(Buffer.from([0x40, 7, 0, 1, 0, 3, 0x02, 0, 1]), 5))).toBe(0x81) // property not allowed
    expect(errorOf(decodePacket(Buffer.from([0x40, 10, 0, 1, 0, 6, 0x1f, 0, 0, 0x1f, 0, 0]), 5))).toBe(0x82) // duplicate
    expect(errorOf(decodePacket(Buffer.from([0x40, 2, 0, 0]), 4))).toBe(0x82)
  })

  it("packet type 0 is malformed", () => {
    expect(errorOf(decodePacket(Buffer.from([0x00, 0]), 4))).toBe(0x81)
  })
})

describe("decodePacket: fuzz", () => {
  const versions = fc.constantFrom(3 as const, 4 as const, 5 as const)

  const checkNoThrowAndAgree = (frame: Buffer, version: ProtocolVersion) => {
    const d = decodePacket(frame, version)
    expect(typeof d).toBe("object")
    if (d instanceof MqttDecodeError) {
      expect([0x81, 0x82]).toContain(d.reasonCode)
      return
    }
    // Whatever the fast path accepts, mqtt-packet accepts identically (it may be the stricter one
    // of the two only where it is wrong to refuse; we never accept what it would refuse).
    if (d.cmd >= 3 && d.cmd <= 7) {
      const ref = refParse(frame, version)
      if ("error" in ref) throw new Error(`accepted ${frame.toString("hex")} (v${version}) but mqtt-packet refused: ${ref.error}`)
      if (d.cmd === 3) expect(normOurPublish(d as PublishPacket)).toEqual(normRefPublish(ref.packet as mqttPacket.IPublishPacket))
      else expect(normOurAck(d as AckPacket)).toEqual(normRefAck(ref.packet as mqttPacket.IPubackPacket))
    }
  }

  it.prop("random byte strings never throw", [fc.uint8Array({ maxLength: 64 }), versions], ([bytes, version]) => {
    checkNoThrowAndAgree(Buffer.from(bytes), version)
  }, { fastCheck: { numRuns: 3000 } })

  it.prop("random byte strings with a consistent fixed header never throw", [fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 100 }), versions], ([b0, body, version]) => {
    const len = body.length
    const header = len < 128 ? [b0, len] : [b0, (len & 0x7f) | 0x80, len >> 7]
    checkNoThrowAndAgree(Buffer.from([...header, ...body]), version)
  }, { fastCheck: { numRuns: 5000 } })

  const mutated = fc
    .tuple(
      fc.oneof(
        publishPacket(5).map((p) => gen(p, 5)),
        publishPacket(4).map((p) => gen(p, 4)),
        fc.constantFrom(
          gen({ cmd: "puback", messageId: 9, reasonCode: 0x10, properties: { reasonString: "r", userProperties: { a: "b" } } }, 5),
          gen({ cmd: "pubrel", messageId: 9, reasonCode: 0x92 }, 5),
          gen({ cmd: "connect", clientId: "c", protocolVersion: 5, properties: { sessionExpiryInterval: 1 }, will: { topic: "w", payload: Buffer.from("x"), qos: 1, retain: false } }, 5),
          gen({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#", qos: 1, nl: true, rap: true, rh: 0 }] }, 5),
          gen({ cmd: "disconnect", reasonCode: 0x8e, properties: { reasonString: "x" } }, 5)
        )
      ),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
      versions
    )
    .map(([frame, edits, version]) => {
      const f = Buffer.from(frame)
      // Keep the fixed header so the mutation reaches the body; mutate body bytes only.
      let hdr = 1
      while (f[hdr++]! & 0x80);
      for (const [i, v] of edits) if (f.length > hdr) f[hdr + (i % (f.length - hdr))] = v
      return [f, version] as const
    })

  it.prop("mutated valid packets never throw, and what we accept mqtt-packet decodes the same", [mutated], ([[frame, version]]) => {
    checkNoThrowAndAgree(frame, version)
  }, { fastCheck: { numRuns: 5000 } })
})
