/**
 * `robustmq start --workers 2`, the way an operator runs it: one command, two worker processes
 * behind one MQTT port, coordinated by the primary (no etcd). Clients land on both workers and
 * still reach each other; a worker killed with SIGKILL is started again on its data while its
 * clients resume their sessions on the other; SIGTERM to the primary stops everything.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt from "mqtt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import { freePair, freePort } from "../support/freePort.js"
import { mainPath } from "../support/startBrokerProcess.js"
import { startWorkersPrimary, untilWorkersUp, type WorkerMember, workerMembers, type WorkersPrimary } from "../support/workersPrimary.js"

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("robustmq start --workers 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-workers-"))
  let mqttPort = 0
  let httpPort = 0
  let started: WorkersPrimary
  let primary: ChildProcess
  const output = () => started.output()
  const clients: Array<TestClient> = []

  const membersOn = async (port: number): Promise<ReadonlyArray<WorkerMember>> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/cluster`)
    if (!res.ok) throw new Error(`GET /api/v1/cluster on ${port}: ${res.status}`)
    return ((await res.json()) as { members: ReadonlyArray<WorkerMember> }).members
  }

  beforeAll(async () => {
    mqttPort = await freePort()
    httpPort = await freePair()
    started = startWorkersPrimary(["--mqtt-port", String(mqttPort), "--http-port", String(httpPort), "--data-dir", dir], { ROBUSTMQ_CLUSTER_NODE_ID: "box" })
    primary = started.child
    await untilWorkersUp(started, httpPort)
  }, 60_000)

  afterAll(async () => {
    for (const c of clients) await c.end(true)
    if (primary.exitCode === null) primary.kill("SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  })

  it("serves one MQTT port from both workers, and a message reaches subscribers on either", async () => {
    const subs: Array<TestClient> = []
    for (let i = 0; i < 6; i++) {
      const c = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `wsub${i}` })
      clients.push(c)
      subs.push(c)
      await c.client.subscribeAsync("w/#", { qos: 1 })
    }
    // node:cluster hands connections out round-robin: both workers hold some of them.
    const [a, b] = await Promise.all([membersOn(httpPort), membersOn(httpPort + 1)])
    const held = [a.find((m) => m.self)!.sessions!, b.find((m) => m.self)!.sessions!]
    expect(held[0]).toBeGreaterThan(0)
    expect(held[1]).toBeGreaterThan(0)
    const pub = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: "wpub" })
    clients.push(pub)
    for (let i = 0; i < 50; i++) await pub.client.publishAsync("w/x", String(i), { qos: 1 })
    for (const s of subs) {
      const got = await s.waitFor(50)
      expect(got.map((m) => Number(m.payload))).toEqual(Array.from({ length: 50 }, (_, i) => i))
    }
  }, 30_000)

  it("a worker killed with SIGKILL is started again on its data; its persistent session resumes on the other meanwhile", async () => {
    const options = { clientId: "wk", protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 0 }
    const first = await connect(`mqtt://127.0.0.1:${mqttPort}`, options)
    await first.client.subscribeAsync("wk/#", { qos: 1 })
    // Which worker holds it: the one whose admin API knows the session.
    const members = await membersOn(httpPort)
    expect(members.map((m) => m.id).sort()).toEqual(["box-w0", "box-w1"])
    let holder: WorkerMember | undefined
    for (const port of [httpPort, httpPort + 1]) {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/sessions/wk`)
      if (res.ok) holder = (await membersOn(port)).find((m) => m.self)
    }
    expect(holder).toBeDefined()
    // The holder records the subscription in the cluster's session directory off the SUBACK path (coalesced, a few ms).
    await new Promise((r) => setTimeout(r, 500))
    const killedAt = Date.now()
    process.kill(holder!.pid, "SIGKILL")
    await first.end(true)
    // Reconnecting until the other worker serves it (the dead one's connections are gone at once).
    let resumed: { client: mqtt.MqttClient; sessionPresent: boolean; got: Array<string> } | null = null
    while (resumed === null) {
      if (Date.now() - killedAt > 15_000) throw new Error(`the session was not resumed: ${output().slice(-6000)}`)
      const c = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, options)
      const got: Array<string> = []
      c.on("message", (_t, p) => got.push(p.toString()))
      const connack = await new Promise<{ sessionPresent: boolean } | null>((resolve) => {
        c.once("connect", resolve)
        c.once("error", () => resolve(null))
        c.once("close", () => resolve(null))
      })
      if (connack !== null && c.connected) resumed = { client: c, sessionPresent: connack.sessionPresent, got }
      else {
        c.end(true)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    const servedAfter = Date.now() - killedAt
    try {
      expect(resumed.sessionPresent, output().slice(-5000)).toBe(true)
      const pub = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: "wkpub" })
      clients.push(pub)
      await pub.client.publishAsync("wk/1", "after the kill", { qos: 1 })
      await waitUntil(() => resumed!.got.length > 0, 5000, () => "the resumed session to get a message")
      expect(resumed.got).toEqual(["after the kill"])
    } finally {
      resumed.client.end(true)
    }
    // The primary started the killed worker again: two members, a new pid.
    const other = httpPort + (holder!.id === "box-w0" ? 1 : 0)
    for (;;) {
      const now = await workerMembers(other)
      if (now.length === 2 && now.every((m) => m.pid !== holder!.pid)) break
      if (Date.now() - killedAt > 30_000) throw new Error(`the worker did not come back: ${output().slice(-2000)}`)
      await new Promise((r) => setTimeout(r, 200))
    }
    console.log(`workers: SIGKILL of a worker -> its session served by the other after ${servedAfter} ms; back in ${Date.now() - killedAt} ms`)
  }, 60_000)

  it("a ban added through one worker's admin API is in force on the other (the primary shares the control plane)", async () => {
    const added = await fetch(`http://127.0.0.1:${httpPort}/api/v1/bans`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind: "clientid", value: "w-banned", reason: "test" })
    })
    expect(added.status, await added.text()).toBeLessThan(300)
    // Listed by the other worker, from the primary's stream.
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${httpPort + 1}/api/v1/bans`)
      if (res.ok && (await res.text()).includes("w-banned")) break
      await new Promise((r) => setTimeout(r, 100))
    }
    // Refused whichever worker the connection lands on.
    for (let i = 0; i < 4; i++) {
      const c = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: "w-banned", protocolVersion: 5, reconnectPeriod: 0 })
      const outcome = await new Promise<string>((resolve) => {
        c.once("connect", () => resolve("connected"))
        c.once("error", (e) => resolve(`refused: ${e.message}`))
        c.once("close", () => resolve("closed"))
      })
      c.end(true)
      expect(outcome).not.toBe("connected")
    }
  }, 30_000)

  it("SIGTERM to the primary stops every worker and exits 0", async () => {
    const pids = [...new Set([...(await membersOn(httpPort)), ...(await membersOn(httpPort + 1))].map((m) => m.pid))]
    expect(pids).toHaveLength(2)
    const exited = new Promise<number | null>((resolve) => primary.once("exit", (code) => resolve(code)))
    primary.kill("SIGTERM")
    expect(await exited).toBe(0)
    expect(pids.filter(alive)).toEqual([])
    expect(output()).toMatch(/workers: stopping 2/)
  }, 40_000)
})

describe("robustmq start --workers 2 that cannot start", () => {
  it("exits 1 with one line saying what is wrong, instead of restarting workers in a loop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "robustmq-workers-bad-"))
    const file = join(dir, "not-a-dir")
    writeFileSync(file, "x")
    try {
      const child = spawn(process.execPath, [mainPath, "start", "--workers", "2", "--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--data-dir", join(file, "data")], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ROBUSTMQ_KAFKA_ENABLED: "false", ROBUSTMQ_HTTP_PORT: "-1" }
      })
      let stderr = ""
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)))
      expect(code).toBe(1)
      expect(stderr.trim().split("\n")).toHaveLength(1)
      expect(stderr).toMatch(/cannot keep the workers' coordination in .*not-a-dir\/data\/coordination\.jsonl .*check --data-dir/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)
})
