import { describe, expect, it } from "vitest"
import { connect, quiet } from "../support/clients.js"
import { startBroker } from "../support/TestBroker.js"
import { useBrokers } from "../support/lifecycle.js"

const life = useBrokers()

describe.each([4, 5] as const)("persistent sessions across a broker restart on SQLite (MQTT v%i)", (version) => {
  const sessionOptions = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 3600 } } : { clean: false }

  it("queues QoS 1 messages for an offline session and delivers them after the restart; retained survives", async () => {
    let broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const sub = await connect(broker.url, { protocolVersion: version, clientId: `sub-${version}`, ...sessionOptions })
    await sub.client.subscribeAsync("q/#", { qos: 1 })
    await sub.end()

    const pub = await connect(broker.url, { protocolVersion: version, clientId: `pub-${version}` })
    for (let i = 0; i < 5; i++) await pub.client.publishAsync(`q/${i}`, `m${i}`, { qos: 1 })
    await pub.client.publishAsync("keep/me", "retained!", { qos: 1, retain: true })
    await pub.end()

    broker = await broker.restart()
    life.adopt(broker)

    const back = await connect(broker.url, { protocolVersion: version, clientId: `sub-${version}`, ...sessionOptions })
    expect(back.client.connected).toBe(true)
    const got = await back.waitFor(5)
    expect(got.map((m) => m.payload)).toEqual(["m0", "m1", "m2", "m3", "m4"])
    expect(got.every((m) => m.packet.qos === 1)).toBe(true)

    const fresh = await connect(broker.url, { protocolVersion: version, clientId: `late-${version}` })
    await fresh.client.subscribeAsync("keep/me", { qos: 1 })
    const [retained] = await fresh.waitFor(1)
    expect(retained!.payload).toBe("retained!")
    expect(retained!.packet.retain).toBe(true)
    await back.end()
    await fresh.end()
  })

  it("keeps subscriptions across a restart: a live publish after it reaches the resumed session", async () => {
    let broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const sub = await connect(broker.url, { protocolVersion: version, clientId: `keep-${version}`, ...sessionOptions })
    await sub.client.subscribeAsync("live/+", { qos: 1 })
    await sub.end()
    broker = await broker.restart()
    life.adopt(broker)
    const back = await connect(broker.url, { protocolVersion: version, clientId: `keep-${version}`, ...sessionOptions })
    const pub = await connect(broker.url, { protocolVersion: version })
    await pub.client.publishAsync("live/x", "after restart", { qos: 1 })
    const [m] = await back.waitFor(1)
    expect(m!.payload).toBe("after restart")
    await quiet(100)
    expect(back.messages).toHaveLength(1)
    await back.end()
    await pub.end()
  })
})

describe("retained messages across restarts (snapshot plus the log after it)", () => {
  it("keeps the latest value per topic and honours clears through two restarts", async () => {
    let broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const pub = await connect(broker.url, { protocolVersion: 5 })
    for (let i = 0; i < 20; i++) await pub.client.publishAsync(`ret/${i % 4}`, `v${i}`, { qos: 1, retain: true })
    await pub.client.publishAsync("ret/gone", "soon cleared", { qos: 1, retain: true })
    await pub.end()

    broker = await broker.restart() // boot 1 folds the stream into a snapshot
    life.adopt(broker)
    const pub2 = await connect(broker.url, { protocolVersion: 5 })
    await pub2.client.publishAsync("ret/gone", "", { qos: 1, retain: true }) // clear, after the snapshot
    await pub2.client.publishAsync("ret/0", "newest", { qos: 1, retain: true })
    await pub2.end()

    broker = await broker.restart() // boot 2: snapshot + the records after it
    life.adopt(broker)
    const sub = await connect(broker.url, { protocolVersion: 5 })
    await sub.client.subscribeAsync("ret/#", { qos: 1 })
    await sub.waitFor(4)
    await quiet(100)
    const byTopic = Object.fromEntries(sub.messages.map((m) => [m.topic, m.payload]))
    expect(byTopic).toEqual({ "ret/0": "newest", "ret/1": "v17", "ret/2": "v18", "ret/3": "v19" })
    expect(sub.messages.every((m) => m.packet.retain)).toBe(true)
    await sub.end()
  })
})

describe("wills of persistent sessions across a restart (v5 will delay)", () => {
  const opts = (clientId: string) => ({
    protocolVersion: 5 as const,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
    will: { topic: `will/${clientId}`, payload: Buffer.from(`gone:${clientId}`), qos: 1 as const, retain: true, properties: { willDelayInterval: 1 } }
  })

  it("publishes the delayed will after the restart when the client does not come back", async () => {
    let broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const client = await connect(broker.url, opts("quiet"))
    broker = await broker.restart() // the client is cut off by the shutdown, its will waits
    life.adopt(broker)
    client.client.end(true)
    const watcher = await connect(broker.url, { protocolVersion: 5 })
    await watcher.client.subscribeAsync("will/#", { qos: 1 })
    const [m] = await watcher.waitFor(1, 5000)
    expect([m!.topic, m!.payload]).toEqual(["will/quiet", "gone:quiet"])
    await watcher.end()
  })

  it("cancels the stored will when the client reconnects within the delay [MQTT-3.1.3-9]", async () => {
    let broker = await startBroker({ storage: "sqlite" })
    life.adopt(broker)
    const client = await connect(broker.url, opts("back"))
    broker = await broker.restart()
    life.adopt(broker)
    client.client.end(true)
    const again = await connect(broker.url, { ...opts("back"), will: undefined })
    const watcher = await connect(broker.url, { protocolVersion: 5 })
    await watcher.client.subscribeAsync("will/#", { qos: 1 })
    await quiet(1800)
    expect(watcher.messages).toHaveLength(0)
    await again.end()
    await watcher.end()
  })
})
