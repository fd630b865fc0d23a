/**
 * `robustmq start --workers N` (SQLite; Kafka on, and off for 2 workers; segment files, 2 workers): a
 * persistent session's client leaves worker H, 50 QoS 1 messages queue for it on H, and H is
 * SIGKILLed and kept down (the primary's restart delayed). The client resumes on a sibling; the
 * sibling X holding H's store sends what H's session owed from H's disk, to itself (2 workers)
 * or over the link to the worker the client resumed on (3 workers): all 50 arrive once, before
 * H is back. H back on its data finds the session ended and sends nothing again.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mqtt, { type IClientOptions, type MqttClient } from "mqtt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort, freeRun } from "../support/freePort.js"
import { waitFor as waitUntil } from "../support/waitFor.js"
import { startWorkersPrimary, untilWorkersUp, workerMembers, type WorkersPrimary } from "../support/workersPrimary.js"

const TOTAL = 50
/** H stays down this long: long enough that what reaches the client meanwhile came from a sibling. */
const RESTART_MS = 15_000
const persistent = (clientId: string) => ({ clientId, clean: false, properties: { sessionExpiryInterval: 600 } })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** `--workers n` under `dir`, with helpers that talk to it as its clients and operators do. */
const box = (workers: number, kafka = true, storage: "sqlite" | "segment" = "sqlite") => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-ghost-"))
  let started: WorkersPrimary
  let mqttPort = 0
  let httpPort = 0
  const clients: Array<MqttClient> = []
  const output = () => started.output()
  const waitFor = (what: string, check: () => Promise<boolean> | boolean, ms = 20_000) =>
    waitUntil(what, check, ms, 100).catch((e: Error) => {
      throw new Error(`${e.message}: ${output().slice(-6000)}`)
    })
  /** The session's state on worker `i` ("online", "offline"), null when it has none. */
  const sessionOn = async (i: number, clientId: string): Promise<string | null> => {
    const res = await fetch(`http://127.0.0.1:${httpPort + i}/api/v1/sessions/${clientId}`, { signal: AbortSignal.timeout(2000) })
    return res.status === 404 ? null : ((await res.json()) as { state: string }).state
  }
  /** Connected (CONNACK), with its session-present flag; connections are handed to the workers in turn. */
  const connect = async (options: IClientOptions) => {
    const c = mqtt.connect({ host: "127.0.0.1", port: mqttPort, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options })
    c.on("error", () => undefined)
    clients.push(c)
    const { sessionPresent } = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      c.once("connect", (p) => resolve({ sessionPresent: p.sessionPresent }))
      c.once("error", reject)
      c.once("close", () => reject(new Error("closed before CONNACK")))
    })
    return { client: c, sessionPresent }
  }
  /** The worker a connected client's session is on. */
  const workerOf = async (clientId: string): Promise<number> => {
    const states = await Promise.all(Array.from({ length: workers }, (_, i) => sessionOn(i, clientId).catch(() => null)))
    return states.findIndex((s) => s === "online")
  }
  /** A clean-session client connected to worker `i` (tried until one lands there). */
  const connectTo = async (i: number, prefix: string): Promise<MqttClient> => {
    for (let attempt = 0; attempt < 4 * workers; attempt++) {
      const { client } = await connect({ clientId: `${prefix}-${attempt}` })
      if ((await workerOf(`${prefix}-${attempt}`)) === i) return client
      client.end(true)
    }
    throw new Error(`no connection landed on worker ${i}`)
  }
  return {
    output, waitFor, sessionOn, connect, workerOf, connectTo,
    httpPort: () => httpPort,
    start: async () => {
      mqttPort = await freePort()
      httpPort = await freeRun(workers)
      const kafkaArgs = kafka ? ["--kafka-port", String(await freeRun(workers))] : []
      started = startWorkersPrimary(
        ["--mqtt-port", String(mqttPort), "--http-port", String(httpPort), ...kafkaArgs, "--data-dir", dir, "--storage", storage],
        { ROBUSTMQ_CLUSTER_NODE_ID: "box", ROBUSTMQ_KAFKA_ENABLED: String(kafka), ROBUSTMQ_TEST_WORKER_RESTART_MS: String(RESTART_MS) },
        process.execPath,
        workers
      )
      await untilWorkersUp(started, httpPort, workers)
    },
    stop: async () => {
      for (const c of clients.splice(0)) c.end(true)
      await started?.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The session subscribed on some worker H, offline, with TOTAL QoS 1 messages published on H
 * queued for it; then H is SIGKILLed. Returns H, its pid and when it was killed.
 */
const queueThenKill = async (b: ReturnType<typeof box>, clientId: string, topic: string) => {
  const { client: first } = await b.connect(persistent(clientId))
  await first.subscribeAsync(topic, { qos: 1 })
  const h = await b.workerOf(clientId)
  expect(h).toBeGreaterThanOrEqual(0)
  await first.endAsync()
  await b.waitFor("the session to be offline on H", async () => (await b.sessionOn(h, clientId)) === "offline")
  await sleep(1000) // its subscription reaches the session directory (subs/) at the primary
  // Published on H too: the messages are in H's log.
  const pub = await b.connectTo(h, `${clientId}-pub`)
  for (let i = 0; i < TOTAL; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 })
  pub.end(true)
  // Queued there a while: the others' link progress covers H's log to its end (heartbeats every
  // 500 ms). What H logged after its last heartbeat the holder leaves out of the merge: H's own
  // catch-up brings it when H is back (docs/cluster.md 1.6c).
  await sleep(1500)
  const hId = `box-w${h}`
  const other = h === 0 ? 1 : 0
  const hPid = (await workerMembers(b.httpPort() + other)).find((m) => m.id === hId)!.pid
  const killedAt = Date.now()
  process.kill(hPid, "SIGKILL")
  await b.waitFor("the others to see H gone", async () => !(await workerMembers(b.httpPort() + other)).some((m) => m.id === hId))
  const hBack = async () => (await workerMembers(b.httpPort() + other)).some((m) => m.id === hId && m.pid !== hPid)
  return { h, hId, killedAt, hBack }
}

/** After H is back: nothing more arrives, and the session is only where it resumed. */
const nothingTwice = async (b: ReturnType<typeof box>, clientId: string, got: ReadonlyArray<string>, h: number, holder: number, hBack: () => Promise<boolean>) => {
  await b.waitFor("H to be back", hBack, RESTART_MS + 30_000)
  await b.waitFor("the sibling to hand H's data directory back", () => new RegExp(`box-w${h}'s data directory \\(.*\\) handed on`).test(b.output()))
  await sleep(3000) // anything that would come twice comes now
  expect(got.length, `got ${JSON.stringify(got)}`).toBe(TOTAL)
  expect(await b.sessionOn(h, clientId)).toBeNull()
  expect(await b.sessionOn(holder, clientId)).toBe("online")
}

const twoWorkers: ReadonlyArray<readonly [boolean, "sqlite" | "segment"]> = [[true, "sqlite"], [false, "sqlite"], [true, "segment"]]
for (const [kafka, storage] of twoWorkers) describe(`robustmq start --workers 2 --storage ${storage}${kafka ? "" : " with Kafka off"}: a dead worker's queued messages are served from its disk by its sibling`, () => {
  const b = box(2, kafka, storage)
  beforeAll(() => b.start(), 60_000)
  afterAll(() => b.stop(), 30_000)

  it("the client resumes on the sibling and gets all 50 exactly once before the dead worker is back; nothing twice after", async () => {
    const { h, hId, killedAt, hBack } = await queueThenKill(b, "ghost-sub", "ghost/q1")
    const x = 1 - h
    // The client comes back: only X listens now. Its session resumes there.
    const got: Array<string> = []
    const { client: second, sessionPresent } = await b.connect(persistent("ghost-sub"))
    second.on("message", (_t, payload) => got.push(payload.toString()))
    const resumedAt = Date.now()
    expect(sessionPresent).toBe(true)
    expect(await b.sessionOn(x, "ghost-sub")).toBe("online")

    await b.waitFor(`all ${TOTAL} messages from H's disk on X`, () => new Set(got).size === TOTAL, RESTART_MS - 3000)
    const allAt = Date.now()
    expect(await hBack(), "H came back before its messages arrived: they did not come from its sibling").toBe(false)
    expect([...got].sort()).toEqual(Array.from({ length: TOTAL }, (_, i) => `m${i}`).sort()) // exactly once
    // The holder logs the merge once it is stored, which may be after the client got the messages.
    await b.waitFor("the merge in the holder's log", () => new RegExp(`session ghost-sub: merged ${TOTAL} message\\(s\\) it owed on ${hId}`).test(b.output()))
    // X logs the hand-on once the holder acknowledged it and the session ended on H's disk (after the client got the messages).
    await b.waitFor("X to log the hand-on", () => new RegExp(`session ghost-sub: the ${TOTAL} message\\(s\\) it still owed on ${hId} went to box-w${x}`).test(b.output()))

    // H comes back on its data: the session ended there (written by X through the fence), nothing is sent again.
    await nothingTwice(b, "ghost-sub", got, h, x, hBack)
    console.log(`workers-remnants (2 workers, ${storage}${kafka ? "" : ", Kafka off"}): ${hId} SIGKILLed with ${TOTAL} QoS 1 messages queued for an offline session; the client resumed on box-w${x} ${resumedAt - killedAt} ms after the kill and had all ${TOTAL} from ${hId}'s disk ${allAt - killedAt} ms after the kill (${allAt - resumedAt} ms after resuming); duplicates: ${got.length - TOTAL}`)
  }, 120_000)
})

describe("robustmq start --workers 3: the sibling holding the dead worker's store sends its remnant over the link", () => {
  const b = box(3)
  beforeAll(() => b.start(), 60_000)
  afterAll(() => b.stop(), 30_000)

  it("the client resumes on the worker that does not hold H's store, and gets all 50 from H's disk by a REMNANT with H as origin", async () => {
    const { h, hId, killedAt, hBack } = await queueThenKill(b, "ghost-far", "ghost/far")
    let x = -1
    await b.waitFor("a sibling to take H's store", () => {
      const m = new RegExp(`workers: ${hId} is down: serving its Kafka partitions from .* node=box-w(\\d)`).exec(b.output())
      if (m !== null) x = Number(m[1])
      return m !== null
    })
    const y = [0, 1, 2].find((i) => i !== h && i !== x)!
    // Connections alternate between the two live workers: one that lands on X sends the next to Y.
    await b.connectTo(x, "ghost-probe")
    const got: Array<string> = []
    const { client: second, sessionPresent } = await b.connect(persistent("ghost-far"))
    second.on("message", (_t, payload) => got.push(payload.toString()))
    const resumedAt = Date.now()
    expect(sessionPresent).toBe(true)
    expect(await b.sessionOn(y, "ghost-far"), `the client should have resumed on box-w${y} (X is box-w${x})`).toBe("online")

    await b.waitFor(`all ${TOTAL} messages from H's disk on Y`, () => new Set(got).size === TOTAL, RESTART_MS - 3000)
    const allAt = Date.now()
    expect(await hBack(), "H came back before its messages arrived: they did not come from its sibling").toBe(false)
    expect([...got].sort()).toEqual(Array.from({ length: TOTAL }, (_, i) => `m${i}`).sort()) // exactly once
    // Y merged it as H's (origin), X sent it and had the PUSHACK.
    await b.waitFor("the merge in Y's log", () => new RegExp(`session ghost-far: merged ${TOTAL} message\\(s\\) it owed on ${hId} node=box-w${y}`).test(b.output()))
    await b.waitFor("X to log the hand-on", () => new RegExp(`session ghost-far: the ${TOTAL} message\\(s\\) it still owed on ${hId} went to box-w${y}, which holds it now; ended on ${hId} node=box-w${x}`).test(b.output()))

    await nothingTwice(b, "ghost-far", got, h, y, hBack)
    console.log(`workers-remnants (3 workers): ${hId} SIGKILLed with ${TOTAL} QoS 1 messages queued for an offline session; box-w${x} held its store, the client resumed on box-w${y} ${resumedAt - killedAt} ms after the kill and had all ${TOTAL} ${allAt - killedAt} ms after the kill (${allAt - resumedAt} ms after resuming); duplicates: ${got.length - TOTAL}`)
  }, 120_000)
})
