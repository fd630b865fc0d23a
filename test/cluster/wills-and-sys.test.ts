/**
 * Wills and `$SYS` across nodes, in one process: three brokers over one memory Coordination.
 * A will (delayed or not) of a client lost on n1 reaches a subscriber on n2; a CONNECT on n2
 * before the delay ends cancels it (resumed session) or publishes it at once (Clean Start), as
 * on a single node. Each node's `$SYS` figures are also published under `$SYS/brokers/<id>/`
 * and reach every node (a node that joins shows and gets them at once); `$SYS/broker/` stays
 * each node's own view; `$SYS/brokers` lists the members. Real MQTT.js, raw sockets (a real
 * abrupt close) and mosquitto_sub.
 */
import { Effect } from "effect"
import type { IConnectPacket } from "mqtt-packet"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { RETAINED_TP } from "../../src/mqtt/engine/Engine.js"
import { connect, quiet, type TestClient, waitUntil } from "../support/clients.js"
import { messageLines, mosquittoInstalled, SUB } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"
import { RawClient } from "../support/RawClient.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

type WillSpec = NonNullable<IConnectPacket["will"]>

const nodes: Array<TestBroker> = []
const clients: Array<TestClient> = []
const raws: Array<RawClient> = []
const spawnClient = useProcesses()

const client = async (node: TestBroker, options: Parameters<typeof connect>[1] = {}) => {
  const c = await connect(node.url, options)
  clients.push(c)
  return c
}

const withWill = async (node: TestBroker, version: 4 | 5, clientId: string, will: WillSpec, extra: Partial<IConnectPacket> = {}) => {
  const { client: raw, connack } = await RawClient.handshake(node.port, version, { clientId, will, ...extra })
  raws.push(raw)
  return { raw, connack }
}

const subscriber = async (node: TestBroker, filter: string) => {
  const c = await client(node, { protocolVersion: 5 })
  await c.client.subscribeAsync(filter, { qos: 1 })
  return c
}

/**
 * The will was NOT published: a sentinel published on n1 after the will client is gone (and
 * past its delay) must be the only message the subscriber on n2 sees.
 */
const expectOnlySentinel = async (sub: TestClient, topic: string) => {
  const pub = await client(nodes[0]!)
  await pub.client.publishAsync(topic, "sentinel", { qos: 1 })
  const [first] = await sub.waitFor(1)
  expect(first!.payload).toBe("sentinel")
  await quiet(150)
  expect(sub.messages.map((m) => m.payload)).toEqual(["sentinel"])
}

const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } }

beforeAll(async () => {
  const { service } = await Effect.runPromise(MemoryCoordination.make)
  // $SYS every second; QoS 0 logged too, to check that $SYS is still never logged.
  for (const id of ["n1", "n2", "n3"]) nodes.push(await startBroker({ coordination: service, cluster: { nodeId: id }, mqtt: { sysInterval: 1, logQos0: true } }))
  await waitUntil(() => nodes.every((n) => n.node.members().length === 3), 5000, () => "three members on every node")
})
afterAll(async () => {
  for (const r of raws) if (!r.isClosed) await r.destroy()
  for (const c of clients) await c.end(true)
  for (const n of nodes) {
    await n.stop()
    n.cleanup()
  }
})

describe("wills across nodes", () => {
  it.each([4, 5] as const)("the will of an MQTT v%i client lost on n1 reaches a subscriber on n2", async (version) => {
    const [n1, n2] = nodes
    const topic = `will/lost/${version}`
    const sub = await subscriber(n2!, topic)
    const { raw } = await withWill(n1!, version, `lost-${version}`, { topic, payload: Buffer.from("bye"), qos: 1, retain: false })
    await raw.destroy()
    const [m] = await sub.waitFor(1, 3000)
    expect(m).toMatchObject({ topic, payload: "bye" })
    expect(m!.packet.qos).toBe(1)
  })

  it("a retained will set on n1 is there for a late subscriber on n3", async () => {
    const topic = "will/retained/dev"
    const { raw } = await withWill(nodes[0]!, 5, "retained-will", { topic, payload: Buffer.from("offline"), qos: 1, retain: true })
    await raw.destroy()
    await waitUntil(() => nodes[2]!.server.engine.retained.has(topic), 3000, () => "the retained will on n3")
    const late = await subscriber(nodes[2]!, "will/retained/#")
    const [m] = await late.waitFor(1)
    expect(m).toMatchObject({ topic, payload: "offline" })
    expect(m!.packet.retain).toBe(true)
  })

  it("a delayed will (v5 Will Delay Interval 1 s) of a client lost on n1 reaches n2 after the delay", async () => {
    const [n1, n2] = nodes
    const sub = await subscriber(n2!, "will/delayed")
    const { raw } = await withWill(n1!, 5, "delayed", { topic: "will/delayed", payload: Buffer.from("late"), qos: 1, retain: false, properties: { willDelayInterval: 1 } }, persistent)
    const lostAt = Date.now()
    await raw.destroy()
    const [m] = await sub.waitFor(1, 3000)
    const after = Date.now() - lostAt
    expect(m!.payload).toBe("late")
    expect(after).toBeGreaterThanOrEqual(1000)
    expect(after).toBeLessThan(2500)
  })

  // [MQTT-3.1.3-9]: a new connection for the session before the delay ends means no will; a
  // Clean Start ends the session, which publishes the delayed will at once (as on one node).
  it.each([
    ["lost", false],
    ["lost", true],
    ["live", false],
    ["live", true]
  ] as const)("a delayed will of a %s connection on n1, then a CONNECT on n2 with Clean Start %s", async (state, clean) => {
    const [n1, n2] = nodes
    const clientId = `moves-${state}-${clean}`
    const topic = `will/moves/${state}-${clean}`
    const sub = await subscriber(n2!, topic)
    const { raw } = await withWill(n1!, 5, clientId, { topic, payload: Buffer.from("gone"), qos: 1, retain: false, properties: { willDelayInterval: 1 } }, persistent)
    if (state === "lost") {
      await raw.destroy()
      await waitUntil(() => n1!.server.engine.sessions.get(clientId)?.pendingWill != null, 2000, () => "n1 to hold the delayed will")
    }
    const { client: back, connack } = await RawClient.handshake(n2!.port, 5, { clientId, ...(clean ? { clean: true } : persistent) })
    raws.push(back)
    expect(connack.sessionPresent).toBe(!clean)
    if (state === "live") expect((await raw.expect("disconnect")).reasonCode).toBe(0x8e)
    expect(n1!.server.engine.sessions.has(clientId)).toBe(false)
    if (clean) {
      const [m] = await sub.waitFor(1, 900) // at once, not after the delay
      expect(m!.payload).toBe("gone")
      await quiet(1300)
      expect(sub.messages.length).toBe(1)
    } else {
      await quiet(1500) // past the delay and a sweep on both nodes: the will would be out by now
      await expectOnlySentinel(sub, topic)
    }
  })
})

describe("$SYS across nodes", () => {
  /** The latest payload per topic a client got. */
  const latest = (c: TestClient) => {
    const out = new Map<string, string>()
    for (const m of c.messages) out.set(m.topic, m.payload)
    return out
  }
  const connectedOf = (n: TestBroker) => String(n.server.context.connected)
  const retainedUnder = (n: TestBroker, prefix: string) => [...n.server.engine.retained.keys()].filter((t) => t.startsWith(prefix))

  it("a subscriber on n2 to $SYS/brokers/+/clients/connected sees every node's figure; $SYS/broker/ stays n2's own", async () => {
    const [n1, n2] = nodes
    // n1 gets more clients than the others, so its figure differs from n2's.
    while (Number(connectedOf(n1!)) <= Number(connectedOf(n2!)) + 2) await client(n1!)
    const sub = await client(n2!, { protocolVersion: 5 })
    await sub.client.subscribeAsync(["$SYS/brokers/+/clients/connected", "$SYS/broker/clients/connected"], { qos: 0 })
    const figures = () => nodes.map((n) => latest(sub).get(`$SYS/brokers/${n.node.id}/clients/connected`))
    await waitUntil(() => figures().every((f, i) => f === connectedOf(nodes[i]!)), 4000,
      () => `each node's figure (${nodes.map(connectedOf)}), got ${JSON.stringify(figures())}`)
    expect(Number(connectedOf(n1!))).toBeGreaterThan(Number(connectedOf(n2!)))
    // Another round: every $SYS/broker/ message that reached n2's subscriber is n2's own figure.
    const from = sub.messages.length
    await waitUntil(() => sub.messages.slice(from).some((m) => m.topic === "$SYS/broker/clients/connected"), 3000, () => "the next $SYS/broker/ round")
    const own = sub.messages.filter((m) => m.topic === "$SYS/broker/clients/connected").slice(1) // the first was the retained one
    expect(own.length).toBeGreaterThan(0)
    expect(new Set(own.map((m) => m.payload))).toEqual(new Set([connectedOf(n2!)]))
  })

  it.skipIf(!mosquittoInstalled)("mosquitto_sub on n3 gets every node's retained uptime at once", async () => {
    // A late subscriber: each node's figures have reached n3 (each sends them when it sees n3 join).
    await waitUntil(() => nodes.every((n) => nodes[2]!.server.engine.retained.has(`$SYS/brokers/${n.node.id}/uptime`)), 5000,
      () => `n3 to hold every node's uptime, it has ${JSON.stringify(retainedUnder(nodes[2]!, "$SYS/brokers/").filter((t) => t.endsWith("/uptime")))}`)
    // The retain flag printed (%r): live figures (one a second per node) may come before the
    // retained ones, which are sent once the new route is visible to the other nodes.
    const run = await spawnClient(SUB, ["-p", String(nodes[2]!.port), "-t", "$SYS/brokers/+/uptime", "-F", "%r %t %p", "-C", "6", "-W", "8"]).exited
    expect(run.code).toBe(0)
    const retained = messageLines(run.stdout).filter((l) => l.startsWith("1 ")).map((l) => l.slice(2)).sort()
    expect(retained.map((l) => l.split(" ")[0])).toEqual(["$SYS/brokers/n1/uptime", "$SYS/brokers/n2/uptime", "$SYS/brokers/n3/uptime"])
    for (const l of retained) expect(l).toMatch(/ \d+ seconds$/)
  })

  it("per interval each node sends each peer its figures once, in memory only: bounded, no loop, nothing logged", async () => {
    const [n1, n2] = nodes
    // Figures per node (16): n1's own, once n2 retains them all.
    const perNode = retainedUnder(n1!, "$SYS/brokers/n1/").length
    expect(perNode).toBeGreaterThan(10)
    await waitUntil(() => retainedUnder(n2!, "$SYS/brokers/n1/").length === perNode, 3000, () => "n1's figures on n2")
    const logEnds = (n: TestBroker) => JSON.stringify([...n.server.engine.backlog.ends(), [RETAINED_TP, n.server.engine.log.unsafeEndOffset(RETAINED_TP)]])
    const before = { forwarded: n1!.routing.link!.stats.forwarded, received: n2!.routing.link!.stats.received, logs: nodes.map(logEnds) }
    const started = Date.now()
    await quiet(3000)
    const seconds = (Date.now() - started) / 1000
    const forwarded = n1!.routing.link!.stats.forwarded - before.forwarded
    const received = n2!.routing.link!.stats.received - before.received
    // sys_interval 1 s, 2 peers: about perNode x 2 a second; at most one round more than the seconds passed.
    expect(forwarded).toBeGreaterThanOrEqual(perNode * 2 * 2)
    expect(forwarded).toBeLessThanOrEqual(perNode * 2 * (Math.ceil(seconds) + 1))
    // n2 hears n1 and n3 and sends nothing back around: what it got is two nodes' rounds.
    expect(received).toBeLessThanOrEqual(perNode * 2 * (Math.ceil(seconds) + 1))
    // logQos0 is on, and still no $SYS message reached a log or the retained store's partition.
    expect(nodes.map(logEnds)).toEqual(before.logs)
  })

  // Stops n3: keep it last.
  it("$SYS/brokers lists the members; once n3 leaves, it is dropped from it and its figures are no longer retained", async () => {
    const [n1, n2, n3] = nodes
    const sub = await client(n1!, { protocolVersion: 5 })
    await sub.client.subscribeAsync("$SYS/brokers", { qos: 0 })
    const [first] = await sub.waitFor(1)
    expect(first).toMatchObject({ topic: "$SYS/brokers", payload: "n1,n2,n3" })
    expect(first!.packet.retain).toBe(true)
    expect(retainedUnder(n1!, "$SYS/brokers/n3/").length).toBeGreaterThan(0)
    await n3!.stop()
    await waitUntil(() => sub.messages.at(-1)?.payload === "n1,n2", 3000, () => `the list without n3, got ${JSON.stringify(sub.messages.map((m) => m.payload))}`)
    expect(retainedUnder(n1!, "$SYS/brokers/n3/")).toEqual([])
    expect(retainedUnder(n2!, "$SYS/brokers/n3/")).toEqual([])
    const late = await client(n2!)
    await late.client.subscribeAsync("$SYS/brokers/+/version", { qos: 0 })
    await late.waitFor(2)
    await quiet(200)
    expect(new Set(late.messages.map((m) => m.topic))).toEqual(new Set(["$SYS/brokers/n1/version", "$SYS/brokers/n2/version"]))
  })

  it("a node that joins (sys_interval 60 s) shows its figures to the others at once, and gets theirs", async () => {
    const [n1] = nodes
    const n4 = await startBroker({ coordination: n1!.node.coordination!, cluster: { nodeId: "n4" }, mqtt: { sysInterval: 60 } })
    nodes.push(n4)
    await waitUntil(() => n1!.server.engine.retained.has("$SYS/brokers/n4/uptime"), 3000, () => "n4's figures on n1, long before its next interval")
    await waitUntil(() => ["n1", "n2"].every((id) => n4.server.engine.retained.has(`$SYS/brokers/${id}/uptime`)), 3000, () => "n1's and n2's figures on n4")
    const list = (n: TestBroker) => n.server.engine.retained.get("$SYS/brokers")?.payload.toString()
    await waitUntil(() => list(n4) === "n1,n2,n4" && list(n1!) === "n1,n2,n4", 3000, () => `the member lists with n4: ${list(n4)} on n4, ${list(n1!)} on n1`)
  })
})
