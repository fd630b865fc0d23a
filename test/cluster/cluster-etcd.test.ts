/**
 * A cluster the way an operator runs it: a real etcd, three `robustmq start --cluster-etcd`
 * processes on loopback, Mosquitto's command line clients on different nodes, and
 * `robustmq cluster status`. Skipped when etcd or the Mosquitto clients are not installed
 * (.ci/run installs both).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Etcd3 } from "etcd3"
import mqtt from "mqtt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mosquittoInstalled, PUB, SUB } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"
import { useRobustmqCli } from "../support/robustmqCli.js"
import { type BrokerProcess, startBrokerProcess } from "../support/startBrokerProcess.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { waitFor } from "../support/waitFor.js"

interface MemberView {
  readonly id: string
  readonly mqttPort: number
  readonly routes: number
}

const clusterOf = async (node: BrokerProcess): Promise<{ members: ReadonlyArray<MemberView> }> => {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/cluster`)
  if (!res.ok) throw new Error(`GET /api/v1/cluster on ${node.port}: ${res.status} ${await res.text()}`)
  return (await res.json()) as { members: ReadonlyArray<MemberView> }
}

const routesOf = async (asked: BrokerProcess, node: string): Promise<number> =>
  (await clusterOf(asked)).members.find((m) => m.id === node)?.routes ?? 0

describe.skipIf(!hasEtcd || !mosquittoInstalled)("a cluster of three processes over a real etcd", () => {
  let etcd: EtcdServer
  const nodes: Array<BrokerProcess> = []
  const dirs: Array<string> = []
  const spawn = useProcesses()
  const cli = useRobustmqCli()

  /** Starts node `id` on a new data dir, or (a restart) on `dir`. */
  const startNode = async (id: string, dir = mkdtempSync(join(tmpdir(), `robustmq-${id}-`))) => {
    if (!dirs.includes(dir)) dirs.push(dir)
    return startBrokerProcess(dir, {
      args: ["--cluster-etcd", etcd.endpoint, "--node-id", id, "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
      env: { ROBUSTMQ_CLUSTER_LEASE_TTL: "2" }
    })
  }

  beforeAll(async () => {
    etcd = await startEtcd()
    for (const id of ["n1", "n2", "n3"]) nodes.push(await startNode(id))
    await waitFor("n1 to see 3 members", async () => (await clusterOf(nodes[0]!)).members.length === 3, 10_000)
  }, 60_000)

  afterAll(async () => {
    for (const n of nodes) await n.stop(3000)
    await etcd?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it("robustmq cluster status lists the three members with their ports", async () => {
    const run = await cli.run(["cluster", "status", "--url", `http://127.0.0.1:${nodes[1]!.httpPort}`])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^cluster robustmq: 3 member\(s\), asked n2/m)
    for (const [i, n] of nodes.entries()) expect(run.stdout).toMatch(new RegExp(`^n${i + 1}( \\*)?\\s+127\\.0\\.0\\.1\\s+${n.port}\\s`, "m"))
  })

  it.each([0, 1, 2])("mosquitto_sub on n2 receives what mosquitto_pub sends to n1 at QoS %i", async (qos) => {
    const [n1, n2] = nodes
    const topic = `cluster/q${qos}`
    // The previous case's subscriber has gone: n2 holds no route until this one subscribes.
    await waitFor("n2's old routes to go", async () => (await routesOf(n1!, "n2")) === 0)
    const sub = spawn(SUB, ["-h", "127.0.0.1", "-p", String(n2!.port), "-t", topic, "-q", String(qos), "-C", "5", "-i", `sub-q${qos}`], 20_000)
    // Publishing starts once n1 knows n2's route (the SUBACK waited for it to commit in etcd).
    await waitFor(`n1 to see n2's route for ${topic}`, async () => (await routesOf(n1!, "n2")) === 1)
    for (let i = 0; i < 5; i++) {
      const pub = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(n1!.port), "-t", topic, "-q", String(qos), "-m", `m${i}`]).exited
      expect(pub.code, pub.stderr).toBe(0)
    }
    const done = await sub.exited
    expect(done.stdout.trim().split("\n")).toEqual(["m0", "m1", "m2", "m3", "m4"])
  })

  it("a late subscriber on n3 gets a retained message set on n1", async () => {
    const pub = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(nodes[0]!.port), "-t", "cluster/retained", "-q", "1", "-r", "-m", "kept"]).exited
    expect(pub.code).toBe(0)
    let got = ""
    const deadline = Date.now() + 5000
    while (got !== "kept") {
      if (Date.now() > deadline) throw new Error(`n3 has no retained message: ${JSON.stringify(got)}`)
      const sub = await spawn(SUB, ["-h", "127.0.0.1", "-p", String(nodes[2]!.port), "-t", "cluster/retained", "-C", "1", "-W", "1"]).exited
      got = sub.stdout.trim()
    }
    expect(got).toBe("kept")
  })

  it("mosquitto_sub on n3 gets every node's $SYS/brokers/<id>/ figures and the member list at once", async () => {
    // sys_interval is 10 s: what comes within 5 s is what each node published when it joined.
    const sub = await spawn(SUB, ["-h", "127.0.0.1", "-p", String(nodes[2]!.port), "-t", "$SYS/brokers/+/version", "-t", "$SYS/brokers", "-v", "-C", "4", "-W", "5"]).exited
    expect(sub.code, sub.stderr).toBe(0)
    const lines = sub.stdout.trim().split("\n").sort()
    expect(lines[0]).toBe("$SYS/brokers n1,n2,n3")
    expect(lines.slice(1).map((l) => l.split(" ")[0])).toEqual(["$SYS/brokers/n1/version", "$SYS/brokers/n2/version", "$SYS/brokers/n3/version"])
  })

  it("a node paused (SIGSTOP) past its lease notices it was fenced when it resumes: it drops its clients and joins again", async () => {
    const [n1, n2] = nodes
    const client = mqtt.connect(`mqtt://127.0.0.1:${n1!.port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: "paused-node-client" })
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve())
      client.once("error", reject)
    })
    const dropped = new Promise<number | undefined>((resolve) => client.once("disconnect", (p) => resolve(p.reasonCode)))
    n1!.child.kill("SIGSTOP")
    try {
      await waitFor("n2 to count n1 gone (lease_ttl 2 s)", async () => !(await clusterOf(n2!)).members.some((m) => m.id === "n1"), 8000)
    } finally {
      n1!.child.kill("SIGCONT")
    }
    expect(await Promise.race([dropped, new Promise((r) => setTimeout(() => r("still connected"), 8000))])).toBe(0x9c) // Use another server
    await waitFor("n1 to join again", async () => (await clusterOf(n2!)).members.some((m) => m.id === "n1"), 8000)
    expect(n1!.output()).toMatch(/lost its lease/)
    client.end(true)
  }, 30_000)

  it("a node that crashed (SIGKILL) and restarts on its data catches up on what its sessions were sent meanwhile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "robustmq-n5-"))
    let n5 = await startNode("n5", dir)
    await waitFor("n1 to see n5", async () => (await clusterOf(nodes[0]!)).members.some((m) => m.id === "n5"), 10_000)
    const options = { clientId: "crashy", protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0 }
    const connected = async (port: number) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, options)
      const got: Array<string> = []
      c.on("message", (_t, p) => got.push(p.toString()))
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
        c.once("connect", resolve)
        c.once("error", reject)
      })
      return { c, got, connack }
    }
    const first = await connected(n5.port)
    await first.c.subscribeAsync("crash/#", { qos: 1 })
    first.c.end(true)
    await waitFor("n1 to see n5's route", async () => (await routesOf(nodes[0]!, "n5")) > 0)
    const publish = async (m: string) => {
      const pub = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(nodes[0]!.port), "-t", "crash/x", "-q", "1", "-m", m]).exited
      expect(pub.code, pub.stderr).toBe(0)
    }
    for (let i = 0; i < 3; i++) await publish(`before-${i}`)
    await new Promise((r) => setTimeout(r, 1500)) // n5 saves how far it got once a second
    n5.child.kill("SIGKILL")
    await n5.stop(1000)
    // Acknowledged by n1 while n5 is down (routed to it until its lease runs out, then not at all).
    for (let i = 0; i < 3; i++) await publish(`during-${i}`)
    n5 = await startNode("n5", dir)
    try {
      const again = await connected(n5.port)
      try {
        expect(again.connack.sessionPresent).toBe(true)
        const expected = ["before-0", "before-1", "before-2", "during-0", "during-1", "during-2"]
        await waitFor(`the session to get ${expected.length} messages: ${JSON.stringify(again.got)}`, async () => again.got.length >= expected.length, 10_000)
        await new Promise((r) => setTimeout(r, 300))
        expect(again.got).toEqual(expected)
      } finally {
        again.c.end(true)
      }
    } finally {
      await n5.stop(3000)
    }
  }, 60_000)

  it("a persistent session on a node that was SIGKILLed resumes on another node with its subscriptions; the node, restarted, drops its stale copy", async () => {
    const n4Dir = mkdtempSync(join(tmpdir(), "robustmq-n4-"))
    const n4 = await startNode("n4", n4Dir)
    nodes.push(n4)
    await waitFor("n1 to see n4", async () => (await clusterOf(nodes[0]!)).members.some((m) => m.id === "n4"), 10_000)
    const options = { clientId: "survivor", protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0 }
    const first = mqtt.connect(`mqtt://127.0.0.1:${n4.port}`, options)
    await new Promise<void>((resolve, reject) => {
      first.once("connect", () => resolve())
      first.once("error", reject)
    })
    await first.subscribeAsync("dead/#", { qos: 1 })
    // The holder records the subscription in etcd off the SUBACK path: wait until etcd has it.
    const etcdClient = new Etcd3({ hosts: etcd.endpoint })
    try {
      await waitFor("etcd to hold the session's subscriptions", async () =>
        ((await etcdClient.get("/rmq/robustmq/subs/survivor").string()) ?? "").includes("dead/#"), 15_000)
    } finally {
      etcdClient.close()
    }
    n4.child.kill("SIGKILL")
    first.end(true)
    nodes.pop()
    await waitFor("n4 to be gone", async () => !(await clusterOf(nodes[0]!)).members.some((m) => m.id === "n4"), 8000)
    const again = mqtt.connect(`mqtt://127.0.0.1:${nodes[0]!.port}`, options)
    const got: Array<string> = []
    again.on("message", (_t, p) => got.push(p.toString()))
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      again.once("connect", resolve)
      again.once("error", reject)
    })
    try {
      expect(connack.sessionPresent).toBe(true)
      await waitFor("n2 to see the resumed session's route", async () => (await routesOf(nodes[1]!, "n1")) > 0)
      const pub = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(nodes[1]!.port), "-t", "dead/letter", "-q", "1", "-m", "still here"]).exited
      expect(pub.code).toBe(0)
      await waitFor("the message on the resumed session", async () => got.length > 0)
      expect(got).toEqual(["still here"])
      // n4 comes back on its data: the session it restored is held by n1 now, so it goes.
      const back = await startNode("n4", n4Dir)
      try {
        await waitFor("n4 to drop its stale copy", async () => /session survivor is held by n1 now/.test(back.output()), 10_000)
        const res = await fetch(`http://127.0.0.1:${back.httpPort}/api/v1/sessions/survivor`)
        expect(res.status).toBe(404)
      } finally {
        await back.stop(3000)
      }
    } finally {
      again.end(true)
    }
  }, 60_000)

  it("a node stopped with SIGTERM leaves at once; one killed with SIGKILL is gone after its lease (2 s)", async () => {
    const n3 = nodes.pop()!
    const stoppedAt = Date.now()
    await n3.stop(5000)
    // At once: well under the lease (2 s) it would otherwise take; the bound is loose for loaded CI machines.
    await waitFor("n3 to leave after SIGTERM", async () => (await clusterOf(nodes[0]!)).members.length === 2, 10_000)
    const left = Date.now() - stoppedAt

    const n2 = nodes.pop()!
    const killedAt = Date.now()
    n2.child.kill("SIGKILL")
    await waitFor("n2 to be gone after SIGKILL (lease_ttl 2)", async () => (await clusterOf(nodes[0]!)).members.length === 1, 6000)
    const gone = Date.now() - killedAt
    expect(gone).toBeGreaterThan(1000) // its lease ran out; nobody revoked it
    console.log(`cluster: SIGTERM -> left ${left} ms; SIGKILL -> gone ${gone} ms (lease_ttl 2 s)`)
  }, 20_000)
})
