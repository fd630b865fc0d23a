/**
 * A remnant (src/cluster/Remnants.ts): messages another node owed a session while it held it,
 * merged into the session here by mergeRemnant. Through a real socket: a connected client gets
 * them as new deliveries under this session's packet ids, a QoS 2 exchange it began elsewhere
 * keeps its id (the PUBREL goes out), a remnant sent again is merged once, and one merged into
 * an offline session survives a restart and comes on reconnect.
 */
import { Effect } from "effect"
import type * as mqttPacket from "mqtt-packet"
import { describe, expect, it } from "vitest"
import type { QoS } from "../../domain/session/Session.js"
import { mergeRemnant, type MovedMessage } from "../../src/mqtt/engine/handOver.js"
import { Message } from "../../src/mqtt/engine/Message.js"
import { waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { RawClient } from "../support/RawClient.js"
import type { TestBroker } from "../support/TestBroker.js"

const { broker, adopt, track } = useBrokers()
const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } }

const owed = (payload: string, qos: QoS, packetId = 0, stage: 0 | 1 = 0): MovedMessage => ({
  message: new Message("r/x", Buffer.from(payload), qos, false, null, 0, "elsewhere", Date.now()),
  qos,
  retain: false,
  subscriptionIds: null,
  packetId,
  stage,
  group: null,
  at: null
})

const merge = async (b: TestBroker, clientId: string, key: string, messages: ReadonlyArray<MovedMessage>) => {
  const result = mergeRemnant(b.server.engine, b.server.engine.sessions.get(clientId)!, "n-dead", key, messages)
  if (result !== null && result.persist !== null) await Effect.runPromise(result.persist)
  return result
}

/** Reads packets until `count` PUBLISHes came, acknowledging each (PUBACK, or PUBREC then PUBCOMP). */
const receive = async (client: RawClient, count: number): Promise<{ publishes: Array<mqttPacket.IPublishPacket>; pubrels: Array<number> }> => {
  const publishes: Array<mqttPacket.IPublishPacket> = []
  const pubrels: Array<number> = []
  while (publishes.length < count) {
    const p = await client.nextPacket(5000)
    if (p.cmd === "publish") {
      publishes.push(p)
      if (p.qos === 1) client.sendPacket({ cmd: "puback", messageId: p.messageId! })
      if (p.qos === 2) client.sendPacket({ cmd: "pubrec", messageId: p.messageId! })
    } else if (p.cmd === "pubrel") {
      pubrels.push(p.messageId!)
      client.sendPacket({ cmd: "pubcomp", messageId: p.messageId! })
    }
  }
  return { publishes, pubrels }
}

describe("merging a remnant into a session", () => {
  it("a connected client gets the messages under this session's ids; a QoS 2 exchange begun elsewhere keeps its id; sent again, merged once", async () => {
    const b = await broker({ storage: "sqlite" })
    const { client } = await RawClient.handshake(b.port, 5, { clientId: "merged", ...persistent })
    track(client)
    client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 2 }] })
    await client.expect("suback")

    const remnant = [
      owed("q1-sent-elsewhere", 1, 700), // QoS 1 sent under 700 there: a new delivery here
      owed("q1-queued", 1),
      owed("q2-queued", 2),
      owed("q2-sent-elsewhere", 2, 900), // the client may hold it under 900: resent under 900, DUP
      owed("q2-released-elsewhere", 2, 901, 1) // PUBREC came there: only the PUBREL is owed
    ]
    const result = await merge(b, "merged", "n-dead@1#0", remnant)
    expect(result).toMatchObject({ merged: 5, dropped: 0 })
    // 4 PUBLISHes, and a PUBREL for 901, in some order (acknowledgements may bring more PUBRELs).
    const seen: Array<mqttPacket.Packet> = []
    const publishes: Array<mqttPacket.IPublishPacket> = []
    while (publishes.length < 4 || !seen.some((p) => p.cmd === "pubrel" && p.messageId === 901)) {
      const p = await client.nextPacket(5000)
      seen.push(p)
      if (p.cmd === "publish") {
        publishes.push(p)
        if (p.qos === 1) client.sendPacket({ cmd: "puback", messageId: p.messageId! })
        else client.sendPacket({ cmd: "pubrec", messageId: p.messageId! })
      } else if (p.cmd === "pubrel") client.sendPacket({ cmd: "pubcomp", messageId: p.messageId! })
    }
    const byPayload = new Map(publishes.map((p) => [String(p.payload), p]))
    expect([...byPayload.keys()].sort()).toEqual(["q1-queued", "q1-sent-elsewhere", "q2-queued", "q2-sent-elsewhere"])
    expect(byPayload.get("q2-sent-elsewhere")).toMatchObject({ messageId: 900, dup: true, qos: 2 })
    expect(byPayload.get("q1-sent-elsewhere")!.messageId).not.toBe(700)
    expect(byPayload.get("q2-queued")!.dup).toBe(false)
    const session = b.server.engine.sessions.get("merged")!
    const deadline = Date.now() + 5000
    while ((session.inflight?.size ?? 0) > 0 && Date.now() < deadline) {
      const p = await client.nextPacket(100).catch(() => null)
      if (p?.cmd === "pubrel") client.sendPacket({ cmd: "pubcomp", messageId: p.messageId! })
    }
    expect(session.inflight?.size ?? 0).toBe(0)

    // The same part again (its answer was lost): nothing more.
    expect(await merge(b, "merged", "n-dead@1#0", [owed("q1-queued", 1)])).toBe(null)
    await expect(client.nextPacket(500)).rejects.toThrow()
    expect(b.server.engine.sessions.get("merged")!.state.merged).toEqual(["n-dead@1#0"])
  })

  it("a PUBREL whose id this session uses for another message is not sent: the client owns that message", async () => {
    const b = await broker({ storage: "sqlite" })
    const { client } = await RawClient.handshake(b.port, 5, { clientId: "clash", ...persistent })
    track(client)
    client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 2 }] })
    await client.expect("suback")
    await merge(b, "clash", "k#0", [owed("first", 2)])
    const first = await client.expect("publish", 5000) // not acknowledged: its id stays in use
    const result = await merge(b, "clash", "k#1", [owed("released-elsewhere", 2, first.messageId!, 1), owed("after", 2, first.messageId!)])
    expect(result).toMatchObject({ merged: 1, dropped: 1 })
    const next = await client.expect("publish", 5000)
    expect(String(next.payload)).toBe("after")
    expect(next.messageId).not.toBe(first.messageId) // a new id: that one is taken here
  })

  it("merged into an offline session, the messages survive a restart and come on reconnect, and the key still stops a repeat", async () => {
    let b = await broker({ storage: "segment" })
    const { client: first } = await RawClient.handshake(b.port, 5, { clientId: "away", ...persistent })
    first.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 1 }] })
    await first.expect("suback")
    first.sendPacket({ cmd: "disconnect", reasonCode: 0 })
    await waitUntil(() => b.server.engine.sessions.get("away")?.conn === null, 5000, () => "the session to go offline")

    const payloads = Array.from({ length: 30 }, (_, i) => `m${i}`)
    expect(await merge(b, "away", "n-dead@7#0", payloads.map((p) => owed(p, 1)))).toMatchObject({ merged: 30 })
    b = adopt(await b.restart())
    expect(await merge(b, "away", "n-dead@7#0", [owed("again", 1)])).toBe(null)

    const { client: back, connack } = await RawClient.handshake(b.port, 5, { clientId: "away", ...persistent })
    track(back)
    expect(connack.sessionPresent).toBe(true)
    const { publishes } = await receive(back, 30)
    expect(publishes.map((p) => String(p.payload))).toEqual(payloads)
    // On their own topic: read back from the internal partition they were stored in, not named after it.
    expect(new Set(publishes.map((p) => p.topic))).toEqual(new Set(["r/x"]))
    await expect(back.nextPacket(500)).rejects.toThrow()
  })
})
