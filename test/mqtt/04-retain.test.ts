/**
 * Retained messages, for MQTT 3.1.1 (level 4) and 5: store, replace, clear; the retain flag on
 * what subscribers get; v5 Retain Handling, Retain As Published and Message Expiry. Clause numbers
 * are MQTT 5's unless marked 3.1.1.
 */
import type { IPublishPacket } from "mqtt"
import { beforeEach, describe, expect, it } from "vitest"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import type { TestBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"

const life = useBrokers()
let broker: TestBroker
beforeEach(async () => {
  broker = await life.broker()
})

const MARKER = "marker"

describe.each([4, 5] as const)("retained messages (MQTT v%i)", (version) => {
  const client = async (opts: Parameters<typeof connect>[1] = {}) => {
    const c = await connect(broker.url, { protocolVersion: version, ...opts })
    life.track(c)
    return c
  }
  /** Publishes the marker (not retained) from `pub`; `sub` must be subscribed to it. */
  const received = async (sub: TestClient, pub: TestClient) => {
    const before = sub.messages.filter((m) => m.topic === MARKER).length
    await pub.client.publishAsync(MARKER, "", { qos: 1 })
    await waitUntil(() => sub.messages.filter((m) => m.topic === MARKER).length > before, 3000, () => "marker")
    const out = sub.messages.filter((m) => m.topic !== MARKER)
    sub.messages.length = 0
    return out
  }
  const subscribe = async (filter: string, opts: Record<string, unknown> = { qos: 1 }) => {
    const c = await client()
    await c.client.subscribeAsync(filter, opts as never)
    await c.client.subscribeAsync(MARKER, { qos: 1 })
    return c
  }

  it("stores, replaces and clears (empty payload) the retained message of a topic [MQTT-3.3.1-5], [MQTT-3.3.1-6], [MQTT-3.3.1-7]", async () => {
    const pub = await client()
    await pub.client.publishAsync("r/a", "first", { qos: 1, retain: true })
    await pub.client.publishAsync("r/a", "second", { qos: 1, retain: true })
    await pub.client.publishAsync("r/b", "other", { qos: 0, retain: true })
    await pub.client.publishAsync("r/c", "not retained", { qos: 1 })
    const s1 = await subscribe("r/#")
    const got = await received(s1, pub)
    expect(got.map((m) => [m.topic, m.payload, m.packet.retain]).sort()).toEqual([
      ["r/a", "second", true],
      ["r/b", "other", true]
    ])

    // The empty retained message reaches current subscribers, then is gone [MQTT-3.3.1-6].
    await pub.client.publishAsync("r/a", "", { qos: 1, retain: true })
    const live = await received(s1, pub)
    expect(live.map((m) => [m.topic, m.payload])).toEqual([["r/a", ""]])
    const s2 = await subscribe("r/#")
    expect((await received(s2, pub)).map((m) => [m.topic, m.payload])).toEqual([["r/b", "other"]])
    const s3 = await subscribe("r/a")
    expect(await received(s3, pub)).toEqual([])
  })

  it(
    version === 5
      ? "flags retained messages sent on subscribe; live messages keep RETAIN only with Retain As Published [MQTT-3.3.1-12], [MQTT-3.3.1-13]"
      : "flags retained messages sent on subscribe; live messages to existing subscribers have RETAIN 0 [MQTT-3.3.1-8], [MQTT-3.3.1-9] (3.1.1)",
    async () => {
      const pub = await client()
      await pub.client.publishAsync("rf/x", "stored", { qos: 1, retain: true })
      const plain = await subscribe("rf/x")
      const rap = version === 5 ? await subscribe("rf/x", { qos: 1, rap: true }) : null
      const onSubscribe = await received(plain, pub)
      expect(onSubscribe.map((m) => [m.payload, m.packet.retain])).toEqual([["stored", true]])
      if (rap !== null) expect((await received(rap, pub)).map((m) => [m.payload, m.packet.retain])).toEqual([["stored", true]])

      await pub.client.publishAsync("rf/x", "live retained", { qos: 1, retain: true })
      await pub.client.publishAsync("rf/x", "live plain", { qos: 1 })
      expect((await received(plain, pub)).map((m) => [m.payload, m.packet.retain])).toEqual([
        ["live retained", false],
        ["live plain", false]
      ])
      if (rap !== null) {
        expect((await received(rap, pub)).map((m) => [m.payload, m.packet.retain])).toEqual([
          ["live retained", true],
          ["live plain", false]
        ])
      }
    }
  )

  it("sends a retained message at the minimum of its QoS and the granted QoS [MQTT-3.3.1-9], [MQTT-3.8.4-8]", async () => {
    const pub = await client()
    await pub.client.publishAsync("rq/two", "q2", { qos: 2, retain: true })
    await pub.client.publishAsync("rq/zero", "q0", { qos: 0, retain: true })
    const at1 = await subscribe("rq/#", { qos: 1 })
    const at2 = await subscribe("rq/#", { qos: 2 })
    const q = (ms: Array<{ topic: string; packet: IPublishPacket }>) => Object.fromEntries(ms.map((m) => [m.topic, m.packet.qos]))
    expect(q(await received(at1, pub))).toEqual({ "rq/two": 1, "rq/zero": 0 })
    expect(q(await received(at2, pub))).toEqual({ "rq/two": 2, "rq/zero": 0 })
  })

  if (version === 5) it("Retain Handling 0 sends on every subscribe, 1 only for a new subscription, 2 never [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11]", async () => {
    const pub = await client()
    await pub.client.publishAsync("rh/x", "kept", { qos: 1, retain: true })
    const payloads = (ms: Array<{ payload: string }>) => ms.map((m) => m.payload)

    const rh0 = await subscribe("rh/x", { qos: 1, rh: 0 })
    expect(payloads(await received(rh0, pub))).toEqual(["kept"])
    await rh0.client.subscribeAsync("rh/x", { qos: 1, rh: 0 })
    expect(payloads(await received(rh0, pub))).toEqual(["kept"])

    const rh1 = await subscribe("rh/x", { qos: 1, rh: 1 })
    expect(payloads(await received(rh1, pub))).toEqual(["kept"])
    await rh1.client.subscribeAsync("rh/x", { qos: 1, rh: 1 })
    expect(payloads(await received(rh1, pub))).toEqual([])

    const rh2 = await subscribe("rh/x", { qos: 1, rh: 2 })
    expect(payloads(await received(rh2, pub))).toEqual([])
    // Retain handling governs only the retained copy: live messages still arrive.
    await pub.client.publishAsync("rh/x", "live", { qos: 1 })
    expect(payloads(await received(rh2, pub))).toEqual(["live"])
  })

  if (version === 5) it("does not send retained messages to a shared subscription (MQTT 5 §4.8.2)", async () => {
    const pub = await client()
    await pub.client.publishAsync("rs/x", "kept", { qos: 1, retain: true })
    const member = await subscribe("$share/g/rs/x")
    expect(await received(member, pub)).toEqual([])
  })

  if (version === 5) it("drops a retained message once its Message Expiry Interval has passed [MQTT-3.3.2-5]", async () => {
    const pub = await client()
    await pub.client.publishAsync("rx/short", "short", { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
    await pub.client.publishAsync("rx/long", "long", { qos: 1, retain: true, properties: { messageExpiryInterval: 60 } })
    const early = await subscribe("rx/#")
    const first = await received(early, pub)
    expect(first.map((m) => m.topic).sort()).toEqual(["rx/long", "rx/short"])
    for (const m of first) {
      const left = m.packet.properties?.messageExpiryInterval
      expect(left).toBeGreaterThan(0)
      expect(left).toBeLessThanOrEqual(m.topic === "rx/short" ? 1 : 60) // [MQTT-3.3.2-6] what is left
    }
    await new Promise((r) => setTimeout(r, 1100))
    const late = await subscribe("rx/#")
    expect((await received(late, pub)).map((m) => m.topic)).toEqual(["rx/long"])
  })
})
