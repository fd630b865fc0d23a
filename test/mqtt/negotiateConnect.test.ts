/** CONNECT's pure rules (src/mqtt/handlers/negotiateConnect.ts): refusals, violations, settings. */
import { describe, expect, it } from "vitest"
import { defaultConfig } from "../../config/BrokerConfigShape.js"
import { ReasonCode } from "../../domain/ReasonCode.js"
import { NEVER_EXPIRES } from "../../domain/session/Session.js"
import type { IConnectPacket } from "../../src/mqtt/codec/packets.js"
import { connackProperties, type ConnectSettings, type ConnectTerms, negotiateConnect } from "../../src/mqtt/handlers/negotiateConnect.js"

const limits = { ...defaultConfig.limits, maxConnections: 10, maxSessionExpiry: 3600, maxInflight: 50 }
const terms = (over: Partial<ConnectTerms> = {}): ConnectTerms => ({
  limits,
  maxKeepalive: 0,
  connected: 0,
  now: 1_000_000,
  newClientId: () => "auto-1",
  ...over
})
const connect = (over: Partial<IConnectPacket> = {}): IConnectPacket =>
  ({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "c1", clean: true, keepalive: 30, ...over }) as IConnectPacket

const accepted = (packet: IConnectPacket, t = terms()): ConnectSettings => {
  const n = negotiateConnect(packet, t)
  if (n._tag !== "Accepted") throw new Error(`expected Accepted, got ${n._tag} 0x${n.reason.toString(16)}`)
  return n.settings
}

describe("negotiateConnect: refusals (CONNACK, then close)", () => {
  const cases: ReadonlyArray<[string, IConnectPacket, ConnectTerms, number]> = [
    ["an authentication method (no enhanced auth)", connect({ protocolVersion: 5, properties: { authenticationMethod: "SCRAM" } }), terms(), ReasonCode.BadAuthenticationMethod],
    ["3.1.1 empty client id without clean session", connect({ clientId: "", clean: false }), terms(), ReasonCode.ClientIdentifierNotValid],
    ["3.1 empty client id", connect({ protocolVersion: 3, protocolId: "MQIsdp", clientId: "" }), terms(), ReasonCode.ClientIdentifierNotValid],
    ["3.1 client id over 23 characters", connect({ protocolVersion: 3, protocolId: "MQIsdp", clientId: "x".repeat(24) }), terms(), ReasonCode.ClientIdentifierNotValid],
    ["limits.max_connections reached", connect(), terms({ connected: 10 }), ReasonCode.QuotaExceeded],
    ["v3 keepalive over mqtt.max_keepalive", connect({ keepalive: 120 }), terms({ maxKeepalive: 60 }), ReasonCode.ClientIdentifierNotValid],
    ["a will topic with a wildcard", connect({ will: { topic: "a/#", payload: Buffer.from("x"), qos: 0, retain: false } }), terms(), ReasonCode.TopicNameInvalid],
    [
      "a will payload that is not the UTF-8 it claims",
      connect({ protocolVersion: 5, will: { topic: "w", payload: Buffer.from([0xff, 0xfe]), qos: 0, retain: false, properties: { payloadFormatIndicator: true } } }),
      terms(),
      ReasonCode.PayloadFormatInvalid
    ]
  ]
  for (const [what, packet, t, reason] of cases) {
    it(what, () => expect(negotiateConnect(packet, t)).toEqual({ _tag: "Refused", reason }))
  }
})

describe("negotiateConnect: violations (closed without CONNACK)", () => {
  it("a Receive Maximum or Maximum Packet Size of 0", () => {
    expect(negotiateConnect(connect({ protocolVersion: 5, properties: { receiveMaximum: 0 } }), terms())).toEqual({ _tag: "Violation", reason: ReasonCode.ProtocolError })
    expect(negotiateConnect(connect({ protocolVersion: 5, properties: { maximumPacketSize: 0 } }), terms())).toEqual({ _tag: "Violation", reason: ReasonCode.ProtocolError })
  })
  it("a 3.1.1 password without a user name, but not in v5 [MQTT-3.1.2-22]", () => {
    expect(negotiateConnect(connect({ password: Buffer.from("p") }), terms())).toEqual({ _tag: "Violation", reason: ReasonCode.MalformedPacket })
    expect(negotiateConnect(connect({ protocolVersion: 5, password: Buffer.from("p") }), terms())._tag).toBe("Accepted")
  })
  it("a will QoS of 3 [MQTT-3.1.2-14]", () => {
    const packet = connect({ will: { topic: "w", payload: Buffer.from("x"), qos: 3 as never, retain: false } })
    expect(negotiateConnect(packet, terms())).toEqual({ _tag: "Violation", reason: ReasonCode.MalformedPacket })
  })
})

describe("negotiateConnect: accepted settings", () => {
  it("v5 with an empty client id is named by the broker and told so in CONNACK", () => {
    const s = accepted(connect({ protocolVersion: 5, clientId: "" }))
    expect(s.clientId).toBe("auto-1")
    expect(s.assignedClientId).toBe("auto-1")
    expect(connackProperties(s, limits)).toMatchObject({ assignedClientIdentifier: "auto-1", receiveMaximum: limits.receiveMaximum })
  })
  it("3.1.1 with an empty id and a clean session gets an id it is not told", () => {
    const s = accepted(connect({ clientId: "" }))
    expect(s.clientId).toBe("auto-1")
    expect(s.assignedClientId).toBeUndefined()
    expect(connackProperties(s, limits)).toBeUndefined()
  })
  it("mqtt.max_keepalive replaces a v5 client's 0 or longer keepalive, and CONNACK says so", () => {
    for (const keepalive of [0, 600]) {
      const s = accepted(connect({ protocolVersion: 5, keepalive }), terms({ maxKeepalive: 60 }))
      expect(s.keepalive).toBe(60)
      expect(connackProperties(s, limits)?.serverKeepAlive).toBe(60)
    }
    expect(accepted(connect({ keepalive: 30 }), terms({ maxKeepalive: 60 })).serverKeepAlive).toBeUndefined()
  })
  it("session expiry: v5 capped at limits.max_session_expiry (and told), v3 persistent never expires", () => {
    const v5 = accepted(connect({ protocolVersion: 5, properties: { sessionExpiryInterval: 86400 } }))
    expect([v5.expiry, v5.expiryCapped]).toEqual([3600, true])
    expect(connackProperties(v5, limits)?.sessionExpiryInterval).toBe(3600)
    expect(accepted(connect({ clean: false })).expiry).toBe(NEVER_EXPIRES)
    expect(accepted(connect({ clean: true })).expiry).toBe(0)
  })
  it("the send window is the smaller of limits.max_inflight and the client's Receive Maximum", () => {
    expect(accepted(connect({ protocolVersion: 5, properties: { receiveMaximum: 5 } })).sendQuota).toBe(5)
    expect(accepted(connect({ protocolVersion: 5, properties: { receiveMaximum: 500 } })).sendQuota).toBe(50)
    expect(accepted(connect()).sendQuota).toBe(50)
  })
  it("topic aliases and Maximum Packet Size only from v5; response information on request", () => {
    const s = accepted(connect({ protocolVersion: 5, properties: { topicAliasMaximum: 8, maximumPacketSize: 4096, requestResponseInformation: true } }))
    expect([s.topicAliasMaximum, s.clientMaxPacketSize]).toEqual([8, 4096])
    expect(connackProperties(s, limits)?.responseInformation).toBe("response/c1")
    expect(accepted(connect({ properties: { topicAliasMaximum: 8 } } as never)).topicAliasMaximum).toBe(0)
  })
  it("a will becomes a Message published by the client, with its delay, expiry and user properties in order", () => {
    const s = accepted(
      connect({
        protocolVersion: 5,
        will: {
          topic: "status/c1",
          payload: Buffer.from("offline"),
          qos: 1,
          retain: true,
          properties: { willDelayInterval: 30, messageExpiryInterval: 10, userProperties: { a: ["1", "2"], b: "3" } }
        }
      })
    )
    expect(s.will!.delay).toBe(30)
    const m = s.will!.message
    expect([m.topic, m.payload.toString(), m.qos, m.retain, m.expiresAt]).toEqual(["status/c1", "offline", 1, true, 1_000_000 + 10_000])
    expect(m.properties!.userProperties).toEqual([["a", "1"], ["a", "2"], ["b", "3"]])
  })
})
