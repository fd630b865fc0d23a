/**
 * `robustmq start --workers 2` with Kafka on SQLite and on segment files (issue 11 item 6;
 * segment writes hold the SQLite file's fence too): a worker killed with
 * SIGKILL has its Kafka partitions served by the other worker from the dead one's data
 * directory until the primary has started it again (kcat -L shows the survivor leading them;
 * a kafkajs producer's records go on at the offsets the dead worker's log had reached), then
 * handed back (kcat shows the worker leading them again), and a consumer reads every record of
 * every partition once, in order, at contiguous offsets. The times are printed.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Kafka, logLevel, Partitioners } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kafkaNodeId } from "../../src/cluster/kafka/placement.js"
import { freePair, freePort } from "../support/freePort.js"
import { useRobustmqCli } from "../support/robustmqCli.js"
import { waitFor as waitUntilTrue } from "../support/waitFor.js"
import { startWorkersPrimary, untilWorkersUp, workerMembers, type WorkersPrimary } from "../support/workersPrimary.js"

const hasKcat = spawnSync("kcat", ["-V"]).status === 0
const TOPIC = "takeover"
const PARTITIONS = 4
const PER_ROUND = 20

/** Partition -> leader broker id, from `kcat -L` against one worker's Kafka port ([] when it does not answer). */
const leadersVia = (port: number): Array<number> => {
  const run = spawnSync("kcat", ["-L", "-b", `127.0.0.1:${port}`, "-t", TOPIC, "-m", "3"], { encoding: "utf8" })
  const leaders: Array<number> = []
  for (const m of (run.stdout ?? "").matchAll(/partition (\d+), leader (-?\d+)/g)) leaders[Number(m[1])] = Number(m[2])
  return leaders
}

describe.skipIf(!hasKcat).each(["sqlite", "segment"])("robustmq start --workers 2 --storage %s: a dead worker's Kafka partitions are served from its data meanwhile", (storage) => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-takeover-"))
  const cli = useRobustmqCli()
  let started: WorkersPrimary
  let httpPort = 0
  let kafkaPort = 0
  const output = () => started.output()

  const waitFor = (what: string, check: () => Promise<boolean> | boolean, ms = 20_000) =>
    waitUntilTrue(what, check, ms, 100).catch((e: Error) => Promise.reject(new Error(`${e.message}: ${output().slice(-4000)}`)))
  /** A kafkajs client that knows only the given workers' Kafka ports. */
  const kafka = (...ports: Array<number>) =>
    new Kafka({
      clientId: "takeover-test",
      brokers: ports.map((p) => `127.0.0.1:${p}`),
      logLevel: logLevel.NOTHING,
      retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 1000 }
    })
  /** Sends `PER_ROUND` records to each partition in `partitions` through `ports`; the base offset each got. */
  const produce = async (round: number, partitions: ReadonlyArray<number>, ports: ReadonlyArray<number>) => {
    const producer = kafka(...ports).producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    try {
      const bases = new Map<number, number>()
      for (const partition of partitions) {
        const messages = Array.from({ length: PER_ROUND }, (_, i) => ({ partition, value: `r${round}-p${partition}-${i}` }))
        const [meta] = await producer.send({ topic: TOPIC, acks: -1, messages })
        bases.set(partition, Number(meta!.baseOffset))
      }
      return bases
    } finally {
      await producer.disconnect()
    }
  }

  beforeAll(async () => {
    httpPort = await freePair()
    kafkaPort = await freePair()
    started = startWorkersPrimary(
      ["--mqtt-port", String(await freePort()), "--http-port", String(httpPort), "--kafka-port", String(kafkaPort), "--data-dir", dir, "--storage", storage],
      { ROBUSTMQ_CLUSTER_NODE_ID: "box", ROBUSTMQ_KAFKA_ENABLED: "true" }
    )
    await untilWorkersUp(started, httpPort)
  }, 60_000)

  afterAll(async () => {
    await started.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("serves them from the dead worker's store, under a new leader epoch, and hands them back", async () => {
    const admin = kafka(kafkaPort, kafkaPort + 1).admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }], waitForLeaders: true })
    await admin.disconnect()
    const ids = [kafkaNodeId("box-w0"), kafkaNodeId("box-w1")]
    await waitFor("a leader for every partition", () => {
      const l = leadersVia(kafkaPort)
      return l.length === PARTITIONS && l.every((id) => ids.includes(id))
    })
    const before = leadersVia(kafkaPort)
    // The partitions spread over both workers; the victim is the one leading partition 0.
    const victim = ids.indexOf(before[0]!)
    const survivor = 1 - victim
    const victimParts = before.flatMap((id, p) => (id === ids[victim] ? [p] : []))
    const all = Array.from({ length: PARTITIONS }, (_, p) => p)
    expect(new Set(before).size, `leaders ${before}`).toBe(2)

    const first = await produce(0, all, [kafkaPort, kafkaPort + 1])
    expect([...first.values()]).toEqual(all.map(() => 0))

    const pid = (await workerMembers(httpPort + survivor)).find((m) => m.id === `box-w${victim}`)!.pid
    const killedAt = Date.now()
    process.kill(pid, "SIGKILL")
    // The survivor leads every partition while the victim is down (its own, and the victim's as box-wS@box-wV).
    await waitFor("the survivor to lead the dead worker's partitions", () => leadersVia(kafkaPort + survivor).every((id) => id === ids[survivor]))
    const adoptedAfter = Date.now() - killedAt
    const victimBack = async () => (await workerMembers(httpPort + survivor)).some((m) => m.id === `box-w${victim}` && m.pid !== pid)
    expect(await victimBack(), "the dead worker came back before its partitions were taken over").toBe(false)

    // Produced meanwhile through the survivor alone: the victim's partitions go on at offset 20,
    // from its own log, not from scratch.
    const second = await produce(1, all, [kafkaPort + survivor])
    const producedBy = Date.now() - killedAt
    expect([...second.entries()].sort((a, b) => a[0] - b[0]).map(([, base]) => base)).toEqual(all.map(() => PER_ROUND))
    expect(output()).toMatch(new RegExp(`box-w${victim} is down: serving its Kafka partitions from`))
    // The cluster status says so: the survivor serves the victim's data (if the victim is not back already).
    const status = await cli.run(["cluster", "status", "--url", `http://127.0.0.1:${httpPort + survivor}`])
    expect(status.code, status.stderr).toBe(0)
    if (!(await victimBack())) expect(status.stdout).toMatch(new RegExp(`box-w${survivor} \\*.* box-w${victim} `))

    // The primary starts the victim again; it claims its store and its partitions back.
    await waitFor("the dead worker to be back", victimBack, 40_000)
    await waitFor("the partitions to be handed back", () => {
      const l = leadersVia(kafkaPort + survivor)
      return l.length === PARTITIONS && victimParts.every((p) => l[p] === ids[victim]) && l.every((id) => ids.includes(id))
    }, 30_000)
    const backAfter = Date.now() - killedAt
    expect(output()).toMatch(new RegExp(`box-w${victim}'s data directory \\(.*\\) handed on`))

    const third = await produce(2, all, [kafkaPort, kafkaPort + 1])
    expect([...third.entries()].sort((a, b) => a[0] - b[0]).map(([, base]) => base)).toEqual(all.map(() => 2 * PER_ROUND))

    // Every record of every partition, once, in order.
    const consumer = kafka(kafkaPort, kafkaPort + 1).consumer({ groupId: "takeover-readers" })
    const got = new Map<number, Array<{ offset: number; value: string }>>(all.map((p) => [p, []]))
    await consumer.connect()
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ partition, message }) => void got.get(partition)!.push({ offset: Number(message.offset), value: message.value!.toString() }) })
    try {
      await waitFor("every record", () => [...got.values()].every((list) => list.length >= 3 * PER_ROUND), 30_000)
    } finally {
      await consumer.disconnect()
    }
    for (const p of all) {
      const expected = [0, 1, 2].flatMap((round) => Array.from({ length: PER_ROUND }, (_, i) => `r${round}-p${p}-${i}`))
      expect(got.get(p)!.map((r) => r.value), `partition ${p}`).toEqual(expected)
      expect(got.get(p)!.map((r) => r.offset)).toEqual(expected.map((_, i) => i))
    }
    console.log(
      `workers take-over (${storage}): SIGKILL of ${victimParts.length} partitions' leader -> led by the other worker from its data in ${adoptedAfter} ms ` +
        `(${PER_ROUND * PARTITIONS} records produced there by ${producedBy} ms); handed back ${backAfter} ms after the kill`
    )
  }, 120_000)
})
