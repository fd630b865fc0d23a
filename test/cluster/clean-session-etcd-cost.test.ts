/**
 * What a clean session (Clean Start, session expiry 0) costs etcd: a fleet of devices that
 * connect, subscribe and disconnect in storms. Two `robustmq start --cluster-etcd` processes on a
 * real etcd; the cost is read from etcd itself: its revision (keys changed) and its count of
 * committed Raft proposals (every txn, even one that changes nothing), over several cycles.
 * A persistent session still gets its `subs/` record and resumes from it on the other node.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt from "mqtt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type BrokerProcess, startBrokerProcess } from "../support/startBrokerProcess.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const waitFor = async (what: string, check: () => Promise<boolean> | boolean, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(20)
  }
}

describe.skipIf(!hasEtcd)("a clean session's cost in etcd", () => {
  let etcd: EtcdServer
  const nodes: Array<BrokerProcess> = []
  const dirs: Array<string> = []

  const revision = async (): Promise<number> => {
    const res = await fetch(`${etcd.endpoint}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: Buffer.from("/").toString("base64") }) })
    return Number(((await res.json()) as { header: { revision: string } }).header.revision)
  }
  const proposals = async (): Promise<number> => {
    const text = await (await fetch(`${etcd.endpoint}/metrics`)).text()
    const line = text.split("\n").find((l) => l.startsWith("etcd_server_proposals_committed_total "))
    if (line === undefined) throw new Error("etcd /metrics has no etcd_server_proposals_committed_total")
    return Number(line.split(" ")[1])
  }
  const subsRecord = async (clientId: string): Promise<string | null> => {
    const key = Buffer.from(`/rmq/robustmq/subs/${clientId}`).toString("base64")
    const res = await fetch(`${etcd.endpoint}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key }) })
    const kvs = ((await res.json()) as { kvs?: Array<{ value: string }> }).kvs
    return kvs === undefined ? null : Buffer.from(kvs[0]!.value, "base64").toString()
  }
  /** Revision and proposals once etcd has been still for `quietMs` (the writes are off the client's path). */
  const settled = async (quietMs = 1000): Promise<{ revision: number; proposals: number }> => {
    let last = { revision: await revision(), proposals: await proposals() }
    let since = Date.now()
    const deadline = Date.now() + 20_000
    while (Date.now() - since < quietMs) {
      if (Date.now() > deadline) throw new Error("etcd did not settle in 20 s")
      await sleep(100)
      const now = { revision: await revision(), proposals: await proposals() }
      if (now.revision !== last.revision || now.proposals !== last.proposals) {
        last = now
        since = Date.now()
      }
    }
    return last
  }

  const connect = (port: number, opts: mqtt.IClientOptions) =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts })
  const end = (c: mqtt.MqttClient, opts?: mqtt.IDisconnectPacket) => new Promise<void>((r) => c.end(false, opts ?? {}, () => r()))

  /** One device's life: clean CONNECT, SUBSCRIBE `filter`, DISCONNECT. */
  const cleanCycle = async (port: number, clientId: string, filter: string, protocolVersion: 4 | 5) => {
    const c = await connect(port, { clientId, clean: true, protocolVersion })
    await c.subscribeAsync(filter, { qos: 1 })
    await end(c)
  }

  /** The cost per cycle of `cycles` runs of `run`, measured in etcd. */
  const perCycle = async (cycles: number, run: (i: number) => Promise<void>) => {
    const before = await settled()
    for (let i = 0; i < cycles; i++) await run(i)
    const after = await settled()
    return { revisions: (after.revision - before.revision) / cycles, proposals: (after.proposals - before.proposals) / cycles }
  }

  beforeAll(async () => {
    etcd = await startEtcd()
    for (const id of ["c1", "c2"]) {
      const dir = mkdtempSync(join(tmpdir(), `robustmq-${id}-`))
      dirs.push(dir)
      nodes.push(await startBrokerProcess(dir, {
        kafkaPort: null,
        args: ["--cluster-etcd", etcd.endpoint, "--node-id", id, "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
        env: { ROBUSTMQ_CLUSTER_LEASE_TTL: "2" }
      }))
    }
  }, 60_000)

  afterAll(async () => {
    for (const n of nodes) await n.stop(3000)
    await etcd?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it("a clean CONNECT + SUBSCRIBE + DISCONNECT on a filter the node already routes costs 2 revisions and 2 proposals (claim, release)", async () => {
    const anchor = await connect(nodes[0]!.port, { clientId: "anchor", clean: true })
    await anchor.subscribeAsync("fleet/+/cmd", { qos: 1 })
    for (const protocolVersion of [4, 5] as const) {
      const cost = await perCycle(5, (i) => cleanCycle(nodes[0]!.port, `dev-v${protocolVersion}-${i}`, "fleet/+/cmd", protocolVersion))
      console.log(`clean cycle, MQTT ${protocolVersion === 4 ? "3.1.1" : "5"}, shared filter: ${cost.revisions} revisions, ${cost.proposals} proposals per cycle`)
      expect(cost.revisions).toBeLessThanOrEqual(2)
      expect(cost.proposals).toBeLessThanOrEqual(2)
    }
    // The same ids again (reconnect storm): the owner keys were released, so the claims start afresh.
    const again = await perCycle(5, (i) => cleanCycle(nodes[0]!.port, `dev-v5-${i}`, "fleet/+/cmd", 5))
    console.log(`clean reconnect, same ids: ${again.revisions} revisions, ${again.proposals} proposals per cycle`)
    expect(again.revisions).toBeLessThanOrEqual(2)
    expect(again.proposals).toBeLessThanOrEqual(2)
    for (let i = 0; i < 5; i++) expect(await subsRecord(`dev-v5-${i}`)).toBeNull()
    await end(anchor)
  }, 60_000)

  it("a per-device filter adds its route key: 4 revisions per cycle (claim, route put, route delete, release)", async () => {
    const cost = await perCycle(5, (i) => cleanCycle(nodes[0]!.port, `own-${i}`, `fleet/own-${i}/cmd`, 5))
    console.log(`clean cycle, per-device filter: ${cost.revisions} revisions, ${cost.proposals} proposals per cycle`)
    expect(cost.revisions).toBeLessThanOrEqual(4)
    expect(cost.proposals).toBeLessThanOrEqual(4)
  }, 60_000)

  it("a clean session cannot become persistent at DISCONNECT (v5: a protocol error) and leaves no subs/ record", async () => {
    const c = await connect(nodes[0]!.port, { clientId: "raise", clean: true, protocolVersion: 5 })
    await c.subscribeAsync("fleet/raise/cmd", { qos: 1 })
    await end(c, { cmd: "disconnect", properties: { sessionExpiryInterval: 300 } })
    await settled(500)
    expect(await subsRecord("raise")).toBeNull()
    // Its next CONNECT without Clean Start finds no session.
    const back = await connect(nodes[0]!.port, { clientId: "raise", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } })
    expect(back.connected).toBe(true)
    await end(back, { cmd: "disconnect", properties: { sessionExpiryInterval: 0 } })
  }, 30_000)

  it("a persistent session's record goes when the same id comes back clean, and stays gone", async () => {
    const persistent = { clientId: "flip", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } } as const
    const p = await connect(nodes[0]!.port, persistent)
    await p.subscribeAsync("fleet/flip/cmd", { qos: 1 })
    await waitFor("etcd to hold flip's subscriptions", async () => (await subsRecord("flip"))?.includes("fleet/flip/cmd") === true)
    await end(p)
    await settled(500)
    expect(await subsRecord("flip")).not.toBeNull() // a persistent session keeps it across DISCONNECT
    const c = await connect(nodes[0]!.port, { clientId: "flip", clean: true, protocolVersion: 5 })
    await waitFor("the clean CONNECT to clear flip's record", async () => (await subsRecord("flip")) === null)
    await c.subscribeAsync("fleet/flip/other", { qos: 1 })
    await end(c)
    await settled(500)
    expect(await subsRecord("flip")).toBeNull()
  }, 30_000)

  it("an id that was clean and then connects persistent gets its subs/ record and resumes from it on the other node", async () => {
    await cleanCycle(nodes[0]!.port, "turn", "fleet/turn/cmd", 5)
    const p = await connect(nodes[0]!.port, { clientId: "turn", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } })
    await p.subscribeAsync("fleet/turn/persistent", { qos: 1 })
    await waitFor("etcd to hold turn's subscriptions", async () => (await subsRecord("turn"))?.includes("fleet/turn/persistent") === true)
    expect(await subsRecord("turn")).not.toContain("fleet/turn/cmd")
    p.stream.destroy() // the client goes away without DISCONNECT; then its node dies
    nodes[0]!.child.kill("SIGKILL")
    await waitFor("c1 to exit", () => nodes[0]!.exit() !== null)
    const resumed = await connect(nodes[1]!.port, { clientId: "turn", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } })
    const got: Array<string> = []
    resumed.on("message", (_t, payload) => got.push(payload.toString()))
    const publisher = await connect(nodes[1]!.port, { clientId: "turn-pub", clean: true })
    await waitFor("a message on the resumed subscription", async () => {
      await publisher.publishAsync("fleet/turn/persistent", "hello", { qos: 1 })
      return got.length > 0
    }, 15_000)
    expect(got[0]).toBe("hello")
    await end(publisher)
    await end(resumed)
  }, 60_000)
})
