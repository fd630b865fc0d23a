/**
 * Issue 11's kill plan on loopback: a 3-member etcd (election timeout 500 ms) and three
 * `robustmq start --cluster-etcd a,b,c` processes, with real clients (Mosquitto's, MQTT.js):
 * the etcd leader SIGKILLed under traffic, a node restarted on its data dir, a rolling restart
 * under QoS 1 load, and a node SIGKILLed under its persistent sessions. Each case prints its
 * figures (docs/cluster.md). Skipped without etcd or the Mosquitto clients (.ci/run installs both).
 */
import { type ChildProcess, spawn as spawnChild } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt, { type IClientOptions, type MqttClient } from "mqtt"
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { mosquittoInstalled, PUB, SUB } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"
import { type BrokerProcess, startBrokerProcess } from "../support/startBrokerProcess.js"
import { type EtcdCluster, hasEtcd, startEtcdCluster } from "./etcdServer.js"
import { waitFor } from "../support/waitFor.js"

/** Lease TTL of the brokers: renewals every TTL/4 ride out an election (0.5-1.3 s here) with room. */
const LEASE_TTL = 3

interface MemberView {
  readonly id: string
  readonly mqttPort: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const membersSeenBy = async (node: BrokerProcess): Promise<ReadonlyArray<string>> => {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/cluster`, { signal: AbortSignal.timeout(2000) })
  if (!res.ok) throw new Error(`GET /api/v1/cluster on ${node.port}: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { members: ReadonlyArray<MemberView> }).members.map((m) => m.id).sort()
}

const connected = (client: MqttClient): Promise<{ sessionPresent: boolean }> =>
  new Promise((resolve, reject) => {
    client.once("connect", (p) => resolve({ sessionPresent: p.sessionPresent }))
    client.once("error", reject)
  })

/**
 * QoS 1 (or 2) load, bounded: `<prefix><n>` to `topic`, at most 20 unacknowledged, one every
 * `gapMs`, while `running` (and until at least `min`), at most `max`. `sentAt` notes when each went out.
 */
const qos1Load = (publisher: MqttClient, topic: string, prefix: string, options: { readonly gapMs: number; readonly min: number; readonly max: number; readonly sentAt?: (payload: string) => void; readonly qos?: 1 | 2 }) => {
  const acked = new Set<string>()
  const state = { sent: 0, inflight: 0, running: true, acked, done: Promise.resolve() }
  state.done = (async () => {
    while (state.sent < options.max && (state.running || state.sent < options.min)) {
      if (state.inflight >= 20) {
        await sleep(2)
        continue
      }
      const payload = `${prefix}${state.sent++}`
      options.sentAt?.(payload)
      state.inflight++
      publisher.publish(topic, payload, { qos: options.qos ?? 1 }, (err) => {
        state.inflight--
        if (err === undefined || err === null) acked.add(payload)
      })
      await sleep(options.gapMs)
    }
  })()
  return state
}

/** The session directory in etcd holds `clientId`'s subscriptions (written off the SUBACK path). */
const subsInEtcd = async (endpoint: string, clientId: string): Promise<boolean> => {
  const key = Buffer.from(`/rmq/robustmq/subs/${clientId}`).toString("base64")
  const res = await fetch(`${endpoint}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key }) })
  return ((await res.json()) as { kvs?: Array<unknown> }).kvs !== undefined
}

describe.skipIf(!hasEtcd || !mosquittoInstalled)("the kill plan: 3 etcd members, 3 broker processes", () => {
  let etcd: EtcdCluster
  const nodes: Array<BrokerProcess> = []
  const dirs: Array<string> = []
  const clients: Array<MqttClient> = []
  const children: Array<ChildProcess> = []
  const spawn = useProcesses()

  const ids = ["n1", "n2", "n3"]
  const startNode = (i: number, port = 0) =>
    startBrokerProcess(dirs[i]!, {
      port,
      kafkaPort: null,
      args: ["--cluster-etcd", etcd.endpoints.join(","), "--node-id", ids[i]!, "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
      env: { ROBUSTMQ_CLUSTER_LEASE_TTL: String(LEASE_TTL) }
    })
  const everyoneSees = (expected: ReadonlyArray<string>) =>
    waitFor(`the nodes to see ${expected.join(", ")}`, async () => {
      for (const [i, n] of nodes.entries()) {
        if (!expected.includes(ids[i]!)) continue
        if ((await membersSeenBy(n)).join() !== [...expected].sort().join()) return false
      }
      return true
    }, 15_000)
  const client = (port: number | ReadonlyArray<number>, options: IClientOptions) => {
    const ports = typeof port === "number" ? [port] : port
    const c = mqtt.connect({
      host: "127.0.0.1",
      port: ports[0]!,
      protocolVersion: 5,
      reconnectPeriod: 0,
      ...(ports.length > 1 ? { servers: ports.map((p) => ({ host: "127.0.0.1", port: p })) } : {}),
      ...options
    })
    c.on("error", () => undefined) // refused CONNECTs (0x88 while etcd elects) are retried by the test
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    etcd = await startEtcdCluster(3)
    for (const id of ids) dirs.push(mkdtempSync(join(tmpdir(), `robustmq-kill-${id}-`)))
    for (let i = 0; i < 3; i++) nodes.push(await startNode(i))
    await everyoneSees(ids)
  }, 60_000)

  // A case that failed half way leaves no node down for the next one.
  beforeEach(async () => {
    let restarted = false
    for (let i = 0; i < 3; i++) {
      if (nodes[i]!.exit() === null) continue
      nodes[i] = await startNode(i, nodes[i]!.port)
      restarted = true
    }
    if (restarted) await everyoneSees(ids)
  }, 60_000)

  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true)
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL")
  })

  afterAll(async () => {
    for (const n of nodes) await n.stop(3000)
    await etcd?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it("the etcd leader dies under traffic: the brokers keep routing n1 -> n2, and a session taken over meanwhile is served by its new node only", async () => {
    const [n1, n2, n3] = nodes
    const total = 300
    // mosquitto_sub on n2 counts; an MQTT.js subscriber beside it times the arrivals.
    const sub = spawn(SUB, ["-h", "127.0.0.1", "-p", String(n2!.port), "-t", "ka/flow", "-q", "1", "-C", String(total), "-i", "ka-sub"], 40_000)
    const timer = client(n2!.port, { clientId: "ka-timer" })
    await connected(timer)
    await timer.subscribeAsync("ka/flow", { qos: 1 })
    const arrivals: Array<number> = []
    timer.on("message", () => arrivals.push(Date.now()))
    // A session held on n1, taken over from n3 while etcd has no leader.
    const old = client(n1!.port, { clientId: "ka-owned", clean: false, properties: { sessionExpiryInterval: 600 } })
    await connected(old)
    await old.subscribeAsync("ka/owned", { qos: 1 })
    const oldGot: Array<{ at: number; payload: string }> = []
    old.on("message", (_t, p) => oldGot.push({ at: Date.now(), payload: p.toString() }))
    const oldGone = new Promise<number | undefined>((resolve) => old.once("disconnect", (p) => resolve(p.reasonCode)))
    await waitFor("n1 to see the routes on n2", async () => {
      const res = await fetch(`http://127.0.0.1:${n1!.httpPort}/api/v1/cluster`)
      const members = ((await res.json()) as { members: ReadonlyArray<{ id: string; routes: number }> }).members
      return (members.find((m) => m.id === "n2")?.routes ?? 0) >= 1
    })

    // mosquitto_pub -l on n1: one QoS 1 message per line, a line every 10 ms.
    const pub = spawnChild(PUB, ["-h", "127.0.0.1", "-p", String(n1!.port), "-t", "ka/flow", "-q", "1", "-l", "-i", "ka-pub"], { stdio: ["pipe", "ignore", "pipe"] })
    children.push(pub)
    let pubErr = ""
    pub.stderr!.on("data", (d: Buffer) => (pubErr += d.toString()))
    let killedAt = 0
    let leader = -1
    // The takeover, while etcd elects: a CONNECT on n3 for the session n1 holds (refused with
    // 0x88 while etcd cannot answer, so tried again).
    const takeOver = async () => {
      const takeoverFrom = Date.now()
      let refusals = 0
      for (;;) {
        const c = client(n3!.port, { clientId: "ka-owned", clean: false, properties: { sessionExpiryInterval: 600 } })
        const ok = await Promise.race([connected(c).then(() => true, () => false), sleep(5000).then(() => false)])
        if (ok) return { fresh: c, takeoverMs: Date.now() - takeoverFrom, refusals }
        refusals++
        c.end(true)
        if (Date.now() - takeoverFrom > 15_000) throw new Error("the takeover on n3 never succeeded")
        await sleep(100)
      }
    }
    let takeover: ReturnType<typeof takeOver> | null = null
    for (let i = 0; i < total; i++) {
      pub.stdin!.write(`m${i}\n`)
      if (i === 100) {
        leader = await etcd.leader()
        killedAt = Date.now()
        void etcd.kill(leader)
        takeover = takeOver()
      }
      await sleep(10)
    }
    pub.stdin!.end()
    const received = await sub.exited
    expect(received.stdout.trim().split("\n")).toEqual(Array.from({ length: total }, (_, i) => `m${i}`))
    expect(pubErr).toBe("")
    const afterKill = arrivals.filter((t) => t >= killedAt)
    const gaps = afterKill.map((t, i) => t - (i === 0 ? killedAt : afterKill[i - 1]!))
    const maxGap = Math.max(...gaps)

    const { fresh, takeoverMs, refusals } = await takeover!
    expect(await Promise.race([oldGone, sleep(5000).then(() => "still connected")])).toBe(0x8e) // Session taken over
    const takenAt = Date.now()
    const freshGot: Array<string> = []
    fresh.on("message", (_t, p) => freshGot.push(p.toString()))
    for (let i = 0; i < 5; i++) {
      const r = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(n2!.port), "-t", "ka/owned", "-q", "1", "-m", `o${i}`]).exited
      expect(r.code, r.stderr).toBe(0)
    }
    await waitFor("the new holder to get o0..o4", () => freshGot.length >= 5)
    expect(freshGot).toEqual(["o0", "o1", "o2", "o3", "o4"])
    expect(oldGot.filter((m) => m.at >= takenAt)).toEqual([]) // n1 delivers nothing for a session it lost
    await etcd.restart(leader)
    console.log(`kill plan (a): etcd leader m${leader} SIGKILLed during ${total} QoS 1 publishes n1 -> n2: all ${total} delivered in order; longest pause in arrivals after the kill ${maxGap} ms; takeover on n3 started with the kill: ${takeoverMs} ms, ${refusals} CONNECT(s) refused first`)
  }, 60_000)

  it("a node restarted (SIGTERM, then started again on its data dir): its persistent session resumes there with what was queued meanwhile", async () => {
    const persistent = { clientId: "kb-session", clean: false, properties: { sessionExpiryInterval: 600 } }
    const first = client(nodes[2]!.port, persistent)
    await connected(first)
    await first.subscribeAsync("kb/#", { qos: 1 })
    const dropped = new Promise<number | undefined>((resolve) => first.once("disconnect", (p) => resolve(p.reasonCode)))
    const port = nodes[2]!.port
    const stoppedAt = Date.now()
    await nodes[2]!.stop(10_000)
    const exitedMs = Date.now() - stoppedAt
    expect(await dropped).toBe(0x8b) // Server shutting down: its session went to another node first
    expect(nodes[2]!.output()).toMatch(/handed \d+ session\(s\) to other nodes/)
    await everyoneSees(["n1", "n2"])
    const goneMs = Date.now() - stoppedAt
    for (let i = 0; i < 10; i++) {
      const r = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(nodes[0]!.port), "-t", "kb/queued", "-q", "1", "-m", `k${i}`]).exited
      expect(r.code, r.stderr).toBe(0)
    }
    const restartedAt = Date.now()
    nodes[2] = await startNode(2, port)
    await everyoneSees(ids)
    const restartMs = Date.now() - restartedAt
    const again = client(nodes[2]!.port, persistent)
    const got: Array<string> = []
    again.on("message", (_t, p) => got.push(p.toString()))
    expect((await connected(again)).sessionPresent).toBe(true)
    await waitFor("the 10 queued messages", () => got.length >= 10)
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`))
    console.log(`kill plan (b): n3 SIGTERM -> exited ${exitedMs} ms, seen gone by the others ${goneMs} ms; restarted on its data dir and seen by all in ${restartMs} ms; its session resumed on it with the 10 messages queued meanwhile`)
  }, 60_000)

  it("a rolling restart of all three nodes under QoS 1 load: every acknowledged publish reaches the persistent subscriber", async () => {
    const ports = nodes.map((n) => n.port) // each node comes back on its port
    const rotated = (from: number) => [...ports.slice(from), ...ports.slice(0, from)]
    const subscriber = client(rotated(1), { clientId: "roll-sub", clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 100, resubscribe: false })
    const sessions: Array<boolean> = []
    const disconnects: Array<number | undefined> = []
    const t0 = Date.now()
    const sigterms: Array<number> = []
    const events: Array<string> = []
    const note = (e: string) => events.push(`${Date.now() - t0} ${e}`)
    subscriber.on("connect", (p) => {
      sessions.push(p.sessionPresent)
      note(`sub connect ${(subscriber.options as { port?: number }).port}`)
    })
    subscriber.on("disconnect", (p) => {
      disconnects.push(p.reasonCode)
      note(`sub disconnect ${p.reasonCode}`)
    })
    await waitFor("the subscriber to connect", () => sessions.length > 0)
    await subscriber.subscribeAsync("roll/t", { qos: 1 })
    const received = new Set<string>()
    let deliveries = 0
    subscriber.on("message", (_t, p) => {
      deliveries++
      received.add(p.toString())
    })
    await sleep(300) // the route reaches the other nodes
    const publisher = client(rotated(0), { clientId: "roll-pub", reconnectPeriod: 100 })
    await connected(publisher)
    const sentAt = new Map<string, number>()
    publisher.on("connect", () => note(`pub connect ${(publisher.options as { port?: number }).port}`))
    const load = qos1Load(publisher, "roll/t", "p", { gapMs: 8, min: 200, max: 2000, sentAt: (p) => sentAt.set(p, Date.now() - t0) })
    const acked = load.acked
    const leaves: Array<number> = []
    const stoppedLogs: Array<string> = []
    const restarts: Array<number> = []
    for (let i = 0; i < 3; i++) {
      await sleep(1000)
      const at = Date.now()
      note(`stop n${i + 1} (${ports[i]})`)
      sigterms.push(Date.now() - t0)
      await nodes[i]!.stop(10_000)
      note(`n${i + 1} exited`)
      stoppedLogs.push(`n${i + 1}: ${nodes[i]!.output().split("\n").filter((l) => /cluster|WARN|ERROR/.test(l)).slice(-8).join("\n")}`)
      leaves.push(Date.now() - at)
      const startAt = Date.now()
      nodes[i] = await startNode(i, ports[i]!)
      await everyoneSees(ids)
      restarts.push(Date.now() - startAt)
    }
    await sleep(1000)
    load.running = false
    await load.done
    await waitFor("the publisher's last acknowledgements", () => load.inflight === 0, 15_000).catch(() => undefined)
    await waitFor("every acknowledged publish to arrive", () => [...acked].every((p) => received.has(p)), 10_000).catch(() => undefined)
    const lost = [...acked].filter((p) => !received.has(p))
    if (lost.length > 0) console.log(`lost sent at ${lost.map((p) => sentAt.get(p)).join(" ")}\n${events.join("\n")}\n${stoppedLogs.join("\n---\n")}`)
    console.log(`kill plan (c): rolling restart under QoS 1 load: ${load.sent} published, ${acked.size} acknowledged, ${received.size} distinct received (${deliveries - received.size} duplicates), acknowledged lost ${lost.length} (sent at ${lost.length === 0 ? "-" : `${Math.min(...lost.map((p) => sentAt.get(p)!))}..${Math.max(...lost.map((p) => sentAt.get(p)!))} ms; SIGTERMs at ${sigterms.join(", ")} ms`}); SIGTERM -> exit ${leaves.join(", ")} ms; restart -> seen by all ${restarts.join(", ")} ms; subscriber disconnects ${JSON.stringify(disconnects)}, session present on reconnect ${JSON.stringify(sessions.slice(1))}`)
    expect(sessions.slice(1).every((present) => present)).toBe(true)
    // Before link catch-up runs lost 0 to 44 acknowledged messages, all published within a
    // hand-over; with catch-up and MovedRoutes, 4 in one loaded CI run; none since make before
    // break (docs/cluster.md 1.5). What is lost is printed above.
    expect(lost.length).toBe(0)
  }, 90_000)

  it("a node SIGKILLed under a persistent session: the client reconnects to another node and its session is served there", async () => {
    const holder = client([nodes[2]!.port, nodes[0]!.port], { clientId: "kd-session", clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 100, resubscribe: false })
    const connects: Array<{ at: number; sessionPresent: boolean }> = []
    holder.on("connect", (p) => connects.push({ at: Date.now(), sessionPresent: p.sessionPresent }))
    await waitFor("the client on n3", () => connects.length === 1)
    await holder.subscribeAsync("kd/#", { qos: 1 })
    const got: Array<{ at: number; payload: string }> = []
    holder.on("message", (_t, p) => got.push({ at: Date.now(), payload: p.toString() }))
    // The holder records the subscription in etcd off the SUBACK path (what a successor reads).
    await waitFor("etcd to hold the session's subscriptions", () => subsInEtcd(etcd.endpoints[0]!, "kd-session"))
    const killedAt = Date.now()
    nodes[2]!.child.kill("SIGKILL")
    await waitFor("the client to reconnect elsewhere", () => connects.length === 2, 15_000)
    const servedMs = connects[1]!.at - killedAt
    expect(connects[1]!.sessionPresent).toBe(true)
    // Publish until it arrives: n1's route for the resumed session must reach n2 first.
    let published = 0
    await waitFor("a message published on n2 to reach the resumed session", async () => {
      const r = await spawn(PUB, ["-h", "127.0.0.1", "-p", String(nodes[1]!.port), "-t", "kd/x", "-q", "1", "-m", `d${published++}`]).exited
      return r.code === 0 && got.length > 0
    })
    const deliveredMs = got[0]!.at - killedAt
    await everyoneSees(["n1", "n2"])
    const goneMs = Date.now() - killedAt
    console.log(`kill plan (d): n3 SIGKILLed under a persistent session (lease TTL ${LEASE_TTL} s): reconnected to n1 with its session ${servedMs} ms after the kill, first message delivered there ${deliveredMs} ms after (${published} publish(es)), n3 seen gone ${goneMs} ms after`)
  }, 60_000)

  /**
   * Kill plan (e), and at QoS 2 (f): n2 SIGKILLed under load from n1 to its subscriber, which
   * resumes on n3; n2 restarted on its data. Nothing acknowledged is lost; at QoS 2 none twice.
   */
  const killTheSubscribersNode = async (qos: 1 | 2, name: string) => {
    const clientId = `k${name}-sub`
    const sub = client([nodes[1]!.port, nodes[2]!.port], { clientId, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 100, resubscribe: false })
    const connects: Array<{ at: number; sessionPresent: boolean }> = []
    sub.on("connect", (p) => connects.push({ at: Date.now(), sessionPresent: p.sessionPresent }))
    await waitFor("the subscriber on n2", () => connects.length === 1)
    await sub.subscribeAsync(`k${name}/#`, { qos })
    const received = new Set<string>()
    const counts = new Map<string, number>()
    let deliveries = 0
    sub.on("message", (_t, p) => {
      deliveries++
      received.add(p.toString())
      counts.set(p.toString(), (counts.get(p.toString()) ?? 0) + 1)
    })
    await waitFor("etcd to hold the subscription", () => subsInEtcd(etcd.endpoints[0]!, clientId))
    await sleep(300) // the route reaches n1
    const publisher = client(nodes[0]!.port, { clientId: `k${name}-pub`, reconnectPeriod: 100 })
    await connected(publisher)
    const load = qos1Load(publisher, `k${name}/t`, name, { gapMs: 5, min: 0, max: 3000, qos })
    const acked = load.acked
    await sleep(1000)
    const killedAt = Date.now()
    nodes[1]!.child.kill("SIGKILL")
    await waitFor("the subscriber to resume on n3", () => connects.length === 2, 15_000)
    const resumedMs = connects[1]!.at - killedAt
    await sleep(2000)
    load.running = false
    await load.done
    await waitFor("the last acknowledgements", () => load.inflight === 0, 10_000).catch(() => undefined)
    await sleep(1000)
    const lostWhileDown = [...acked].filter((p) => !received.has(p)).length
    const restartAt = Date.now()
    nodes[1] = await startNode(1, nodes[1]!.port)
    await waitFor("every acknowledged publish to arrive", () => [...acked].every((p) => received.has(p)), 20_000).catch(() => undefined)
    // What the restarted node still held goes to n3 (its remnant): let any repeat show.
    await sleep(qos === 2 ? 3000 : 0)
    const lost = [...acked].filter((p) => !received.has(p))
    const missing = lost.map((p) => Number(p.slice(name.length))).sort((a, b) => a - b)
    const twice = [...counts].filter(([, n]) => n > 1).map(([p]) => p)
    console.log(`kill plan (${name}): n2 SIGKILLed under QoS ${qos} load (${load.sent} published on n1, ${acked.size} acknowledged): subscriber resumed on n3 ${resumedMs} ms after the kill (session present ${connects[1]!.sessionPresent}); missing while n2 was down ${lostWhileDown}; n2 restarted, ${Date.now() - restartAt} ms later acknowledged lost ${lost.length}${lost.length > 0 ? ` (${name}${missing[0]}..${name}${missing.at(-1)})` : ""}, duplicates ${deliveries - received.size}${twice.length > 0 ? ` (${twice.slice(0, 5).join(", ")}...)` : ""}`)
    if (lost.length > 0 || (qos === 2 && twice.length > 0)) for (const n of nodes) console.log(n.output().split("\n").filter((l) => l.includes(clientId) || /merged|remnant|link/.test(l)).join("\n"))
    expect(connects[1]!.sessionPresent).toBe(true)
    expect(lost).toEqual([])
    if (qos === 2) expect(twice).toEqual([])
  }

  it("a node SIGKILLed under QoS 1 load to its subscriber: the subscriber resumes elsewhere, and once the node is back nothing acknowledged is lost", () => killTheSubscribersNode(1, "e"), 90_000)

  it("the same at QoS 2: nothing acknowledged lost, nothing delivered twice", () => killTheSubscribersNode(2, "f"), 90_000)
})
