/**
 * `--workers` on Node 22.12+: each worker binds the shared MQTT port itself (SO_REUSEPORT) and
 * the kernel spreads connections, none through the primary. CI runs Node 20, so the broker runs
 * here under Node 22 fetched from the npm registry (`npx node@22`); skipped if it cannot be. On
 * memory storage: node_modules' SQLite binding is built for the Node that ran `npm ci`.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { reusePortSupported, sharedBinding } from "../../src/net/listen.js"
import { connect, type TestClient } from "../support/clients.js"
import { freePair, freePort } from "../support/freePort.js"
import { startWorkersPrimary, type WorkersPrimary } from "../support/workersPrimary.js"

describe("how a worker binds a port every worker serves", () => {
  it("its own socket with SO_REUSEPORT on Node 22.12+ and 23.1+ on Linux, else through the primary", () => {
    expect(["20.19.0", "22.11.0", "22.12.0", "23.0.0", "23.1.0", "24.0.0"].map((v) => reusePortSupported(v, "linux"))).toEqual([false, false, true, false, true, true])
    expect(reusePortSupported("24.0.0", "darwin")).toBe(false)
    expect(sharedBinding(true, 1883, true, true)).toBe("reuse-port")
    expect(sharedBinding(true, 0, true, true)).toBe("primary") // a random port must be one for all
    expect(sharedBinding(true, 1883, true, false)).toBe("primary")
    expect(sharedBinding(false, 1883, true, true)).toBe("own") // Kafka, HTTP, the link: per worker
    expect(sharedBinding(true, 1883, false, true)).toBe("own") // no --workers
  })
})

/** The path of a Node 22 binary, or null when it cannot be fetched. */
const node22 = (() => {
  try {
    const path = execFileSync("npx", ["-y", "node@22", "-e", "process.stdout.write(process.execPath)"], { encoding: "utf8", timeout: 120_000, stdio: ["ignore", "pipe", "ignore"] })
    return path.length > 0 ? path : null
  } catch {
    return null
  }
})()

interface Member {
  readonly self: boolean
  readonly sessions: number | null
}

describe.skipIf(node22 === null)("robustmq start --workers 2 on Node 22 (SO_REUSEPORT)", () => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-reuseport-"))
  let mqttPort = 0
  let httpPort = 0
  let primary: WorkersPrimary
  const clients: Array<TestClient> = []
  const sessionsOn = async (port: number): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/cluster`)
    if (!res.ok) throw new Error(`GET /api/v1/cluster on ${port}: ${res.status}`)
    return ((await res.json()) as { members: ReadonlyArray<Member> }).members.find((m) => m.self)?.sessions ?? 0
  }

  beforeAll(async () => {
    mqttPort = await freePort()
    httpPort = await freePair()
    primary = startWorkersPrimary(["--mqtt-port", String(mqttPort), "--http-port", String(httpPort), "--data-dir", dir, "--storage", "memory"], { ROBUSTMQ_CLUSTER_NODE_ID: "rp" }, node22!)
    const out = primary.output
    const deadline = Date.now() + 60_000
    while ((out().match(/SO_REUSEPORT/g) ?? []).length < 2 || !/listening/.test(out())) {
      if (Date.now() > deadline || primary.child.exitCode !== null) throw new Error(`the workers did not come up on their own sockets: ${out()}`)
      await new Promise((r) => setTimeout(r, 200))
    }
    await new Promise((r) => setTimeout(r, 1000)) // both workers joined the primary's coordination
  }, 90_000)

  afterAll(async () => {
    for (const c of clients) await c.end(true)
    if (primary?.child.exitCode === null) primary.child.kill("SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  })

  it("both workers bind the MQTT port themselves; the kernel spreads 16 clients over them, and a message reaches subscribers on either", async () => {
    const subs: Array<TestClient> = []
    for (let i = 0; i < 16; i++) {
      const c = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `rp${i}` })
      clients.push(c)
      subs.push(c)
      await c.client.subscribeAsync("rp/#", { qos: 1 })
    }
    const held = await Promise.all([sessionsOn(httpPort), sessionsOn(httpPort + 1)])
    expect(held[0]! + held[1]!).toBe(16)
    expect(Math.min(...held)).toBeGreaterThan(0)
    const pub = await connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: "rp-pub" })
    clients.push(pub)
    for (let i = 0; i < 20; i++) await pub.client.publishAsync("rp/x", String(i), { qos: 1 })
    for (const s of subs) expect((await s.waitFor(20)).map((m) => Number(m.payload))).toEqual(Array.from({ length: 20 }, (_, i) => i))
    console.log(`--workers 2 on Node 22 with SO_REUSEPORT: 16 clients spread ${held.join(" / ")} by the kernel`)
  }, 60_000)

  it("a second broker started on the same MQTT port exits 1 saying the port is in use, instead of sharing it", async () => {
    const other = mkdtempSync(join(tmpdir(), "robustmq-reuseport-2-"))
    try {
      const second = startWorkersPrimary(["--mqtt-port", String(mqttPort), "--http-port", String(await freePair()), "--data-dir", other, "--storage", "memory"], { ROBUSTMQ_CLUSTER_NODE_ID: "rp2" }, node22!)
      const code = await second.exited(20_000)
      expect(code, second.output()).toBe(1)
      expect(second.output()).toMatch(new RegExp(`MQTT port ${mqttPort} is already in use`))
    } finally {
      rmSync(other, { recursive: true, force: true })
    }
  }, 30_000)
})
