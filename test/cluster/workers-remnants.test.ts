/**
 * `robustmq start --workers 2` (SQLite, Kafka on: the sibling serves a dead worker's store): a
 * persistent session's client leaves worker H, 50 QoS 1 messages queue for it on H, and H is
 * SIGKILLed and kept down (the primary's restart delayed). The client resumes on the sibling X,
 * which holds H's store meanwhile and sends what H's session owed from H's disk: all 50 arrive
 * once, before H is back. H back on its data finds the session ended and sends nothing again.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt, { type IClientOptions, type MqttClient } from "mqtt"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { freePair, freePort } from "../support/freePort.js"
import { startWorkersPrimary, untilWorkersUp, workerMembers, type WorkersPrimary } from "../support/workersPrimary.js"

const TOTAL = 50
/** H stays down this long: long enough that what reaches the client meanwhile came from its sibling. */
const RESTART_MS = 15_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("robustmq start --workers 2: a dead worker's queued messages are served from its disk by its sibling", () => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-ghost-"))
  let started: WorkersPrimary
  let mqttPort = 0
  let httpPort = 0
  const clients: Array<MqttClient> = []
  const output = () => started.output()

  const waitFor = async (what: string, check: () => Promise<boolean> | boolean, ms = 20_000) => {
    const deadline = Date.now() + ms
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${output().slice(-6000)}`)
      await sleep(100)
    }
  }
  /** The session's state on worker `i` ("online", "offline"), null when it has none. */
  const sessionOn = async (i: number, clientId: string): Promise<string | null> => {
    const res = await fetch(`http://127.0.0.1:${httpPort + i}/api/v1/sessions/${clientId}`, { signal: AbortSignal.timeout(2000) })
    return res.status === 404 ? null : ((await res.json()) as { state: string }).state
  }
  const client = (options: IClientOptions) => {
    const c = mqtt.connect({ host: "127.0.0.1", port: mqttPort, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options })
    c.on("error", () => undefined)
    clients.push(c)
    return c
  }
  const connected = (c: MqttClient): Promise<{ sessionPresent: boolean }> =>
    new Promise((resolve, reject) => {
      c.once("connect", (p) => resolve({ sessionPresent: p.sessionPresent }))
      c.once("error", reject)
      c.once("close", () => reject(new Error("closed before CONNACK")))
    })

  beforeAll(async () => {
    mqttPort = await freePort()
    httpPort = await freePair()
    const kafkaPort = await freePair()
    started = startWorkersPrimary(
      ["--mqtt-port", String(mqttPort), "--http-port", String(httpPort), "--kafka-port", String(kafkaPort), "--data-dir", dir],
      { ROBUSTMQ_CLUSTER_NODE_ID: "box", ROBUSTMQ_KAFKA_ENABLED: "true", ROBUSTMQ_TEST_WORKER_RESTART_MS: String(RESTART_MS) }
    )
    await untilWorkersUp(started, httpPort)
  }, 60_000)

  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true)
  })

  afterAll(async () => {
    if (started.child.exitCode === null) {
      started.child.kill("SIGTERM")
      await started.exited(20_000)
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it("the client resumes on the sibling and gets all 50 exactly once before the dead worker is back; nothing twice after", async () => {
    const persistent = { clientId: "ghost-sub", clean: false, properties: { sessionExpiryInterval: 600 } }
    const first = client(persistent)
    await connected(first)
    await first.subscribeAsync("ghost/q1", { qos: 1 })
    const on = await Promise.all([sessionOn(0, "ghost-sub"), sessionOn(1, "ghost-sub")])
    const h = on.findIndex((s) => s === "online")
    expect(h, `sessions: ${on}`).toBeGreaterThanOrEqual(0)
    const x = 1 - h
    await first.endAsync()
    await waitFor("the session to be offline on H", async () => (await sessionOn(h, "ghost-sub")) === "offline")
    await sleep(1000) // its subscription reaches the session directory (subs/) at the primary

    // The publisher on H too (connections are handed out round-robin): the messages are in H's log.
    let pub: MqttClient | null = null
    for (let attempt = 0; pub === null && attempt < 10; attempt++) {
      const c = client({ clientId: `ghost-pub-${attempt}` })
      await connected(c)
      if ((await sessionOn(h, `ghost-pub-${attempt}`)) !== null) pub = c
      else c.end(true)
    }
    expect(pub, "a publisher connection on H").not.toBeNull()
    for (let i = 0; i < TOTAL; i++) await pub!.publishAsync("ghost/q1", `m${i}`, { qos: 1 })
    pub!.end(true)

    const hId = `box-w${h}`
    const hPid = (await workerMembers(httpPort + x)).find((m) => m.id === hId)!.pid
    const killedAt = Date.now()
    process.kill(hPid, "SIGKILL")
    await waitFor("X to see H gone", async () => !(await workerMembers(httpPort + x)).some((m) => m.id === hId))
    const hBack = async () => (await workerMembers(httpPort + x)).some((m) => m.id === hId && m.pid !== hPid)

    // The client comes back: only X listens now. Its session resumes there.
    const got: Array<string> = []
    const second = client(persistent)
    second.on("message", (_t, payload) => got.push(payload.toString()))
    expect((await connected(second)).sessionPresent).toBe(true)
    const resumedAt = Date.now()
    expect(await sessionOn(x, "ghost-sub")).toBe("online")

    await waitFor(`all ${TOTAL} messages from H's disk on X (got ${got.length})`, () => new Set(got).size === TOTAL, RESTART_MS - 3000)
    const allAt = Date.now()
    expect(await hBack(), "H came back before its messages arrived: they did not come from its sibling").toBe(false)
    expect([...got].sort()).toEqual(Array.from({ length: TOTAL }, (_, i) => `m${i}`).sort()) // exactly once
    expect(output()).toMatch(new RegExp(`session ghost-sub: merged ${TOTAL} message\\(s\\) it owed on ${hId}`))
    expect(output()).toMatch(new RegExp(`session ghost-sub: the ${TOTAL} message\\(s\\) it still owed here went to box-w${x}`))

    // H comes back on its data: the session ended there (written by X through the fence), nothing is sent again.
    await waitFor("H to be back", hBack, RESTART_MS + 30_000)
    const backAt = Date.now()
    await waitFor("X to hand H's data directory back", () => new RegExp(`${hId}'s data directory \\(.*\\) handed on`).test(output()))
    await sleep(3000) // anything that would come twice comes now
    expect(got.length, `got ${JSON.stringify(got)}`).toBe(TOTAL)
    expect(await sessionOn(h, "ghost-sub")).toBeNull()
    expect(await sessionOn(x, "ghost-sub")).toBe("online")
    console.log(`workers-remnants: ${hId} SIGKILLed with ${TOTAL} QoS 1 messages queued for an offline session; the client resumed on box-w${x} ${resumedAt - killedAt} ms after the kill and had all ${TOTAL} from ${hId}'s disk ${allAt - killedAt} ms after the kill (${allAt - resumedAt} ms after resuming); ${hId} back ${backAt - killedAt} ms after the kill; duplicates: ${got.length - TOTAL}`)
  }, 120_000)
})
