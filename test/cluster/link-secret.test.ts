/**
 * cluster.secret: a node link whose HELLO does not prove the shared secret is refused, so a
 * process that merely reaches the link port cannot inject messages; nodes with the same secret
 * link as before.
 */
import { Effect } from "effect"
import * as net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { encodeHello, encodePublish } from "../../src/cluster/linkFrames.js"
import { checkHello, helloMac } from "../../src/cluster/linkSecret.js"
import { Message } from "../../src/mqtt/engine/Message.js"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

describe("checkHello", () => {
  const now = 1_700_000_000_000
  it("accepts the proof of the same secret, and anything when no secret is set", () => {
    expect(checkHello("k", { node: "n1", at: now, mac: helloMac("k", "n1", now) }, now + 5)).toBeNull()
    expect(checkHello("", { node: "n1" }, now)).toBeNull()
  })
  it("refuses a missing proof, another secret, another node's proof and an old HELLO", () => {
    expect(checkHello("k", { node: "n1" }, now)).toMatch(/no proof/)
    expect(checkHello("k", { node: "n1", at: now, mac: helloMac("other", "n1", now) }, now)).toMatch(/wrong cluster.secret/)
    expect(checkHello("k", { node: "n2", at: now, mac: helloMac("k", "n1", now) }, now)).toMatch(/wrong cluster.secret/)
    expect(checkHello("k", { node: "n1", at: now, mac: helloMac("k", "n1", now) }, now + 120_000)).toMatch(/120 s ago/)
  })
})

describe("node links with cluster.secret", () => {
  const nodes: Array<TestBroker> = []
  const clients: Array<TestClient> = []
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.end(true)
    for (const n of nodes.splice(0)) {
      await n.stop()
      n.cleanup()
    }
  })

  const pair = async (secrets: [string, string]) => {
    const { service } = await Effect.runPromise(MemoryCoordination.make)
    for (const [i, secret] of secrets.entries()) nodes.push(await startBroker({ coordination: service, cluster: { nodeId: `s${i + 1}`, secret } }))
    await waitUntil(() => nodes.every((n) => n.node.members().length === 2), 5000, () => "two members")
    const sub = await connect(nodes[1]!.url)
    clients.push(sub)
    await sub.client.subscribeAsync("sec/#", { qos: 1 })
    const pub = await connect(nodes[0]!.url)
    clients.push(pub)
    await pub.client.publishAsync("sec/a", "hello", { qos: 1 })
    return sub
  }

  it("link and forward when both nodes have the same secret", async () => {
    const sub = await pair(["same", "same"])
    const [got] = await sub.waitFor(1)
    expect(got!.payload).toBe("hello")
  })

  it("refuse the link of a node with another secret: nothing it sends is delivered", async () => {
    const sub = await pair(["mine", "theirs"])
    await quiet(500)
    expect(sub.messages).toEqual([])
    expect(nodes[1]!.routing.link!.stats.received).toBe(0)
  })

  it("refuse a stranger on the link port that sends a HELLO and a PUBLISH without the secret", async () => {
    const sub = await pair(["k", "k"])
    await sub.waitFor(1)
    const target = nodes[1]!.node.self()
    const stranger = net.connect({ host: "127.0.0.1", port: target.linkPort })
    await new Promise<void>((resolve) => stranger.once("connect", () => resolve()))
    const closed = new Promise<void>((resolve) => stranger.once("close", () => resolve()))
    const forged = new Message("sec/forged", Buffer.from("injected"), 1, false, null, 0, "", Date.now())
    stranger.write(Buffer.concat([encodeHello({ node: "s1", startedAt: 0 }), encodePublish([forged], [[]], [])]))
    await closed
    await quiet(300)
    expect(sub.messages.map((m) => m.payload)).toEqual(["hello"])
  })
})
