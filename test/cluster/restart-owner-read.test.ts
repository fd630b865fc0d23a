/**
 * A node restarting on its data checks the persistent sessions it restored against etcd
 * (SessionOwnership.dropStale) by reading their owner keys only: the sessions that resumed on
 * another node while it was down end here, the rest stay, whatever else etcd holds. A real etcd,
 * a real `robustmq start --cluster-etcd` process, MQTT.js clients. By default a few hundred
 * sessions among a few thousand other owner keys; ROBUSTMQ_SCALE_HEAVY=1 runs docs/cluster.md's
 * figure (20k restored sessions among 200k others) and prints how long the restart spent
 * between its join and its routes. Skipped without etcd (.ci/run installs it).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Etcd3 } from "etcd3"
import mqtt from "mqtt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type BrokerProcess, startBrokerProcess } from "../support/startBrokerProcess.js"
import { waitFor } from "../support/waitFor.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"

const heavy = process.env.ROBUSTMQ_SCALE_HEAVY === "1"
const OWN = heavy ? 20_000 : 300
const OTHERS = heavy ? 200_000 : 3_000
/** Every STALE_EVERY-th of the node's sessions resumes on another node while it is down. */
const STALE_EVERY = 100
const ownId = (i: number) => `rs-${String(i).padStart(6, "0")}`
const ownerKey = (clientId: string) => `/rmq/robustmq/owners/sessions/${clientId}`

/** Runs `task` for 0..n-1, `width` at a time. */
const pool = async (n: number, width: number, task: (i: number) => Promise<void>): Promise<void> => {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await task(next++)
  }))
}

/** A persistent session for `clientId`, left with its client gone. */
const persistentSession = async (port: number, clientId: string): Promise<void> => {
  // A CONNECT refused with 0x88 (etcd slow to answer the claim on a loaded machine) is tried again, as a device would.
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(port, clientId)
    } catch (e) {
      if (attempt >= 5) throw e
      await new Promise((r) => setTimeout(r, 200 * attempt))
    }
  }
}

const connectOnce = (port: number, clientId: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const c = mqtt.connect({ host: "127.0.0.1", port, clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0, connectTimeout: 20_000 })
    c.once("connect", () => c.end(false, {}, () => resolve()))
    c.once("error", (e) => {
      c.end(true)
      reject(e)
    })
  })

/** When the line matching `re` was logged (the timestamp it starts with), or NaN. */
const loggedAt = (output: string, re: RegExp): number => {
  const line = output.split("\n").find((l) => re.test(l))
  return Date.parse(/^(\S+)/.exec(line ?? "")?.[1] ?? "")
}

describe.skipIf(!hasEtcd)("a restarting node checks its own sessions' owners in etcd", () => {
  let etcd: EtcdServer
  let raw: Etcd3
  let dir: string
  let node: BrokerProcess | null = null

  const start = () =>
    startBrokerProcess(dir, {
      kafkaPort: null,
      args: ["--cluster-etcd", etcd.endpoint, "--node-id", "na", "--advertise-host", "127.0.0.1", "--cluster-port", "0"],
      env: { ROBUSTMQ_CLUSTER_LEASE_TTL: "2" },
      startTimeoutMs: heavy ? 300_000 : 30_000
    })

  beforeAll(async () => {
    etcd = await startEtcd()
    raw = new Etcd3({ hosts: [etcd.endpoint] })
    dir = mkdtempSync(join(tmpdir(), "robustmq-restart-owners-"))
  }, 30_000)

  afterAll(async () => {
    await node?.stop(3000)
    raw?.close()
    await etcd?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`${OWN} restored sessions among ${OTHERS} other owner keys: the ${OWN / STALE_EVERY} that resumed elsewhere end, the rest stay`, async () => {
    node = await start()
    const port = node.port
    let began = Date.now()
    await pool(OWN, 32, (i) => persistentSession(port, ownId(i)))
    console.log(`restart-owner-read: ${OWN} persistent sessions made in ${Date.now() - began} ms`)
    await node.stop(heavy ? 60_000 : 10_000)

    // While it is down: the cluster's other sessions, and some of its own resumed on nb.
    const puts: Array<readonly [string, string]> = [
      ...Array.from({ length: OTHERS }, (_, i) => [ownerKey(`dev-${i}`), JSON.stringify({ owner: `node-${i % 100}`, epoch: 1 })] as const),
      ...Array.from({ length: OWN / STALE_EVERY }, (_, j) => [ownerKey(ownId(j * STALE_EVERY)), JSON.stringify({ owner: "nb", epoch: 2 })] as const)
    ]
    await pool(Math.ceil(puts.length / 128), 8, (b) =>
      raw.kv.txn({ success: puts.slice(b * 128, b * 128 + 128).map(([k, v]) => ({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } })) }).then(() => undefined))

    began = Date.now()
    node = await start()
    const restarted = node
    await waitFor("the restarted node to publish its routes", () => /cluster: node link on/.test(restarted.output()), heavy ? 300_000 : 30_000)
    const out = restarted.output()
    const joined = loggedAt(out, /cluster: node na joined/)
    const published = loggedAt(out, /cluster: node link on/)
    expect(published - joined).toBeGreaterThanOrEqual(0)
    const read = /owners of (\d+) restored session\(s\) read from etcd in (\d+) ms/.exec(out)
    console.log(`restart-owner-read: restart with ${OWN} sessions among ${OTHERS} others: listening ${Date.now() - began} ms after spawn; join to routes ${published - joined} ms; ${read === null ? "owner read not logged (under 10k sessions)" : `owner read ${read[2]} ms`}`)
    expect(out).toMatch(new RegExp(`cluster: ${OWN / STALE_EVERY} restored session\\(s\\) are held by other nodes now`))
    if (OWN > 10_000) expect(read?.[1]).toBe(String(OWN))

    // The stale ones ended here, the others are still this node's.
    const state = async (clientId: string) => {
      const res = await fetch(`http://127.0.0.1:${restarted.httpPort}/api/v1/sessions/${clientId}`, { signal: AbortSignal.timeout(5000) })
      return res.status === 404 ? null : ((await res.json()) as { state: string }).state
    }
    for (const i of [0, STALE_EVERY, OWN - STALE_EVERY]) expect(await state(ownId(i)), ownId(i)).toBeNull()
    for (const i of [1, STALE_EVERY + 1, OWN - 1]) expect(await state(ownId(i)), ownId(i)).not.toBeNull()
    const owner = async (clientId: string) => JSON.parse((await raw.get(ownerKey(clientId)).string()) ?? "null") as { owner: string } | null
    expect((await owner(ownId(1)))?.owner).toBe("na")
    expect((await owner(ownId(0)))?.owner).toBe("nb")
  }, heavy ? 1_200_000 : 120_000)
})
