/**
 * Nothing acknowledged is lost when the broker process dies: the real executable on SQLite is
 * killed with SIGKILL (no shutdown, no final snapshot) and started again on the same data dir.
 */
import { describe, expect, it } from "vitest"
import { useBrokerProcesses } from "../support/BrokerProcess.js"
import { connect } from "../support/clients.js"

const { dataDir, start, kill } = useBrokerProcesses()

describe("broker crash (SIGKILL) on SQLite", () => {
  it("delivers every acknowledged QoS 1 message to a persistent session, and keeps retained messages", async () => {
    const dir = dataDir()
    const a = await start(dir)
    const url = `mqtt://127.0.0.1:${a.port}`
    const session = { protocolVersion: 5 as const, clientId: "survivor", clean: false, properties: { sessionExpiryInterval: 3600 } }
    const sub = await connect(url, session)
    await sub.client.subscribeAsync("crash/#", { qos: 1 })
    await sub.end()
    const pub = await connect(url, { protocolVersion: 5 })
    const count = 300
    for (let i = 0; i < count; i++) await pub.client.publishAsync(`crash/${i % 5}`, `m${i}`, { qos: 1 }) // each PUBACKed
    await pub.client.publishAsync("state/door", "open", { qos: 1, retain: true })
    await pub.end(true)

    await kill(a)
    const b = await start(dir, { port: a.port })
    const back = await connect(`mqtt://127.0.0.1:${b.port}`, session)
    await back.waitFor(count, 10_000)
    expect(back.messages.map((m) => m.payload)).toEqual(Array.from({ length: count }, (_, i) => `m${i}`))
    const late = await connect(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 5 })
    await late.client.subscribeAsync("state/#", { qos: 1 })
    const [door] = await late.waitFor(1)
    expect([door!.topic, door!.payload, door!.packet.retain]).toEqual(["state/door", "open", true])
    await back.end()
    await late.end()
  })
})
