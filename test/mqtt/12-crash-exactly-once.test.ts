/**
 * QoS 2 exactly once, and QoS 1 without needless repeats, across a broker crash: the real
 * executable is SIGKILLed right after the protocol exchanges (well inside the checkpoint
 * period, so only the progress journal can carry what happened) and restarted on the same data,
 * on both durable storage kinds. Clients are packet-level (RawClient), so every packet id, DUP
 * flag and acknowledgement is under the test's control.
 */
import type * as mqttPacket from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { useBrokerProcesses } from "../support/BrokerProcess.js"
import { quiet } from "../support/clients.js"
import { RawClient } from "../support/RawClient.js"

const { dataDir, start, kill } = useBrokerProcesses()
const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } }

const publish = (c: RawClient, messageId: number, payload: string, qos: 1 | 2, dup = false) =>
  c.sendPacket({ cmd: "publish", topic: "eo/t", payload, qos, messageId, dup, retain: false })

/** Sends PUBLISH and waits for its PUBREC; then PUBREL and PUBCOMP unless `release` is false. */
const publishQos2 = async (c: RawClient, messageId: number, payload: string, release = true, dup = false) => {
  publish(c, messageId, payload, 2, dup)
  const rec = await c.expect("pubrec")
  expect(rec.messageId).toBe(messageId)
  expect(rec.reasonCode ?? 0).toBe(0)
  if (!release) return
  c.sendPacket({ cmd: "pubrel", messageId })
  const comp = await c.expect("pubcomp")
  expect([comp.messageId, comp.reasonCode ?? 0]).toEqual([messageId, 0])
}

/** Reads PUBLISHes until `count` arrived, completing QoS 2 ones unless `hold` says otherwise. */
const drain = async (c: RawClient, count: number) => {
  const got: Array<mqttPacket.IPublishPacket> = []
  while (got.length < count) {
    const p = await c.nextPacket(5000)
    if (p.cmd === "pubrel") {
      c.sendPacket({ cmd: "pubcomp", messageId: p.messageId! })
      continue
    }
    if (p.cmd !== "publish") throw new Error(`unexpected ${p.cmd}`)
    got.push(p)
    if (p.qos === 1) c.sendPacket({ cmd: "puback", messageId: p.messageId! })
    if (p.qos === 2) c.sendPacket({ cmd: "pubrec", messageId: p.messageId! })
  }
  return got
}

describe.each(["sqlite", "segment"] as const)("exactly once across a crash (SIGKILL, %s)", (storage) => {
  it("inbound QoS 2: a PUBLISH retried after the crash is stored once; an id completed before it is free again", async () => {
    const dir = dataDir()
    const a = await start(dir, { storage })
    const sub = await RawClient.handshake(a.port, 5, { clientId: "eo-sub", ...persistent })
    sub.client.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "eo/#", qos: 2 }] })
    await sub.client.expect("suback")
    await sub.client.disconnect()
    const pub = (await RawClient.handshake(a.port, 5, { clientId: "eo-pub", ...persistent })).client
    await publishQos2(pub, 1, "a") // completed: id 1 is free again
    await publishQos2(pub, 2, "b", false) // PUBREC'd, PUBREL not sent yet
    await kill(a)

    const b = await start(dir, { storage, port: a.port })
    const back = await RawClient.handshake(b.port, 5, { clientId: "eo-pub", ...persistent })
    expect(back.connack.sessionPresent).toBe(true)
    await publishQos2(back.client, 2, "b", true, true) // the retry: acknowledged, not stored again
    await publishQos2(back.client, 1, "c") // a new message reusing id 1
    const reader = await RawClient.handshake(b.port, 5, { clientId: "eo-sub", ...persistent })
    const got = await drain(reader.client, 3)
    await quiet(300)
    expect(got.map((p) => String(p.payload))).toEqual(["a", "b", "c"])
    expect(reader.client.pending.filter((p) => p.cmd === "publish")).toEqual([])
    for (const c of [back.client, reader.client]) await c.destroy()
  })

  it("a share group: messages queued for its offline members are each delivered once, to one member", async () => {
    const dir = dataDir()
    const a = await start(dir, { storage })
    for (const id of ["eo-m1", "eo-m2"]) {
      const m = (await RawClient.handshake(a.port, 5, { clientId: id, ...persistent })).client
      m.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "$share/g/eo/#", qos: 2 }] })
      await m.expect("suback")
      await m.disconnect()
    }
    const pub = (await RawClient.handshake(a.port, 5, { clientId: "eo-share-pub", clean: true })).client
    for (let i = 0; i < 10; i++) await publishQos2(pub, i + 1, `s${i}`)
    await kill(a)

    const b = await start(dir, { storage, port: a.port })
    const got: Array<string> = []
    for (const id of ["eo-m1", "eo-m2"]) {
      const m = (await RawClient.handshake(b.port, 5, { clientId: id, ...persistent })).client
      got.push(...(await drain(m, 5)).map((p) => String(p.payload)))
      await quiet(200)
      expect(m.pending.filter((p) => p.cmd === "publish")).toEqual([])
      await m.destroy()
    }
    expect(got.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`).sort())
  })

  it("outbound: completed messages are not sent again, in-flight ones are resent with DUP under their ids, PUBREL after PUBREC", async () => {
    const dir = dataDir()
    const a = await start(dir, { storage })
    const sub = (await RawClient.handshake(a.port, 5, { clientId: "eo-out", ...persistent })).client
    sub.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "eo/#", qos: 2 }] })
    await sub.expect("suback")
    const pub = (await RawClient.handshake(a.port, 5, { clientId: "eo-src", clean: true })).client
    for (const [i, payload] of ["q2-done", "q2-received", "q2-sent"].entries()) await publishQos2(pub, i + 1, payload)
    publish(pub, 10, "q1-acked", 1)
    await pub.expect("puback")
    publish(pub, 11, "q1-sent", 1)
    await pub.expect("puback")

    const sent = new Map<string, mqttPacket.IPublishPacket>()
    for (let i = 0; i < 5; i++) {
      const p = await sub.expect("publish")
      sent.set(String(p.payload), p)
    }
    const id = (payload: string) => sent.get(payload)!.messageId!
    sub.sendPacket({ cmd: "pubrec", messageId: id("q2-done") })
    expect((await sub.expect("pubrel")).messageId).toBe(id("q2-done"))
    sub.sendPacket({ cmd: "pubcomp", messageId: id("q2-done") })
    sub.sendPacket({ cmd: "pubrec", messageId: id("q2-received") })
    expect((await sub.expect("pubrel")).messageId).toBe(id("q2-received"))
    sub.sendPacket({ cmd: "puback", messageId: id("q1-acked") })
    await quiet(100) // the group commit carries the last acknowledgements
    await kill(a)

    const b = await start(dir, { storage, port: a.port })
    const back = await RawClient.handshake(b.port, 5, { clientId: "eo-out", ...persistent })
    expect(back.connack.sessionPresent).toBe(true)
    const again: Array<mqttPacket.Packet> = []
    for (let i = 0; i < 3; i++) again.push(await back.client.nextPacket(5000))
    await quiet(300)
    expect(back.client.pending).toEqual([])
    const summary = again.map((p) =>
      p.cmd === "publish" ? `publish ${String(p.payload)} id=${p.messageId === id(String(p.payload)) ? "same" : p.messageId} dup=${p.dup}` : `${p.cmd} id=${p.messageId === id("q2-received") ? "same" : p.messageId}`
    )
    expect(summary.sort()).toEqual([
      "publish q1-sent id=same dup=true",
      "publish q2-sent id=same dup=true",
      "pubrel id=same"
    ])
    for (const c of [back.client, pub]) await c.destroy()
  })
})
