/**
 * The primary of `robustmq start --workers N`: it serves no client itself. It forks N workers
 * (node:cluster, the same command line), serves their Coordination when there is no etcd
 * (coordinationHost.ts), restarts a worker that dies on the same data (its sessions and
 * partitions come back with it; meanwhile its clients reconnect to the others and resume
 * there), and on SIGTERM stops them all and waits for them.
 */
import cluster, { type Worker } from "node:cluster"
import { randomBytes } from "node:crypto"
import { mkdirSync } from "node:fs"
import * as net from "node:net"
import { join } from "node:path"
import { Deferred, Effect } from "effect"
import type { BrokerConfigShape } from "../../../config/BrokerConfigShape.js"
import * as MemoryCoordination from "../../../layers/coordination/memory.js"
import { listen, reusePortSupported } from "../../net/listen.js"
import { CoordinationHost } from "./coordinationHost.js"
import { fileJournal } from "./coordinationJournal.js"
import { workerEnv } from "./workerConfig.js"

/** A worker that dies is started again after this long (longer while it keeps dying young). */
const RESTART_MS = 500
/** Test only: every restart waits exactly this long, so a test sees what happens while a worker is down. 0: as above. */
const TEST_RESTART_MS = Number(process.env.ROBUSTMQ_TEST_WORKER_RESTART_MS ?? 0) || 0
const MAX_RESTART_MS = 10_000
/** A worker that lived this long was healthy: its next restart is quick again. */
const HEALTHY_MS = 30_000
/** A stop waits this long for the workers, then kills what is left. */
const STOP_GRACE_MS = 30_000

/**
 * With SO_REUSEPORT (Node 22.12+) a worker would share a port with any other process that binds
 * it the same way, another broker started by mistake included, instead of failing: so the
 * primary binds each shared port once, exclusively, before it starts a worker.
 */
const checkSharedPortsFree = (config: BrokerConfigShape): Effect.Effect<void, Error> =>
  Effect.forEach([
    [config.mqtt.port, "MQTT", "--mqtt-port"],
    [config.mqtt.tlsPort, "MQTT over TLS", "--mqtts-port"],
    [config.mqtt.wsPort, "MQTT over WebSocket", "--ws-port"],
    [config.mqtt.wssPort, "MQTT over WebSocket with TLS", "--wss-port"]
  ] as const, ([port, protocol, portHint]) =>
    port <= 0 ? Effect.void : Effect.gen(function*() {
      const probe = net.createServer()
      yield* listen(probe, config.mqtt.host, port, { protocol, portHint, addressHint: `--mqtt-host and ${portHint}` })
      yield* Effect.async<void>((resume) => void probe.close(() => resume(Effect.void)))
    }), { discard: true })

export const runPrimary = (config: BrokerConfigShape, count: number): Effect.Effect<never, Error> =>
  Effect.gen(function*() {
    if (reusePortSupported()) yield* checkSharedPortsFree(config)
    // Without etcd this process is the workers' coordination: kept in the data dir (unless the
    // storage is memory, where nothing outlives a restart), its watch history bounded.
    const journalPath = join(config.storage.dataDir, "coordination.jsonl")
    const journal = config.storage.kind === "memory" || config.cluster.etcdEndpoints.length > 0
      ? undefined
      : yield* Effect.try({
        try: () => (mkdirSync(config.storage.dataDir, { recursive: true }), fileJournal(journalPath)),
        catch: (e) => new Error(`cannot keep the workers' coordination in ${journalPath} (${e instanceof Error ? e.message : String(e)}): check --data-dir`)
      })
    const host = config.cluster.etcdEndpoints.length > 0
      ? null
      : new CoordinationHost((yield* MemoryCoordination.makeWith({ ...(journal === undefined ? {} : { journal }), maxHistory: 100_000 }).pipe(
        Effect.catchAllDefect((e) => Effect.fail(new Error(`cannot read the workers' coordination from ${journalPath} (${e instanceof Error ? e.message : String(e)}): check --data-dir`)))
      )).service)
    const runtime = yield* Effect.runtime<never>()
    const log = (line: string) => Effect.runFork(Effect.provide(Effect.log(line), runtime))
    const logWarning = (line: string) => Effect.runFork(Effect.provide(Effect.logWarning(line), runtime))
    // The workers' links prove this to each other: no other process on the machine can join in.
    const secret = config.cluster.secret === "" ? randomBytes(32).toString("hex") : config.cluster.secret
    let stopping = false
    const workers = new Map<number, Worker>()
    const delays = new Map<number, number>()

    // A worker that exits before it ever listened failed at start (a bad config, storage that
    // cannot open): starting it again would fail the same way, so the primary stops with it.
    const failedAtStart = yield* Deferred.make<string>()
    const listened = new Set<number>()
    const fork = (index: number) => {
      const worker = cluster.fork({ ...workerEnv(index), ROBUSTMQ_CLUSTER_SECRET: secret })
      const startedAt = Date.now()
      workers.set(index, worker)
      worker.once("listening", () => listened.add(index))
      if (host !== null) worker.on("message", (message) => host.receive(worker, message))
      // A send to a worker that just died fails asynchronously: its exit handles the rest.
      worker.on("error", (error) => logWarning(`worker ${index}: ${error.message}`))
      worker.on("exit", (code, signal) => {
        workers.delete(index)
        void host?.gone(worker)
        if (stopping) return
        if (!listened.has(index)) {
          Deferred.unsafeDone(failedAtStart, Effect.succeed(`worker ${index} exited (${signal ?? `code ${code}`}) before it served: see its error above, fix it and start again`))
          return
        }
        const lived = Date.now() - startedAt
        const delay = TEST_RESTART_MS > 0
          ? TEST_RESTART_MS
          : lived > HEALTHY_MS ? RESTART_MS : Math.min((delays.get(index) ?? RESTART_MS / 2) * 2, MAX_RESTART_MS)
        delays.set(index, delay)
        logWarning(`worker ${index} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}) after ${lived} ms; starting it again in ${delay} ms on its data`)
        setTimeout(() => {
          if (!stopping) fork(index)
        }, delay)
      })
    }

    yield* Effect.acquireRelease(
      Effect.sync(() => {
        for (let i = 0; i < count; i++) fork(i)
        log(`workers: ${count} started (pids ${[...workers.values()].map((w) => w.process.pid).join(", ")}), ${host === null ? "coordinated by etcd" : "coordinated by this process"}; MQTT on port ${config.mqtt.port} is served by all of them`)
      }),
      () =>
        Effect.async<void>((resume) => {
          stopping = true
          const left = [...workers.values()]
          if (left.length === 0) return resume(Effect.void)
          log(`workers: stopping ${left.length}`)
          let waiting = left.length
          const killer = setTimeout(() => {
            for (const w of left) if (w.process.exitCode === null) w.process.kill("SIGKILL")
          }, STOP_GRACE_MS)
          for (const w of left) {
            w.once("exit", () => {
              if (--waiting === 0) {
                clearTimeout(killer)
                resume(Effect.void)
              }
            })
            w.process.kill("SIGTERM")
          }
        })
    )
    const reason = yield* Deferred.await(failedAtStart)
    return yield* Effect.fail(new Error(reason))
  }).pipe(Effect.scoped)
