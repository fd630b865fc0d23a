/**
 * Valid frames for the live fuzzer to mutate: MQTT packets of every type a client sends, per
 * protocol level, built with mqtt-packet; Kafka requests for every API and version we speak,
 * generated from the codec's schema tables (test/support/kafkaRequests.ts) with realistic names
 * and real record batches mixed in. Names never touch the bystanders' topics or groups.
 */
import { FastCheck as fc } from "effect"
import * as mqttPacket from "mqtt-packet"
import { compress, CompressionCodec } from "../../domain/message/compression.js"
import { BATCH_HEADER_SIZE, encodeBatch } from "../../domain/message/RecordBatch.js"
import { crc32c } from "@node-rs/crc32"
import { type ApiKey, encodeRequest } from "../../src/kafka/protocol/index.js"
import { requestArb } from "../support/kafkaRequests.js"
import type { Rng } from "./mutate.js"

export type MqttVersion = 3 | 4 | 5

const TOPICS = ["fz/a", "fz/b/c", "fz/+/c", "fz/#", "$share/g/fz/a", "#", "+", "fz//x", "$SYS/x", ""]

export const mqttConnect = (version: MqttVersion, clientId: string, rng: Rng): Buffer => {
  const packet: mqttPacket.IConnectPacket = {
    cmd: "connect",
    protocolId: version === 3 ? "MQIsdp" : "MQTT",
    protocolVersion: version,
    clientId,
    clean: true,
    keepalive: rng.pick([0, 5, 60]),
    ...(rng.chance(0.3) ? { username: "u", password: Buffer.from("p") } : {}),
    ...(rng.chance(0.3)
      ? { will: { topic: "fz/will", payload: Buffer.from("gone"), qos: rng.pick([0, 1, 2] as const), retain: false, ...(version === 5 ? { properties: { willDelayInterval: 0, contentType: "t" } } : {}) } }
      : {}),
    ...(version === 5 && rng.chance(0.5) ? { properties: { receiveMaximum: 10, topicAliasMaximum: 5, maximumPacketSize: 65536, userProperties: { a: "b" } } } : {})
  }
  return mqttPacket.generate(packet, { protocolVersion: version })
}

/** A few hundred valid client-to-server packets for `version`, CONNECT excluded (see mqttConnect). */
export const mqttSeeds = (version: MqttVersion, rng: Rng): Array<Buffer> => {
  const v5 = version === 5
  const out: Array<Buffer> = []
  const gen = (p: mqttPacket.Packet) => out.push(mqttPacket.generate(p, { protocolVersion: version }))
  for (let i = 0; i < 40; i++) {
    const qos = rng.pick([0, 1, 2] as const)
    const topic = rng.pick(TOPICS.filter((t) => !t.includes("+") && !t.includes("#") && !t.startsWith("$share"))) || "fz/a"
    gen({
      cmd: "publish",
      topic,
      payload: rng.bytes(rng.int(64)),
      qos,
      messageId: 1 + rng.int(20),
      retain: rng.chance(0.1),
      dup: qos > 0 && rng.chance(0.2),
      ...(v5 && rng.chance(0.6)
        ? {
            properties: {
              ...(rng.chance(0.5) ? { topicAlias: 1 + rng.int(5) } : {}),
              ...(rng.chance(0.5) ? { messageExpiryInterval: rng.int(100) } : {}),
              ...(rng.chance(0.3) ? { payloadFormatIndicator: true, contentType: "text/plain" } : {}),
              ...(rng.chance(0.3) ? { responseTopic: "fz/r", correlationData: Buffer.from("c") } : {}),
              ...(rng.chance(0.3) ? { userProperties: { k: ["v", "w"] } } : {})
            }
          }
        : {})
    })
    gen({
      cmd: "subscribe",
      messageId: 1 + rng.int(100),
      subscriptions: Array.from({ length: 1 + rng.int(3) }, () => ({
        topic: rng.pick(TOPICS) || "fz/a",
        qos: rng.pick([0, 1, 2] as const),
        ...(v5 ? { nl: rng.chance(0.5), rap: rng.chance(0.5), rh: rng.pick([0, 1, 2]) } : {})
      })),
      ...(v5 && rng.chance(0.5) ? { properties: { subscriptionIdentifier: 1 + rng.int(1000), userProperties: { s: "1" } } } : {})
    } as mqttPacket.ISubscribePacket)
    gen({ cmd: "unsubscribe", messageId: 1 + rng.int(100), unsubscriptions: [rng.pick(TOPICS) || "fz/a"], ...(v5 && rng.chance(0.3) ? { properties: { userProperties: { u: "1" } } } : {}) })
    for (const cmd of ["puback", "pubrec", "pubrel", "pubcomp"] as const) {
      gen({ cmd, messageId: 1 + rng.int(20), ...(v5 && rng.chance(0.3) ? { reasonCode: cmd === "pubrel" || cmd === "pubcomp" ? 0x92 : 0x10, properties: { reasonString: "r" } } : {}) } as mqttPacket.Packet)
    }
    gen({ cmd: "pingreq" })
  }
  if (v5) {
    gen({ cmd: "auth", reasonCode: 0x18, properties: { authenticationMethod: "SCRAM", authenticationData: Buffer.from([1, 2]) } })
    gen({ cmd: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0, reasonString: "bye" } })
  }
  gen({ cmd: "disconnect" })
  return out
}

/** A valid record batch, sometimes compressed, for Produce seeds. */
const batch = (rng: Rng): Buffer => {
  const records = Array.from({ length: 1 + rng.int(4) }, (_, i) => ({ key: rng.chance(0.5) ? Buffer.from(`k${i}`) : null, value: rng.bytes(rng.int(80)), headers: [], timestamp: Date.now() }))
  const plain = encodeBatch(0, records)
  const codec = rng.pick([CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4])
  if (codec === CompressionCodec.None) return Buffer.from(plain)
  const section = compress(codec, plain.subarray(BATCH_HEADER_SIZE)) as Uint8Array
  const out = Buffer.alloc(BATCH_HEADER_SIZE + section.length)
  out.set(plain.subarray(0, BATCH_HEADER_SIZE))
  out.set(section, BATCH_HEADER_SIZE)
  out.writeInt32BE(out.length - 12, 8)
  out.writeInt16BE((out.readInt16BE(21) & ~7) | codec, 21)
  out.writeUInt32BE(crc32c(out.subarray(21)), 17)
  return out
}

/** `count` valid Kafka request frames (size prefix included), every advertised API and version. */
export const kafkaSeeds = (count: number, seed: number, rng: Rng): Array<Buffer> => {
  const names = fc.constantFrom("fz", "fz-1", "fz-2", "g1", "consumer", "range", "PLAIN", "")
  const leaves = {
    text: fc.oneof({ weight: 3, arbitrary: names }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }),
    bytes: fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a)),
    records: fc.oneof(fc.constant(null).map(() => batch(rng)), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)))
  }
  const out: Array<Buffer> = []
  for (const { api, version, body } of fc.sample(requestArb(leaves), { numRuns: count, seed })) {
    // Long polls and huge waits would only park the attacker's own connection: keep them short.
    if ("maxWaitMs" in body) body.maxWaitMs = rng.int(50)
    try {
      out.push(Buffer.concat(encodeRequest({ apiKey: api.apiKey as ApiKey, apiVersion: version, correlationId: rng.int(1000), clientId: rng.chance(0.9) ? "fz" : null }, body as never)))
    } catch {
      // A body the encoder refuses (it checks some sizes): not a seed.
    }
  }
  return out
}
