/**
 * CONNECT / CONNACK conformance: return and reason codes, client identifiers, the CONNECT-first
 * and CONNECT-once rules, session takeover, the connection limit, v5 CONNACK properties and
 * keepalive, for each protocol level where behaviour differs.
 */
import type { IConnackPacket, IDisconnectPacket } from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { connect, quiet, waitUntil } from "../support/clients.js"
import { connectFrame, RawClient, str, type Version } from "../support/RawClient.js"
import { useBrokers } from "../support/lifecycle.js"

const life = useBrokers()
const broker = life.broker

const raw = async (port: number, version: Version) => {
  const r = await RawClient.connect(port, version)
  life.track(r)
  return r
}

const protocolId = (v: Version) => (v === 3 ? "MQIsdp" : "MQTT") as "MQIsdp" | "MQTT"

/** CONNACK code whatever the version: the v5 Reason Code or the v3/v4 Return Code. */
const codeOf = (c: IConnackPacket) => (c.reasonCode ?? c.returnCode)!

const sendConnect = (r: RawClient, clientId: string, extra: Record<string, unknown> = {}) =>
  r.sendPacket({ cmd: "connect", protocolId: protocolId(r.version), protocolVersion: r.version, clientId, clean: true, keepalive: 0, ...extra } as never)

describe.each([3, 4, 5] as const)("CONNECT and CONNACK (MQTT v%i)", (version) => {
  it("accepts a valid CONNECT with CONNACK success and no session present [MQTT-3.2.2-1] [MQTT-3.2.2-2]", async () => {
    const b = await broker()
    const r = await raw(b.port, version)
    sendConnect(r, `ok-${version}`)
    const connack = await r.expect("connack")
    expect(codeOf(connack)).toBe(0)
    expect(connack.sessionPresent).toBe(false)
    // The connection is usable: PINGREQ gets PINGRESP.
    r.sendPacket({ cmd: "pingreq" })
    await r.expect("pingresp")
    expect(r.isClosed).toBe(false)
  })

  it("refuses an unsupported protocol level with CONNACK 0x01, then closes [MQTT-3.1.2-2]", async () => {
    const b = await broker()
    const r = await raw(b.port, 4)
    r.send(connectFrame({ level: 6, clientId: "level-6" }))
    const connack = await r.expect("connack")
    expect(connack.returnCode).toBe(0x01)
    expect(connack.sessionPresent).toBe(false)
    await r.expectClosed()
  })

  it("closes a connection whose first packet is not CONNECT, without a reply [MQTT-3.1.0-1]", async () => {
    const b = await broker()
    const r = await raw(b.port, version)
    r.sendPacket({ cmd: "pingreq" })
    await r.expectClosed()
    expect(r.received).toEqual([])
  })

  it(`treats a second CONNECT as a protocol violation: ${version === 5 ? "DISCONNECT 0x82, then " : ""}close [MQTT-3.1.0-2]`, async () => {
    const b = await broker()
    const r = await raw(b.port, version)
    sendConnect(r, `twice-${version}`)
    expect(codeOf(await r.expect("connack"))).toBe(0)
    sendConnect(r, `twice-${version}`)
    if (version === 5) {
      const d = await r.expect("disconnect")
      expect(d.reasonCode).toBe(0x82)
    }
    await r.expectClosed()
    expect(r.pending).toEqual([])
  })

  it(`takes over the session: the older connection is closed${version === 5 ? " after DISCONNECT 0x8E" : ""} [MQTT-3.1.4-3]`, async () => {
    const b = await broker()
    const first = await raw(b.port, version)
    sendConnect(first, `dup-${version}`)
    expect(codeOf(await first.expect("connack"))).toBe(0)
    const second = await raw(b.port, version)
    sendConnect(second, `dup-${version}`)
    expect(codeOf(await second.expect("connack"))).toBe(0)
    if (version === 5) {
      const d = await first.expect("disconnect")
      expect(d.reasonCode).toBe(0x8e)
    }
    await first.expectClosed()
    // The new connection owns the client id and keeps working.
    second.sendPacket({ cmd: "pingreq" })
    await second.expect("pingresp")
    expect(second.isClosed).toBe(false)
  })

  it("refuses a connection over limits.maxConnections and accepts again once one leaves", async () => {
    const b = await broker({ limits: { maxConnections: 2 } })
    const a = await connect(b.url, { protocolVersion: version, clientId: `a-${version}` })
    const c = await connect(b.url, { protocolVersion: version, clientId: `c-${version}` })
    const r = await raw(b.port, version)
    sendConnect(r, `over-${version}`)
    const connack = await r.expect("connack")
    // v5: 0x97 Quota exceeded; v3/v4: 0x03 Server unavailable [MQTT-3.2.2-6] (closed after).
    expect(codeOf(connack)).toBe(version === 5 ? 0x97 : 0x03)
    expect(connack.sessionPresent).toBe(false)
    await r.expectClosed()
    // The two admitted clients still work.
    await a.client.subscribeAsync("limit/t", { qos: 1 })
    await c.client.publishAsync("limit/t", "still here", { qos: 1 })
    expect((await a.waitFor(1))[0]!.payload).toBe("still here")
    await c.end()
    await waitUntil(() => b.server.context.connected < 2, 2000, () => "the connection count to drop")
    const again = await raw(b.port, version)
    sendConnect(again, `again-${version}`)
    expect(codeOf(await again.expect("connack"))).toBe(0)
    await a.end()
  })
})

describe("client identifiers", () => {
  it("3.1.1: an empty client id with clean session is accepted and gets a unique id [MQTT-3.1.3-6] [MQTT-3.1.3-7]", async () => {
    const b = await broker()
    const one = await raw(b.port, 4)
    one.send(connectFrame({ level: 4, flags: 0x02, clientId: "" }))
    expect(codeOf(await one.expect("connack"))).toBe(0)
    // A second empty-id client is a different client: no takeover of the first.
    const two = await raw(b.port, 4)
    two.send(connectFrame({ level: 4, flags: 0x02, clientId: "" }))
    expect(codeOf(await two.expect("connack"))).toBe(0)
    one.sendPacket({ cmd: "pingreq" })
    await one.expect("pingresp")
    expect(one.isClosed).toBe(false)
  })

  it("3.1.1: an empty client id without clean session is refused with 0x02, then closed [MQTT-3.1.3-8]", async () => {
    const b = await broker()
    const r = await raw(b.port, 4)
    r.send(connectFrame({ level: 4, flags: 0x00, clientId: "" }))
    const connack = await r.expect("connack")
    expect(connack.returnCode).toBe(0x02)
    await r.expectClosed()
  })

  it("3.1: an empty client id is refused with 0x02, and so is one over 23 characters", async () => {
    const b = await broker()
    const empty = await raw(b.port, 3)
    empty.send(connectFrame({ level: 3, flags: 0x02, clientId: "" }))
    expect((await empty.expect("connack")).returnCode).toBe(0x02)
    await empty.expectClosed()
    const long = await raw(b.port, 3)
    sendConnect(long, "x".repeat(24))
    expect((await long.expect("connack")).returnCode).toBe(0x02)
    await long.expectClosed()
  })

  it("v5: an empty client id is accepted and the CONNACK carries an Assigned Client Identifier [MQTT-3.2.2-16]", async () => {
    const b = await broker()
    const r = await raw(b.port, 5)
    sendConnect(r, "")
    const connack = await r.expect("connack")
    expect(connack.reasonCode).toBe(0)
    const assigned = connack.properties?.assignedClientIdentifier
    expect(typeof assigned).toBe("string")
    expect(assigned!.length).toBeGreaterThan(0)
    // The assigned id is the session's id: reconnecting with it takes the session over.
    const again = await raw(b.port, 5)
    sendConnect(again, assigned!)
    expect((await again.expect("connack")).reasonCode).toBe(0)
    expect((await r.expect("disconnect")).reasonCode).toBe(0x8e)
    await r.expectClosed()
  })

  it("v5: a client that sends its own id gets no Assigned Client Identifier", async () => {
    const b = await broker()
    const r = await raw(b.port, 5)
    sendConnect(r, "my-own-id")
    const connack = await r.expect("connack")
    expect(connack.reasonCode).toBe(0)
    expect(connack.properties?.assignedClientIdentifier).toBeUndefined()
  })
})

describe("v5 CONNACK properties", () => {
  it("announces Receive Maximum, Topic Alias Maximum and Maximum Packet Size from the limits [MQTT-3.2.2-3]", async () => {
    const b = await broker({ limits: { receiveMaximum: 20, topicAliasMaximum: 7, maxPacketSize: 4096 } })
    const r = await raw(b.port, 5)
    sendConnect(r, "props")
    const connack = await r.expect("connack")
    expect(connack.reasonCode).toBe(0)
    expect(connack.properties?.receiveMaximum).toBe(20)
    expect(connack.properties?.topicAliasMaximum).toBe(7)
    expect(connack.properties?.maximumPacketSize).toBe(4096)
  })

  it("enforces the Receive Maximum it announced: one more unacknowledged QoS 2 is DISCONNECT 0x93 [MQTT-3.3.4-9]", async () => {
    const b = await broker({ limits: { receiveMaximum: 2 } })
    const { client: r } = await RawClient.handshake(b.port, 5, { clientId: "recvmax" })
    life.track(r)
    // QoS 2 publishes without PUBREL stay unacknowledged (PUBREC only): two fit the window.
    const publish = (id: number) => r.sendPacket({ cmd: "publish", topic: "rm/t", payload: "x", qos: 2, messageId: id, retain: false, dup: false })
    publish(1)
    publish(2)
    expect((await r.expect("pubrec")).messageId).toBe(1)
    expect((await r.expect("pubrec")).messageId).toBe(2)
    publish(3)
    expect((await r.expect("disconnect")).reasonCode).toBe(0x93)
    await r.expectClosed()
  })
})

describe.each([4, 5] as const)("keepalive (MQTT v%i)", (version) => {
  it(`closes a client silent for 1.5 x keepalive${version === 5 ? " with DISCONNECT 0x8D" : ""} and publishes its will, while one that pings stays [MQTT-3.1.2-${version === 5 ? "22" : "24"}]`, async () => {
    const b = await broker()
    const watcher = await connect(b.url, { protocolVersion: version, clientId: `watch-${version}` })
    await watcher.client.subscribeAsync("ka/will", { qos: 1 })

    const silent = await raw(b.port, version)
    const opened = Date.now() // the broker hears from it after this, never before
    sendConnect(silent, `silent-${version}`, { keepalive: 1, will: { topic: "ka/will", payload: Buffer.from("gone quiet"), qos: 1, retain: false } })
    expect(codeOf(await silent.expect("connack"))).toBe(0)
    const { client: pinger } = await RawClient.handshake(b.port, version, { clientId: `pinger-${version}`, keepalive: 1 })
    life.track(pinger)
    const timer = setInterval(() => pinger.sendPacket({ cmd: "pingreq" }), 400)
    try {
      await silent.expectClosed(3500)
      const closedAfter = Date.now() - opened
      // Not before 1.5 x keepalive, and well within 3 s.
      expect(closedAfter).toBeGreaterThan(1500)
      if (version === 5) {
        const d = silent.received.find((p) => p.cmd === "disconnect") as IDisconnectPacket | undefined
        expect(d?.reasonCode).toBe(0x8d)
      }
      const [will] = await watcher.waitFor(1, 2000)
      expect(will!.payload).toBe("gone quiet")
      // The pinging client, connected as long, is still there.
      await quiet(300)
      expect(pinger.isClosed).toBe(false)
      expect(pinger.received.filter((p) => p.cmd === "pingresp").length).toBeGreaterThanOrEqual(3)
    } finally {
      clearInterval(timer)
    }
    await watcher.end()
  })
})

describe("server keep alive (mqtt.maxKeepalive: 5)", () => {
  it("v5: keepalive 0 and 100 are lowered to 5 via Server Keep Alive; 3 is kept as is [MQTT-3.2.2-21]", async () => {
    const b = await broker({ mqtt: { maxKeepalive: 5 } })
    for (const [keepalive, expected] of [[0, 5], [100, 5], [3, undefined]] as const) {
      const r = await raw(b.port, 5)
      sendConnect(r, `ska-${keepalive}`, { keepalive })
      const connack = await r.expect("connack")
      expect(connack.reasonCode).toBe(0)
      expect(connack.properties?.serverKeepAlive).toBe(expected)
    }
  })

  it("v5: the Server Keep Alive is enforced (maxKeepalive 1): a client that asked for 0 is closed after 1.5 s of silence (§3.2.2.3.14)", async () => {
    const b = await broker({ mqtt: { maxKeepalive: 1 } })
    const r = await raw(b.port, 5)
    sendConnect(r, "ska-enforced", { keepalive: 0 })
    expect((await r.expect("connack")).properties?.serverKeepAlive).toBe(1)
    await r.expectClosed(3500)
    expect((r.received.at(-1) as IDisconnectPacket).reasonCode).toBe(0x8d)
  })

  it("3.1.1: a keepalive above the maximum is refused (0x02, as Mosquitto does), one within it accepted", async () => {
    const b = await broker({ mqtt: { maxKeepalive: 5 } })
    const over = await raw(b.port, 4)
    sendConnect(over, "ka-over", { keepalive: 100 })
    const refused = await over.expect("connack")
    expect(refused.returnCode).toBe(0x02)
    await over.expectClosed()
    const within = await raw(b.port, 4)
    sendConnect(within, "ka-within", { keepalive: 5 })
    expect((await within.expect("connack")).returnCode).toBe(0)
  })
})

describe("malformed CONNECT packets close the connection without CONNACK success", () => {
  // Flags byte: 0x80 user name, 0x40 password, 0x20 will retain, 0x18 will QoS, 0x04 will, 0x02 clean, 0x01 reserved.
  const cases: ReadonlyArray<readonly [string, Version, Parameters<typeof connectFrame>[0]]> = [
    ["reserved flag bit set [MQTT-3.1.2-3]", 4, { level: 4, flags: 0x03, clientId: "c" }],
    ["will retain without the will flag [MQTT-3.1.2-15]", 4, { level: 4, flags: 0x22, clientId: "c" }],
    ["will QoS without the will flag [MQTT-3.1.2-13]", 4, { level: 4, flags: 0x0a, clientId: "c" }],
    ["will QoS 3 [MQTT-3.1.2-14]", 4, { level: 4, flags: 0x1e, clientId: "c", rest: [str("w/t"), str("p")] }],
    ["will QoS 3 (v5) [MQTT-3.1.2-12]", 5, { level: 5, flags: 0x1e, clientId: "c", rest: [Buffer.from([0]), str("w/t"), str("p")] }],
    ["3.1.1: password without user name [MQTT-3.1.2-22]", 4, { level: 4, flags: 0x42, clientId: "c", rest: [str("secret")] }],
    ["3.1: password without user name", 3, { level: 3, flags: 0x42, clientId: "c", rest: [str("secret")] }],
    ["v5: Receive Maximum 0 (§3.1.2.11.3)", 5, { level: 5, clientId: "c", properties: [0x21, 0, 0] }],
    ["v5: Maximum Packet Size 0 (§3.1.2.11.4)", 5, { level: 5, clientId: "c", properties: [0x27, 0, 0, 0, 0] }]
  ]
  it.each(cases)("%s", async (_name, version, frame) => {
    const b = await broker()
    const r = await raw(b.port, version)
    r.send(connectFrame(frame))
    await r.expectClosed()
    // Closed at once; a CONNACK, if any, carries an error code (never a success).
    for (const p of r.received) expect(p.cmd === "connack" && codeOf(p as IConnackPacket) >= 0x80).toBe(true)
  })

  it("v5 allows a password without a user name (§3.1.2.9)", async () => {
    const b = await broker()
    const r = await raw(b.port, 5)
    r.send(connectFrame({ level: 5, flags: 0x42, clientId: "pw-only", rest: [str("secret")] }))
    expect(codeOf(await r.expect("connack"))).toBe(0)
  })

  it("nothing sent after a refused CONNECT is processed [MQTT-3.1.4-5]", async () => {
    const b = await broker()
    const sub = await connect(b.url, { clientId: "after-refusal-sub" })
    await sub.client.subscribeAsync("refused/#", { qos: 0 })
    const r = await raw(b.port, 4)
    const publish = Buffer.concat([Buffer.from([0x30, 2 + 9 + 4]), str("refused/x"), Buffer.from("oops")])
    // Empty id without clean session (refused 0x02), and a PUBLISH in the same write.
    r.send(Buffer.concat([connectFrame({ level: 4, flags: 0x00, clientId: "" }), publish]))
    expect((await r.expect("connack")).returnCode).toBe(0x02)
    await r.expectClosed()
    await sub.client.publishAsync("refused/sentinel", "sentinel", { qos: 1 })
    await sub.waitFor(1)
    expect(sub.messages.map((m) => m.payload)).toEqual(["sentinel"])
    await sub.end()
  })
})

describe("CONNACK bytes and pipelining", () => {
  it.each([3, 4] as const)("v%i: CONNACK is 20 02 <flags> 00; session present only in 3.1.1 (a reserved byte in 3.1) [MQTT-3.2.2-1]", async (version) => {
    const b = await broker()
    const expected = version === 4 ? "20020100" : "20020000"
    for (const [i, hex] of [[0, "20020000"], [1, expected]] as const) {
      const r = await raw(b.port, version)
      r.send(connectFrame({ level: version, flags: 0x00, clientId: `bytes-${version}` }))
      await r.expect("connack")
      expect(r.bytes.toString("hex"), `connection ${i}`).toBe(hex)
      await r.disconnect()
    }
  })

  it("a client may send packets right after CONNECT, before CONNACK: they run in order after it (persistent session on SQLite)", async () => {
    const b = await broker({ storage: "sqlite" })
    const r = await raw(b.port, 4)
    const connectBytes = connectFrame({ level: 4, flags: 0x00, clientId: "pipelined" })
    const subscribe = Buffer.concat([Buffer.from([0x82, 2 + 8 + 1, 0, 1]), str("pipe/#"), Buffer.from([1])])
    const publish = Buffer.concat([Buffer.from([0x32, 2 + 6 + 2 + 2]), str("pipe/a"), Buffer.from([0, 9]), Buffer.from("hi")])
    r.send(Buffer.concat([connectBytes, subscribe, publish]))
    expect((await r.expect("connack")).returnCode).toBe(0)
    expect((await r.expect("suback")).granted).toEqual([1])
    // Its own publish comes back (subscribed first) and is acknowledged; order between the two may vary.
    const next = [await r.nextPacket(), await r.nextPacket()].map((p) => p.cmd).sort()
    expect(next).toEqual(["puback", "publish"])
  })
})

describe("v5 CONNACK, more properties", () => {
  it("a Session Expiry Interval above limits.maxSessionExpiry is lowered and the CONNACK says so (§3.2.2.3.2)", async () => {
    const b = await broker({ limits: { maxSessionExpiry: 10 } })
    const r = await raw(b.port, 5)
    sendConnect(r, "exp-capped", { clean: false, properties: { sessionExpiryInterval: 3600 } })
    const connack = await r.expect("connack")
    expect(connack.properties?.sessionExpiryInterval).toBe(10)
    const ok = await raw(b.port, 5)
    sendConnect(ok, "exp-within", { clean: false, properties: { sessionExpiryInterval: 5 } })
    expect((await ok.expect("connack")).properties?.sessionExpiryInterval).toBeUndefined()
  })

  it("Request Response Information 1 gets Response Information; 0 gets none (§3.2.2.3.15)", async () => {
    const b = await broker()
    const asks = await raw(b.port, 5)
    sendConnect(asks, "rri", { properties: { requestResponseInformation: true } })
    const info = (await asks.expect("connack")).properties?.responseInformation
    expect(typeof info).toBe("string")
    expect(info!.length).toBeGreaterThan(0)
    const silent = await raw(b.port, 5)
    sendConnect(silent, "no-rri")
    expect((await silent.expect("connack")).properties?.responseInformation).toBeUndefined()
  })
})
