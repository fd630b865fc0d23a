/**
 * Will messages: published when the connection ends abnormally, not after a normal DISCONNECT,
 * with their retain flag, QoS and (v5) properties, delay interval and DISCONNECT 0x04.
 * The client that carries the will is a RawClient, so "abnormal" is a real socket destroy.
 */
import type { IConnectPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, quiet, type TestClient } from "../support/clients.js"
import { RawClient, type Version } from "../support/RawClient.js"
import { useBrokers } from "../support/lifecycle.js"
import type { TestBroker } from "../support/TestBroker.js"

const life = useBrokers()
const broker = () => life.broker()

type WillSpec = NonNullable<IConnectPacket["will"]>

/** A raw client connected with `will` (and any other CONNECT fields). */
const withWill = async (port: number, version: Version, clientId: string, will: WillSpec, extra: Partial<IConnectPacket> = {}) => {
  const { client } = await RawClient.handshake(port, version, { clientId, will, ...extra })
  life.track(client)
  return client
}

/** An MQTT.js subscriber on `filter` (v4 for a v3 will client: MQTT.js speaks 3.1 poorly). */
const subscriber = async (b: TestBroker, version: Version, filter: string, qos: 0 | 1 | 2 = 1) => {
  const c = await connect(b.url, { protocolVersion: version === 3 ? 4 : version })
  life.track(c)
  await c.client.subscribeAsync(filter, { qos })
  return c
}

/**
 * Proves the will was NOT published, without a long sleep: once the will client's connection is
 * closed, its will (if any) has been routed, so a sentinel published after it on the same topic
 * must be the first and only message the subscriber sees.
 */
const expectOnlySentinel = async (b: TestBroker, sub: TestClient, topic: string) => {
  const pub = await connect(b.url)
  life.track(pub)
  await pub.client.publishAsync(topic, "sentinel", { qos: 1 })
  const [first] = await sub.waitFor(1)
  expect(first!.payload).toBe("sentinel")
  await quiet(100)
  expect(sub.messages.map((m) => m.payload)).toEqual(["sentinel"])
}

describe.each([3, 4, 5] as const)("will messages (MQTT v%i)", (version) => {
  it("publishes the will when the network connection is lost [MQTT-3.1.2-8]", async () => {
    const b = await broker()
    const sub = await subscriber(b, version, `will/${version}/#`)
    const r = await withWill(b.port, version, `lost-${version}`, { topic: `will/${version}/lost`, payload: Buffer.from("bye"), qos: 1, retain: false })
    await r.destroy()
    const [m] = await sub.waitFor(1)
    expect(m!.topic).toBe(`will/${version}/lost`)
    expect(m!.payload).toBe("bye")
    expect(m!.packet.qos).toBe(1)
    expect(m!.packet.retain).toBe(false)
  })

  it("publishes the will when the server closes the connection for a protocol error [MQTT-3.1.2-8]", async () => {
    const b = await broker()
    const sub = await subscriber(b, version, `will/${version}/#`)
    const r = await withWill(b.port, version, `bad-${version}`, { topic: `will/${version}/bad`, payload: Buffer.from("broken"), qos: 0, retain: false })
    r.send([0x00, 0x00]) // packet type 0 is reserved: malformed
    await r.expectClosed()
    const [m] = await sub.waitFor(1)
    expect(m!.payload).toBe("broken")
  })

  it("does not publish the will after a normal DISCONNECT [MQTT-3.1.2-10] [MQTT-3.14.4-3]", async () => {
    const b = await broker()
    const sub = await subscriber(b, version, `will/${version}/#`)
    const r = await withWill(b.port, version, `polite-${version}`, { topic: `will/${version}/polite`, payload: Buffer.from("should not"), qos: 1, retain: false })
    await r.disconnect()
    await expectOnlySentinel(b, sub, `will/${version}/polite`)
  })

  it("publishes a will with the retain flag as a retained message [MQTT-3.1.2-17]", async () => {
    const b = await broker()
    const r = await withWill(b.port, version, `ret-${version}`, { topic: `will/${version}/retained`, payload: Buffer.from("last words"), qos: 1, retain: true })
    const live = await subscriber(b, version, `will/${version}/retained`)
    await r.destroy()
    const [m] = await live.waitFor(1)
    expect(m!.payload).toBe("last words")
    // A subscriber that arrives later gets it as a retained message.
    const late = await subscriber(b, version, `will/${version}/retained`)
    const [kept] = await late.waitFor(1)
    expect(kept!.payload).toBe("last words")
    expect(kept!.packet.retain).toBe(true)
  })

  it("publishes a will without the retain flag as a normal message: nothing is retained [MQTT-3.1.2-16]", async () => {
    const b = await broker()
    const r = await withWill(b.port, version, `noret-${version}`, { topic: `will/${version}/plain`, payload: Buffer.from("transient"), qos: 1, retain: false })
    const live = await subscriber(b, version, `will/${version}/plain`)
    await r.destroy()
    await live.waitFor(1)
    const late = await subscriber(b, version, `will/${version}/plain`)
    await expectOnlySentinel(b, late, `will/${version}/plain`)
  })

  it("delivers the will at its QoS, capped by the subscription's [MQTT-3.1.2-14] [MQTT-3.8.4-8]", async () => {
    const b = await broker()
    const at2 = await subscriber(b, version, `will/${version}/qos`, 2)
    const at0 = await subscriber(b, version, `will/${version}/qos`, 0)
    const r = await withWill(b.port, version, `qos-${version}`, { topic: `will/${version}/qos`, payload: Buffer.from("q2"), qos: 2, retain: false })
    await r.destroy()
    const [m2] = await at2.waitFor(1)
    const [m0] = await at0.waitFor(1)
    expect(m2!.packet.qos).toBe(2)
    expect(m0!.packet.qos).toBe(0)
  })

  it("publishes the older connection's will when a new connection takes the session over [MQTT-3.1.4-3]", async () => {
    const b = await broker()
    const sub = await subscriber(b, version, `will/${version}/#`)
    const old = await withWill(b.port, version, `taken-${version}`, { topic: `will/${version}/taken`, payload: Buffer.from("replaced"), qos: 1, retain: false })
    const { client: fresh } = await RawClient.handshake(b.port, version, { clientId: `taken-${version}` })
    life.track(fresh)
    await old.expectClosed()
    const [m] = await sub.waitFor(1)
    expect(m!.payload).toBe("replaced")
  })
})

describe("v5 will specifics", () => {
  it("DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will (§3.14.2.1) [MQTT-3.14.4-3]", async () => {
    const b = await broker()
    const sub = await subscriber(b, 5, "will5/#")
    const r = await withWill(b.port, 5, "d04", { topic: "will5/d04", payload: Buffer.from("asked for it"), qos: 1, retain: false })
    await r.disconnect(0x04)
    const [m] = await sub.waitFor(1)
    expect(m!.payload).toBe("asked for it")
  })

  it("the will's properties reach the subscriber: user properties, content type, response topic, correlation data, payload format [MQTT-3.1.3-10]", async () => {
    const b = await broker()
    const sub = await subscriber(b, 5, "will5/props")
    const r = await withWill(b.port, 5, "props", {
      topic: "will5/props",
      payload: Buffer.from("{\"state\":\"offline\"}"),
      qos: 1,
      retain: false,
      properties: {
        contentType: "application/json",
        responseTopic: "will5/reply",
        correlationData: Buffer.from([1, 2, 3]),
        payloadFormatIndicator: true,
        userProperties: { device: "d-17", zone: ["a", "b"] }
      }
    })
    await r.destroy()
    const [m] = await sub.waitFor(1)
    const p = m!.packet.properties!
    expect(p.contentType).toBe("application/json")
    expect(p.responseTopic).toBe("will5/reply")
    expect(Buffer.from(p.correlationData!)).toEqual(Buffer.from([1, 2, 3]))
    expect(p.payloadFormatIndicator).toBe(true)
    expect(p.userProperties).toEqual({ device: "d-17", zone: ["a", "b"] })
    expect(m!.payload).toBe("{\"state\":\"offline\"}")
  })

  it("Will Delay Interval: the will is published after the delay, not at once [MQTT-3.1.3-9]", async () => {
    const b = await broker()
    const sub = await subscriber(b, 5, "will5/delayed")
    const r = await withWill(b.port, 5, "delayed", { topic: "will5/delayed", payload: Buffer.from("late"), qos: 1, retain: false, properties: { willDelayInterval: 1 } }, {
      clean: false,
      properties: { sessionExpiryInterval: 60 }
    })
    const lostAt = Date.now()
    await r.destroy()
    const [m] = await sub.waitFor(1, 3000)
    const after = Date.now() - lostAt
    expect(m!.payload).toBe("late")
    expect(after).toBeGreaterThanOrEqual(1000)
    expect(after).toBeLessThan(2500)
  })

  it("Will Delay Interval: reconnecting within the delay cancels the will [MQTT-3.1.3-9]", async () => {
    const b = await broker()
    const sub = await subscriber(b, 5, "will5/cancelled")
    const session = { clean: false, properties: { sessionExpiryInterval: 60 } }
    const r = await withWill(b.port, 5, "cancel", { topic: "will5/cancelled", payload: Buffer.from("never"), qos: 1, retain: false, properties: { willDelayInterval: 1 } }, session)
    await r.destroy()
    const { client: back, connack } = await RawClient.handshake(b.port, 5, { clientId: "cancel", ...session })
    life.track(back)
    expect(connack.sessionPresent).toBe(true)
    // Past the delay and a sweep: the will would be out by now.
    await quiet(1500)
    await expectOnlySentinel(b, sub, "will5/cancelled")
  })

  it("Will Delay Interval: a new connection with Clean Start 1 ends the session, so the delayed will goes out at once [MQTT-3.1.3-9]", async () => {
    const b = await broker()
    const sub = await subscriber(b, 5, "will5/clean-start")
    const session = { clean: false, properties: { sessionExpiryInterval: 60 } }
    const r = await withWill(b.port, 5, "cs", { topic: "will5/clean-start", payload: Buffer.from("session ended"), qos: 1, retain: false, properties: { willDelayInterval: 30 } }, session)
    await r.destroy()
    const { client: fresh, connack } = await RawClient.handshake(b.port, 5, { clientId: "cs", clean: true })
    life.track(fresh)
    expect(connack.sessionPresent).toBe(false)
    const [m] = await sub.waitFor(1, 1000)
    expect(m!.payload).toBe("session ended")
  })

  it.each([
    [true, "publishes the delayed will at once (the session ends)"],
    [false, "does not publish the delayed will (the session continues)"]
  ] as const)("Will Delay Interval, takeover by a live connection with Clean Start %s: %s [MQTT-3.1.3-9] [MQTT-3.1.4-3]", async (clean, _what) => {
    const b = await broker()
    const topic = `will5/takeover-${clean}`
    const sub = await subscriber(b, 5, topic)
    const session = { clean: false, properties: { sessionExpiryInterval: 60 } }
    const old = await withWill(b.port, 5, `to-${clean}`, { topic, payload: Buffer.from("taken over"), qos: 1, retain: false, properties: { willDelayInterval: 30 } }, session)
    const { client: fresh } = await RawClient.handshake(b.port, 5, { clientId: `to-${clean}`, ...(clean ? { clean: true } : session) })
    life.track(fresh)
    expect((await old.expect("disconnect")).reasonCode).toBe(0x8e)
    await old.expectClosed()
    if (clean) {
      const [m] = await sub.waitFor(1, 1000)
      expect(m!.payload).toBe("taken over")
    } else {
      await expectOnlySentinel(b, sub, topic)
    }
  })

  it("the will's Message Expiry Interval counts from when the will is published, not from CONNECT (§3.1.3.2.4)", async () => {
    const b = await broker()
    const live = await subscriber(b, 5, "will5/expiry")
    const r = await withWill(b.port, 5, "will-exp", {
      topic: "will5/expiry",
      payload: Buffer.from("fresh"),
      qos: 1,
      retain: true,
      properties: { willDelayInterval: 1, messageExpiryInterval: 1 }
    }, { clean: false, properties: { sessionExpiryInterval: 60 } })
    await r.destroy()
    // Published a second (the delay) after CONNECT: an expiry counted from CONNECT has run out.
    const [m] = await live.waitFor(1, 3000)
    expect(m!.packet.properties?.messageExpiryInterval).toBe(1)
    const late = await subscriber(b, 5, "will5/expiry")
    const [kept] = await late.waitFor(1, 1000)
    expect(kept!.payload).toBe("fresh")
    expect(kept!.packet.retain).toBe(true)
  })

  it("Will Delay Interval longer than the session: the will goes out when the session expires [MQTT-3.1.3-9]", async () => {
    const b = await broker()
    const sub = await subscriber(b, 5, "will5/session-end")
    const r = await withWill(b.port, 5, "short-session", { topic: "will5/session-end", payload: Buffer.from("session over"), qos: 1, retain: false, properties: { willDelayInterval: 30 } }, {
      clean: false,
      properties: { sessionExpiryInterval: 1 }
    })
    const lostAt = Date.now()
    await r.destroy()
    const [m] = await sub.waitFor(1, 3000)
    expect(m!.payload).toBe("session over")
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(1000)
  })

  it("refuses a will topic with a wildcard: CONNACK 0x90, then close [MQTT-3.3.2-2]", async () => {
    const b = await broker()
    const r = await RawClient.connect(b.port, 5)
    life.track(r)
    r.sendPacket({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clientId: "wild-will", clean: true, keepalive: 0, will: { topic: "will5/+", payload: Buffer.from("x"), qos: 0, retain: false } })
    const connack = await r.expect("connack")
    expect(connack.reasonCode).toBe(0x90)
    await r.expectClosed()
  })
})
