/**
 * The three inputs with which one anonymous connection used to kill the whole broker (issue 8),
 * sent as exact bytes over raw sockets to the real executable in a child process, so a crash
 * shows as the process exiting. After each, the process still runs, the hostile connection was
 * closed with the protocol's reason, and an MQTT.js bystander pair (publisher and subscriber on
 * their own connections) still gets every message through. Last, a fault injected into the
 * in-process engine shows what any remaining handler bug costs: that connection, and one count.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { inputFaults } from "../../src/net/inputFaults.js"
import { startBrokerProcess, type BrokerProcess } from "../support/startBrokerProcess.js"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { connectFrame, RawClient, str, varint, type Version } from "../support/RawClient.js"

const frame = (byte0: number, body: ReadonlyArray<number> | Buffer): Buffer => {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body)
  return Buffer.concat([Buffer.from([byte0, ...varint(b.length)]), b])
}

const qos1Publish = (topic: string, packetId: number, payload: Buffer): Buffer =>
  frame(0x32, Buffer.concat([str(topic), Buffer.from([packetId >> 8, packetId & 0xff, 0]), payload]))

const qos2Publish = (topic: string, packetId: number, version: Version): Buffer =>
  frame(0x34, Buffer.concat([str(topic), Buffer.from([packetId >> 8, packetId & 0xff]), Buffer.from(version === 5 ? [0] : []), Buffer.from("late")]))

describe("hostile input that used to kill the broker (issue 8)", () => {
  let dir: string
  let broker: BrokerProcess
  let pub: TestClient
  let sub: TestClient
  let sent = 0

  beforeAll(async () => {
    dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-hostile-"))
    broker = await startBrokerProcess(dir, {
      kafkaPort: null,
      storage: "memory",
      env: { ROBUSTMQ_LIMITS_INCOMPLETE_REQUEST_TIMEOUT_MS: "600" }
    })
    const url = `mqtt://127.0.0.1:${broker.port}`
    sub = await connect(url, { protocolVersion: 5, clientId: "bystander-sub" })
    await sub.client.subscribeAsync("bystander/#", { qos: 1 })
    pub = await connect(url, { protocolVersion: 4, clientId: "bystander-pub" })
  })

  afterAll(async () => {
    await pub?.end()
    await sub?.end()
    await broker?.stop()
    Fs.rmSync(dir, { recursive: true, force: true })
  })

  /** The broker process lives and the bystanders still get a QoS 1 message through. */
  const bystandersServed = async () => {
    expect(broker.exit()).toBeNull()
    const n = sent++
    await pub.client.publishAsync("bystander/tick", String(n), { qos: 1 })
    await waitUntil(() => sub.messages.some((m) => m.payload === String(n)), 3000, () => `tick ${n}; broker output: ${broker.output().slice(-2000)}`)
    expect(pub.client.connected && sub.client.connected).toBe(true)
  }

  it.each([4, 5] as const)("an UNSUBSCRIBE with no topic filter is a protocol error (v%i) [MQTT-3.10.3-2]", async (version) => {
    const { client } = await RawClient.handshake(broker.port, version, { clientId: `unsub-empty-${version}` })
    // Packet id 1, (v5: property length 0), and no filter at all.
    client.send(frame(0xa2, version === 5 ? [0, 1, 0] : [0, 1]))
    await client.expectClosed()
    const after = client.received.slice(1)
    if (version === 5) expect(after.map((p) => [p.cmd, (p as { reasonCode?: number }).reasonCode])).toEqual([["disconnect", 0x82]])
    else expect(after).toEqual([]) // no UNSUBACK: 3.1.1 closes
    await bystandersServed()
  })

  it("a v5 UNSUBSCRIBE whose property length swallows the filter is refused", async () => {
    const { client } = await RawClient.handshake(broker.port, 5, { clientId: "unsub-swallowed" })
    // A User Property ("a" = "b") takes the bytes where a filter would be: no filter is left.
    client.send(frame(0xa2, [0, 1, 7, 0x26, 0, 1, 0x61, 0, 1, 0x62]))
    await client.expectClosed()
    expect(client.received.slice(1).map((p) => p.cmd)).toEqual(["disconnect"])
    await bystandersServed()
  })

  it("a SUBSCRIBE with no topic filter is a protocol error [MQTT-3.8.3-3]", async () => {
    const { client } = await RawClient.handshake(broker.port, 5, { clientId: "sub-empty" })
    client.send(frame(0x82, [0, 1, 0]))
    await client.expectClosed()
    expect(client.received.slice(1).map((p) => [p.cmd, (p as { reasonCode?: number }).reasonCode])).toEqual([["disconnect", 0x82]])
    await bystandersServed()
  })

  it("a v5 CONNECT repeating Session Expiry Interval is refused (§3.1.2.11.2 Protocol Error)", async () => {
    const client = await RawClient.connect(broker.port, 5)
    client.send(connectFrame({ level: 5, clientId: "twice", properties: [0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2] }))
    await client.expectClosed()
    expect(client.received.filter((p) => p.cmd === "connack" && (p as { reasonCode?: number }).reasonCode === 0)).toEqual([])
    await bystandersServed()
  })

  it.each([
    ["Receive Maximum", [0x21, 0, 5, 0x21, 0, 6]],
    ["Maximum Packet Size", [0x27, 0, 0, 1, 0, 0x27, 0, 0, 2, 0]],
    ["Topic Alias Maximum", [0x22, 0, 1, 0x22, 0, 2]],
    ["Request Problem Information", [0x17, 1, 0x17, 0]],
    ["Session Expiry Interval, the first 0", [0x11, 0, 0, 0, 0, 0x11, 0, 0, 0, 9]]
  ])("a v5 CONNECT repeating %s is refused", async (_name, properties) => {
    const client = await RawClient.connect(broker.port, 5)
    client.send(connectFrame({ level: 5, clientId: "twice", properties }))
    await client.expectClosed()
    expect(client.received.filter((p) => p.cmd === "connack" && (p as { reasonCode?: number }).reasonCode === 0)).toEqual([])
    await bystandersServed()
  })

  it("a v5 CONNECT carrying a property not allowed in CONNECT (Topic Alias) is malformed (§2.2.2.2)", async () => {
    const client = await RawClient.connect(broker.port, 5)
    client.send(connectFrame({ level: 5, clientId: "alias", properties: [0x23, 0, 1] }))
    await client.expectClosed()
    expect(client.received.filter((p) => p.cmd === "connack" && (p as { reasonCode?: number }).reasonCode === 0)).toEqual([])
    await bystandersServed()
  })

  it.each([4, 5] as const)("nothing is handled after a close is decided: QoS 2 PUBLISHes sent after a protocol error (v%i)", async (version) => {
    for (let round = 0; round < 5; round++) {
      const { client } = await RawClient.handshake(broker.port, version, { clientId: `after-close-${version}-${round}` })
      // A wildcard in a PUBLISH topic name [MQTT-3.3.2-2] makes the broker close ...
      client.send(frame(0x32, Buffer.concat([str("bad/+"), Buffer.from([0, 9]), Buffer.from(version === 5 ? [0] : []), Buffer.from("x")])))
      // ... and QoS 2 PUBLISHes keep coming in separate reads while the close is under way.
      for (let i = 1; i <= 20 && !client.isClosed; i++) {
        client.send(qos2Publish("after/close", i, version))
        await new Promise((r) => setImmediate(r))
      }
      await client.expectClosed()
      // No PUBREC for anything after the error. (The v5 DISCONNECT may be lost: bytes still
      // arriving when the broker destroys the socket make the kernel answer with a reset.)
      const cmds = client.received.slice(1).map((p) => p.cmd)
      expect(cmds.filter((c) => c !== "disconnect")).toEqual([])
    }
    await bystandersServed()
  })

  it.each([4, 5] as const)("closes a connection whose packet dribbles in slower than limits.incomplete_request_timeout_ms (v%i)", async (version) => {
    const { client } = await RawClient.handshake(broker.port, version, { clientId: `slowloris-${version}` })
    const packet = qos2Publish("slow/loris", 1, version)
    const padded = Buffer.concat([packet.subarray(0, 1), Buffer.from(varint(packet.length + 200 - 2)), packet.subarray(2), Buffer.alloc(200, 0x61)])
    let sent = 0
    const dribble = setInterval(() => {
      if (!client.isClosed && sent < padded.length) client.send(padded.subarray(sent, ++sent))
    }, 40)
    try {
      await client.expectClosed(3_000)
    } finally {
      clearInterval(dribble)
    }
    expect(sent).toBeLessThan(padded.length)
    expect(client.received.slice(1).filter((p) => p.cmd !== "disconnect")).toEqual([]) // never handled
    await bystandersServed()
  })

  it("refuses a declared 256 MB packet as soon as its fixed header is read", async () => {
    const { client } = await RawClient.handshake(broker.port, 5, { clientId: "huge" })
    client.send([0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, 0x61])
    await client.expectClosed(1_000)
    expect(client.received.slice(1).map((p) => [p.cmd, (p as { reasonCode?: number }).reasonCode])).toEqual([["disconnect", 0x95]])
    await bystandersServed()
  })
})

describe("a throw while handling one connection's input (fault injected in-process)", () => {
  const { broker, track } = useBrokers()

  it.each([4, 5] as const)("closes that connection only (v5: DISCONNECT 0x82), counts it, and the next publish works (v%i)", async (version) => {
    const b = await broker()
    const sub = track(await connect(b.url, { protocolVersion: 5, clientId: "thrown-sub" }))
    await sub.client.subscribeAsync("thrown/#", { qos: 1 })
    const engine = b.server.engine
    const publish = engine.publish
    const before = inputFaults.mqttHandlerThrew
    engine.publish = () => {
      engine.publish = publish // once
      throw new Error("injected fault")
    }
    const { client } = await RawClient.handshake(b.port, version, { clientId: `thrower-${version}` })
    track(client)
    client.sendPacket({ cmd: "publish", topic: "thrown/x", payload: Buffer.from("boom"), qos: 1, messageId: 1, retain: false, dup: false })
    // Pipelined behind it: must not be handled once the close is decided.
    client.sendPacket({ cmd: "publish", topic: "thrown/x", payload: Buffer.from("after"), qos: 1, messageId: 2, retain: false, dup: false })
    await client.expectClosed()
    const after = client.received.slice(1).map((p) => [p.cmd, (p as { reasonCode?: number }).reasonCode])
    expect(after).toEqual(version === 5 ? [["disconnect", 0x82]] : [])
    expect(inputFaults.mqttHandlerThrew - before).toBe(1)
    const pub = track(await connect(b.url, { protocolVersion: 4, clientId: "thrown-pub" }))
    await pub.client.publishAsync("thrown/ok", "fine", { qos: 1 })
    await sub.waitFor(1)
    expect(sub.messages.map((m) => m.payload)).toEqual(["fine"])
  })
})

describe("packets being received share mqtt.queued_max_packet_bytes (in-process)", () => {
  const { broker, track } = useBrokers()

  it("a split packet the budget cannot hold closes its connection with 0x97; once bytes are freed, packets (even one larger than the budget) get through", async () => {
    const b = await broker({ mqtt: { queuedMaxPacketBytes: 64 * 1024 }, limits: { maxPacketSize: 200_000 } })
    const before = inputFaults.mqttBudgetRefusals
    const publish = (id: number, size: number) => qos1Publish(`budget/${id}`, id, Buffer.alloc(size, 0x61))
    // The hog declares a 60,000-byte PUBLISH and sends 10 bytes of it: 60,000 reserved.
    const hog = track((await RawClient.handshake(b.port, 5, { clientId: "hog" })).client)
    hog.send(publish(1, 60_000).subarray(0, 10))
    await quiet(100)
    // A 30 KB PUBLISH arriving in two reads cannot be reserved beside it: refused, not buffered.
    const refused = track((await RawClient.handshake(b.port, 5, { clientId: "refused" })).client)
    const big = publish(2, 30_000)
    refused.send(big.subarray(0, 100))
    await quiet(50)
    refused.send(big.subarray(100))
    await refused.expectClosed()
    expect(refused.received.slice(1).map((p) => [p.cmd, (p as { reasonCode?: number }).reasonCode])).toEqual([["disconnect", 0x97]])
    expect(inputFaults.mqttBudgetRefusals - before).toBe(1)
    // Whole packets in one read need no budget meanwhile.
    const small = track((await RawClient.handshake(b.port, 5, { clientId: "small" })).client)
    small.send(publish(3, 100))
    expect((await small.expect("puback")).messageId).toBe(3)
    // The hog leaves: its reservation is freed, and a 100 KB packet (more than the budget) fits alone.
    await hog.destroy()
    await quiet(50)
    const large = publish(4, 100_000)
    small.send(large.subarray(0, 100))
    await quiet(50)
    small.send(large.subarray(100))
    expect((await small.expect("puback")).messageId).toBe(4)
  })
})
