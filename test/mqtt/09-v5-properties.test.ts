/**
 * MQTT 5 properties through the broker: forwarding of the application properties byte for byte
 * (user properties in order, duplicates kept), Message Expiry on queued messages, inbound Topic
 * Aliases, the client's Maximum Packet Size, request / response, and the `$SYS` topics.
 */
import { describe, expect, it } from "vitest"
import { connect, quiet, waitUntil } from "../support/clients.js"
import type { TestBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient, varint as remainingLength } from "../support/RawClient.js"

const life = useBrokers()
const start = life.broker
const client = async (broker: TestBroker, opts: Parameters<typeof connect>[1] = {}) => {
  const c = await connect(broker.url, { protocolVersion: 5, ...opts })
  life.track(c)
  return c
}
const raw = async (broker: TestBroker, version: 4 | 5 = 5, opts: Parameters<typeof RawClient.handshake>[2] = {}) => {
  const { client, connack } = await RawClient.handshake(broker.port, version, opts)
  life.track(client)
  return { raw: client, connack }
}

// ------------------------------------------------------------------ byte-level PUBLISH helpers

const str = (s: string) => {
  const b = Buffer.from(s, "utf8")
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}
const bin = (b: Buffer) => {
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}
const varint = (n: number) => Buffer.from(remainingLength(n))

type Prop = readonly [id: number, value: number | string | Buffer | readonly [string, string]]

const encodeProps = (props: ReadonlyArray<Prop>) =>
  Buffer.concat(
    props.map(([id, v]) => {
      const head = Buffer.from([id])
      if (id === 0x26) return Buffer.concat([head, str((v as [string, string])[0]), str((v as [string, string])[1])])
      if (id === 0x01) return Buffer.from([id, v as number])
      if (id === 0x02) {
        const b = Buffer.alloc(5)
        b[0] = id
        b.writeUInt32BE(v as number, 1)
        return b
      }
      if (id === 0x23) return Buffer.from([id, (v as number) >> 8, (v as number) & 0xff])
      if (id === 0x09) return Buffer.concat([head, bin(v as Buffer)])
      return Buffer.concat([head, str(v as string)])
    })
  )

/** A v5 PUBLISH written by hand, so property order is exactly ours. */
const publishV5 = (topic: string, payload: string | Buffer, qos: 0 | 1, packetId: number, props: ReadonlyArray<Prop>) => {
  const p = encodeProps(props)
  const body = Buffer.concat([str(topic), qos > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0), varint(p.length), p, Buffer.from(payload)])
  return Buffer.concat([Buffer.from([0x30 | (qos << 1)]), varint(body.length), body])
}

/** The properties of a v5 PUBLISH frame, in wire order, and its payload. */
const parsePublishV5 = (frame: Buffer): { topic: string; props: Array<Prop>; payload: Buffer } => {
  let i = 1
  while (frame[i]! & 0x80) i++
  i++
  const tlen = frame.readUInt16BE(i)
  const topic = frame.toString("utf8", i + 2, i + 2 + tlen)
  i += 2 + tlen
  if ((frame[0]! & 0x06) !== 0) i += 2
  const readVar = () => {
    let v = 0
    let mul = 1
    for (;;) {
      const b = frame[i++]!
      v += (b & 0x7f) * mul
      if ((b & 0x80) === 0) return v
      mul *= 128
    }
  }
  const readStr = () => {
    const n = frame.readUInt16BE(i)
    const s = frame.toString("utf8", i + 2, i + 2 + n)
    i += 2 + n
    return s
  }
  const plen = readVar()
  const end = i + plen
  const props: Array<Prop> = []
  while (i < end) {
    const id = frame[i++]!
    switch (id) {
      case 0x01:
        props.push([id, frame[i++]!])
        break
      case 0x02:
        props.push([id, frame.readUInt32BE(i)])
        i += 4
        break
      case 0x09: {
        const n = frame.readUInt16BE(i)
        props.push([id, Buffer.from(frame.subarray(i + 2, i + 2 + n))])
        i += 2 + n
        break
      }
      case 0x0b:
        props.push([id, readVar()])
        break
      case 0x23:
        props.push([id, frame.readUInt16BE(i)])
        i += 2
        break
      case 0x26: {
        const k = readStr()
        props.push([id, [k, readStr()]])
        break
      }
      default:
        props.push([id, readStr()])
    }
  }
  return { topic, props, payload: frame.subarray(end) }
}

/** The broker's bytes to `r`, cut into whole frames. */
const framesOf = (r: RawClient): Array<Buffer> => r.frames()

const lastPublishFrame = (r: RawClient) => {
  const f = framesOf(r).reverse().find((x) => x[0]! >> 4 === 3)
  if (f === undefined) throw new Error("no PUBLISH frame")
  return f
}

// ------------------------------------------------------------------------------------- tests

describe("MQTT 5 properties", () => {
  it("forwards user properties in order with duplicates, content type, payload format, response topic and correlation data [MQTT-3.3.2-17], [MQTT-3.3.2-18], [MQTT-3.3.2-20], [MQTT-3.3.2-4]", async () => {
    const broker = await start()
    const { raw: sub5 } = await raw(broker, 5)
    sub5.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "props/#", qos: 1 }] })
    await sub5.expect("suback")
    const { raw: sub4 } = await raw(broker, 4)
    sub4.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "props/#", qos: 1 }] })
    await sub4.expect("suback")
    const { raw: pub } = await raw(broker, 5)
    const correlation = Buffer.from([0, 1, 2, 0xff, 0xfe])
    const sent: Array<Prop> = [
      [0x26, ["b", "1"]],
      [0x01, 1],
      [0x26, ["a", "2"]],
      [0x03, "application/json"],
      [0x26, ["b", "3"]],
      [0x08, "reply/here"],
      [0x26, ["a", "2"]],
      [0x09, correlation],
      [0x26, ["ünï", "cödé"]]
    ]
    pub.send(publishV5("props/x", '{"k":1}', 1, 42, sent))
    const ack = await pub.expect("puback")
    expect([ack.messageId, ack.reasonCode]).toEqual([42, 0])

    await sub5.expect("publish")
    const got = parsePublishV5(lastPublishFrame(sub5))
    expect(got.topic).toBe("props/x")
    expect(got.payload.toString()).toBe('{"k":1}')
    const user = (ps: ReadonlyArray<Prop>) => ps.filter(([id]) => id === 0x26).map(([, v]) => v)
    expect(user(got.props)).toEqual(user(sent)) // same pairs, same order, duplicates kept
    const others = (ps: ReadonlyArray<Prop>) => Object.fromEntries(ps.filter(([id]) => id !== 0x26).map(([id, v]) => [id, v]))
    expect(others(got.props)).toEqual(others(sent))
    expect(got.props.some(([id]) => id === 0x23 || id === 0x0b)).toBe(false) // no alias, no subscription id

    // A 3.1.1 subscriber gets the same message, without properties.
    const p4 = await sub4.expect("publish")
    expect([p4.topic, p4.payload.toString()]).toEqual(["props/x", '{"k":1}'])
    const f4 = lastPublishFrame(sub4)
    expect(f4.subarray(f4.length - 7).toString()).toBe('{"k":1}')
    expect(f4.length).toBe(2 + 2 + "props/x".length + 2 + 7)
  })

  it("refuses a PUBLISH whose payload is not UTF-8 while it claims to be (0x99) [MQTT-3.3.2-4]", async () => {
    const broker = await start()
    const { raw: pub } = await raw(broker, 5)
    pub.send(publishV5("pf/x", Buffer.from([0xc3, 0x28]), 1, 7, [[0x01, 1]]))
    const ack = await pub.expect("puback")
    expect([ack.messageId, ack.reasonCode]).toEqual([7, 0x99])
  })

  it("counts the Message Expiry Interval down while a message is queued, and drops expired ones [MQTT-3.3.2-5], [MQTT-3.3.2-6]", async () => {
    const broker = await start()
    const session = { clientId: "exp-sub", clean: false, properties: { sessionExpiryInterval: 60 } }
    const sub = await client(broker, session)
    await sub.client.subscribeAsync("exp/#", { qos: 1 })
    await sub.end()
    const pub = await client(broker)
    await pub.client.publishAsync("exp/long", "long", { qos: 1, properties: { messageExpiryInterval: 10 } })
    await pub.client.publishAsync("exp/short", "short", { qos: 1, properties: { messageExpiryInterval: 1 } })
    await pub.client.publishAsync("exp/never", "never", { qos: 1 })
    await new Promise((r) => setTimeout(r, 1200))
    const back = await client(broker, session)
    await pub.client.publishAsync("exp/marker", "marker", { qos: 1 })
    const got = await back.waitFor(3)
    expect(got.map((m) => m.payload)).toEqual(["long", "never", "marker"])
    const left = got[0]!.packet.properties?.messageExpiryInterval
    expect(left).toBeGreaterThanOrEqual(8)
    expect(left).toBeLessThanOrEqual(9)
    expect(got[1]!.packet.properties?.messageExpiryInterval).toBeUndefined()
  })

  describe("topic aliases from the client [MQTT-3.3.2-7..12]", () => {
    it("maps an alias to the topic set with it, per connection, and forwards the full topic", async () => {
      const broker = await start()
      const { raw: sub } = await raw(broker, 5)
      sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "ta/#", qos: 0 }] })
      await sub.expect("suback")
      const { raw: pub, connack } = await raw(broker, 5)
      expect(connack.properties?.topicAliasMaximum).toBe(broker.config.limits.topicAliasMaximum)
      pub.send(publishV5("ta/one", "1", 0, 0, [[0x23, 3]]))
      pub.send(publishV5("", "2", 0, 0, [[0x23, 3]]))
      pub.send(publishV5("ta/two", "3", 0, 0, [[0x23, 3]])) // remapped
      pub.send(publishV5("", "4", 0, 0, [[0x23, 3]]))
      const got = []
      for (let i = 0; i < 4; i++) got.push(await sub.expect("publish"))
      expect(got.map((p) => [p.topic, p.payload.toString()])).toEqual([
        ["ta/one", "1"],
        ["ta/one", "2"],
        ["ta/two", "3"],
        ["ta/two", "4"]
      ])
      for (const f of framesOf(sub).filter((x) => x[0]! >> 4 === 3)) expect(parsePublishV5(f).props).toEqual([])

      // A new connection starts with no aliases.
      const { raw: fresh } = await raw(broker, 5)
      fresh.send(publishV5("", "5", 0, 0, [[0x23, 3]]))
      expect((await fresh.expect("disconnect")).reasonCode).toBe(0x82) // Protocol Error
      await fresh.expectClosed()
    })

    it.each([
      ["above the maximum", 65],
      ["0", 0]
    ])("disconnects with 0x94 Topic Alias invalid for an alias %s", async (_, alias) => {
      const broker = await start({ limits: { topicAliasMaximum: 64 } })
      const { raw: pub } = await raw(broker, 5)
      pub.send(publishV5("ta/x", "x", 0, 0, [[0x23, alias]]))
      expect((await pub.expect("disconnect")).reasonCode).toBe(0x94)
      await pub.expectClosed()
    })
  })

  describe("topic aliases toward the client [MQTT-3.3.2-10..12]", () => {
    it("assigns aliases up to the client's Topic Alias Maximum, then sends the alias without the topic", async () => {
      const broker = await start()
      const { raw: sub } = await raw(broker, 5, { properties: { topicAliasMaximum: 2 } })
      sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "out/#", qos: 1 }] })
      await sub.expect("suback")
      const pub = await client(broker)
      for (const t of ["out/a", "out/a", "out/b", "out/c", "out/b"]) await pub.client.publishAsync(t, t, { qos: 0 })
      const got = []
      for (let i = 0; i < 5; i++) got.push(await sub.expect("publish"))
      expect(got.map((p) => [p.topic, p.properties?.topicAlias, p.payload.toString()])).toEqual([
        ["out/a", 1, "out/a"], // new alias: topic and alias
        ["", 1, "out/a"], // known alias: empty topic
        ["out/b", 2, "out/b"],
        ["out/c", undefined, "out/c"], // table full: plain topic
        ["", 2, "out/b"]
      ])
    })

    it("does not count an alias as known when the frame introducing it was too large to send", async () => {
      const broker = await start()
      const { raw: sub } = await raw(broker, 5, { properties: { topicAliasMaximum: 2, maximumPacketSize: 80 } })
      sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "big/#", qos: 0 }] })
      await sub.expect("suback")
      const pub = await client(broker)
      await pub.client.publishAsync("big/a", "x".repeat(200), { qos: 0 }) // over 80 bytes: dropped
      await pub.client.publishAsync("big/a", "small", { qos: 0 })
      const p = await sub.expect("publish")
      expect([p.topic, p.properties?.topicAlias, p.payload.toString()]).toEqual(["big/a", 1, "small"])
    })

    it("MQTT.js with topicAliasMaximum receives every full topic", async () => {
      const broker = await start()
      const sub = await client(broker, { properties: { topicAliasMaximum: 4 } })
      await sub.client.subscribeAsync("alias/#", { qos: 1 })
      const pub = await client(broker)
      for (let i = 0; i < 6; i++) await pub.client.publishAsync(`alias/${i % 2}`, `m${i}`, { qos: 1 })
      const got = await sub.waitFor(6)
      expect(got.map((m) => [m.topic, m.payload])).toEqual([0, 1, 2, 3, 4, 5].map((i) => [`alias/${i % 2}`, `m${i}`]))
    })

    it("sends no aliases to a client that did not ask for them", async () => {
      const broker = await start()
      const { raw: sub } = await raw(broker, 5)
      sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "plain/#", qos: 0 }] })
      await sub.expect("suback")
      const pub = await client(broker)
      for (let i = 0; i < 3; i++) await pub.client.publishAsync("plain/x", "p", { qos: 0 })
      for (let i = 0; i < 3; i++) {
        const p = await sub.expect("publish")
        expect([p.topic, p.properties?.topicAlias]).toEqual(["plain/x", undefined])
      }
    })
  })

  it("does not send a client a packet above its Maximum Packet Size, and goes on with smaller ones [MQTT-3.1.2-24], [MQTT-3.1.2-25]", async () => {
    const broker = await start()
    const sub = await client(broker, { properties: { maximumPacketSize: 100 } })
    await sub.client.subscribeAsync("mps/#", { qos: 1 })
    const pub = await client(broker)
    const big = "x".repeat(500)
    await pub.client.publishAsync("mps/a", big, { qos: 0 })
    await pub.client.publishAsync("mps/b", "small0", { qos: 0 })
    for (let i = 0; i < 3; i++) await pub.client.publishAsync("mps/c", big, { qos: 1 })
    await pub.client.publishAsync("mps/d", "small1", { qos: 1 })
    const got = await sub.waitFor(2)
    await quiet(100)
    expect(sub.messages.map((m) => m.payload)).toEqual(["small0", "small1"])
    expect(got.map((m) => m.packet.qos)).toEqual([0, 1])
  })

  it("returns Response Information only when asked [MQTT-3.1.2-28], and carries response topic and correlation data end to end", async () => {
    const broker = await start()
    const plain = await client(broker)
    expect(plain.client.serverProperties?.responseInformation).toBeUndefined() // asked 0 [MQTT-3.1.2-28]
    const requester = await client(broker, { properties: { requestResponseInformation: true } })
    const info = requester.client.serverProperties?.responseInformation
    expect(typeof info).toBe("string")
    expect(info!.length).toBeGreaterThan(0)

    const responder = await client(broker)
    await responder.client.subscribeAsync("svc/echo", { qos: 1 })
    responder.client.on("message", (_t, payload, packet) => {
      const p = packet.properties
      if (p?.responseTopic === undefined) return
      responder.client.publish(p.responseTopic, `echo:${payload}`, { qos: 1, properties: { correlationData: p.correlationData! } })
    })
    const replyTo = `${info}/reply`
    await requester.client.subscribeAsync(replyTo, { qos: 1 })
    const correlation = Buffer.from("req-7\u0000\u0001")
    await requester.client.publishAsync("svc/echo", "ping", { qos: 1, properties: { responseTopic: replyTo, correlationData: correlation } })
    const [reply] = await requester.waitFor(1)
    expect(reply!.topic).toBe(replyTo)
    expect(reply!.payload).toBe("echo:ping")
    expect(Buffer.from(reply!.packet.properties!.correlationData!)).toEqual(correlation)
  })

  it("publishes $SYS/broker/version and $SYS/broker/clients/connected, unseen by `#` [MQTT-4.7.2-1]", async () => {
    const broker = await start({ mqtt: { sysInterval: 1 } })
    const sys = await client(broker)
    await sys.client.subscribeAsync(["$SYS/broker/version", "$SYS/broker/clients/connected"], { qos: 0 })
    const latest = (topic: string) => [...sys.messages].reverse().find((m) => m.topic === topic)?.payload
    await waitUntil(() => latest("$SYS/broker/clients/connected") === "1" && latest("$SYS/broker/version") !== undefined, 3000, () => JSON.stringify(sys.messages.map((m) => [m.topic, m.payload])))
    expect(latest("$SYS/broker/version")).toMatch(/^robustmq-ts \d+\.\d+\.\d+/)

    const all = await connect(broker.url, { protocolVersion: 4 })
    life.track(all)
    await all.client.subscribeAsync("#", { qos: 0 })
    await waitUntil(() => latest("$SYS/broker/clients/connected") === "2", 3000, () => `connected = ${latest("$SYS/broker/clients/connected")}`)
    await quiet(50)
    expect(all.messages.filter((m) => m.topic.startsWith("$"))).toEqual([])
  })
})
