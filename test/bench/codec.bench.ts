/**
 * The MQTT codec's hot path against mqtt-packet: decoding a QoS 1 PUBLISH with a 64-byte payload
 * (the load suite's message, ../shared/bench), framing a chunk of 100 of them, and encoding one.
 * Run: npx vitest bench --run test/bench/codec.bench.ts
 */
import * as mqttPacket from "mqtt-packet"
import { bench, describe } from "vitest"
import { decodePacket } from "../../src/mqtt/codec/decode.js"
import { encodeAck, encodePublish, encodePublishProperties } from "../../src/mqtt/codec/encode.js"
import { FrameReader, type FrameSink } from "../../src/mqtt/codec/FrameReader.js"
import type { ProtocolVersion } from "../../src/mqtt/codec/packets.js"

const topic = "bench/topic/0001"
const payload = Buffer.alloc(64, 0x61)
const packet = (version: ProtocolVersion): mqttPacket.IPublishPacket => ({
  cmd: "publish",
  topic,
  payload,
  qos: 1,
  messageId: 4242,
  retain: false,
  dup: false,
  ...(version === 5 ? { properties: { userProperties: { app: "bench" } } } : {})
})
const frame4 = mqttPacket.generate(packet(4), { protocolVersion: 4 })
const frame5 = mqttPacket.generate(packet(5), { protocolVersion: 5 })
const chunk100 = Buffer.concat(Array.from({ length: 100 }, () => frame4))
// 10,000 distinct frames round robin: frames spread over memory, as from many publishers.
const distinct = Array.from({ length: 10_000 }, (_, i) =>
  mqttPacket.generate({ ...packet(4), topic: `bench/topic/${String(i).padStart(4, "0")}` }, { protocolVersion: 4 }))
let next = 0

/** Results go somewhere observable so nothing is optimised away. */
let sinkCount = 0

const refParser = (version: ProtocolVersion) => {
  const p = mqttPacket.parser({ protocolVersion: version })
  p.on("packet", (pk) => {
    if (pk.cmd === "publish") sinkCount++
  })
  return p
}
const ref4 = refParser(4)
const ref5 = refParser(5)
const ref100 = refParser(4)

const decodeSink: FrameSink = {
  onFrame(frame) {
    const d = decodePacket(frame, 4)
    if (d.cmd === 3) sinkCount++
    return true
  }
}
const reader = new FrameReader(1 << 20)

describe(`decode QoS 1 PUBLISH, 64-byte payload (v4 frame ${frame4.length} B)`, () => {
  bench("ours: decodePacket v4", () => {
    const d = decodePacket(frame4, 4)
    if (d.cmd === 3) sinkCount++
  })
  bench("mqtt-packet: streaming parser v4", () => {
    ref4.parse(frame4)
  })
  bench("ours: decodePacket v4, 10,000 distinct topics round robin", () => {
    const d = decodePacket(distinct[next]!, 4)
    next = next === 9_999 ? 0 : next + 1
    if (d.cmd === 3) sinkCount++
  })
  bench("mqtt-packet: streaming parser v4, 10,000 distinct topics", () => {
    ref4.parse(distinct[next]!)
    next = next === 9_999 ? 0 : next + 1
  })
})

describe(`decode QoS 1 PUBLISH, 64-byte payload, one user property (v5 frame ${frame5.length} B)`, () => {
  bench("ours: decodePacket v5", () => {
    const d = decodePacket(frame5, 5)
    if (d.cmd === 3) sinkCount++
  })
  bench("mqtt-packet: streaming parser v5", () => {
    ref5.parse(frame5)
  })
})

describe("frame + decode one chunk of 100 QoS 1 PUBLISH (v4)", () => {
  bench("ours: FrameReader + decodePacket", () => {
    reader.feed(chunk100, decodeSink)
  })
  bench("mqtt-packet: streaming parser", () => {
    ref100.parse(chunk100)
  })
})

const block5 = encodePublishProperties(null, [7])
describe("encode QoS 1 PUBLISH, 64-byte payload", () => {
  bench("ours: encodePublish v4", () => {
    sinkCount += encodePublish(4, topic, payload, 1, false, false, 4242, null).length
  })
  bench("mqtt-packet: generate v4", () => {
    sinkCount += mqttPacket.generate(packet(4), { protocolVersion: 4 }).length
  })
  bench("ours: encodePublish v5 + subscription id", () => {
    sinkCount += encodePublish(5, topic, payload, 1, false, false, 4242, block5).length
  })
  bench("mqtt-packet: generate v5 + subscription id", () => {
    sinkCount += mqttPacket.generate({ ...packet(4), properties: { subscriptionIdentifier: 7 } }, { protocolVersion: 5 }).length
  })
})

describe("encode PUBACK", () => {
  bench("ours: encodeAck v4", () => {
    sinkCount += encodeAck(4, 4242, 4, 0).length
  })
  bench("mqtt-packet: generate v4", () => {
    sinkCount += mqttPacket.generate({ cmd: "puback", messageId: 4242 }, { protocolVersion: 4 }).length
  })
})

describe("sink", () => {
  bench("keep results observable", () => {
    if (sinkCount < 0) throw new Error("unreachable")
  }, { iterations: 1, time: 0 })
})
