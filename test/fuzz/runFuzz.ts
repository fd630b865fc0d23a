/**
 * The live fuzzer behind `npm run fuzz` and its CI-sized test: starts the real broker as a child
 * process on free ports and attacks both listeners at once from many short connections, each
 * carrying valid and mutated frames pipelined (mutate.ts: bit flips, truncation, lying and huge
 * length prefixes, invalid UTF-8, lying counts, splices, garbage), some never reading their
 * answers; plus slowloris connections that dribble a frame a byte at a time. Meanwhile an MQTT.js
 * publisher/subscriber pair and a kafkajs producer/consumer group must keep being served.
 *
 * An "input" is one mutated frame written to a listener (the valid frames around it, such as the
 * CONNECT that lets it reach the handlers, are not counted). Inputs written after the broker has
 * decided to close a connection are dropped unread, by design: that is one of the things tried.
 */
import * as Fs from "node:fs"
import * as net from "node:net"
import * as Os from "node:os"
import * as NodePath from "node:path"
import kafkajs from "kafkajs"
import mqtt from "mqtt"
import { type BrokerProcess, startBrokerProcess } from "../support/startBrokerProcess.js"
import { kafkaFraming, mqttFraming, mutate, MUTATION_KINDS, type Framing, type MutationKind, Rng } from "./mutate.js"
import { kafkaSeeds, mqttConnect, mqttSeeds, type MqttVersion } from "./seeds.js"

export interface FuzzOptions {
  /** Mutated inputs per listener to try. */
  readonly inputs: number
  /** Wall-clock limit for the attack, whichever comes first. */
  readonly seconds: number
  /** Attack connections open at once per listener. */
  readonly concurrency?: number
  /** Slowloris connections kept open per listener. */
  readonly slowloris?: number
  readonly seed?: number
  readonly storage?: "memory" | "sqlite" | "segment"
  /** The broker's limits.incomplete_request_timeout_ms during the run. */
  readonly incompleteTimeoutMs?: number
  /** NODE_OPTIONS for the broker process (e.g. "--max-old-space-size=256"). */
  readonly brokerNodeOptions?: string
  readonly progress?: (line: string) => void
  readonly progressEveryMs?: number
}

export interface ListenerStats {
  inputs: number
  connections: number
  connectErrors: number
  byKind: Record<MutationKind, number>
}

export interface FuzzReport {
  readonly seconds: number
  readonly mqtt: ListenerStats
  readonly kafka: ListenerStats
  /** The broker process exited during the run (0 or 1). */
  readonly crashes: number
  /** Connections closed because handling their input threw (broker log lines), caught but bugs. */
  readonly handlerThrew: number
  readonly thrownLines: ReadonlyArray<string>
  readonly bystanderFailures: ReadonlyArray<string>
  readonly bystander: { mqttTicks: number; mqttMaxLatencyMs: number; kafkaRecords: number; kafkaMaxLatencyMs: number }
  readonly slowloris: { opened: number; closedByBroker: number; overdue: number; maxLifetimeMs: number }
  readonly startRssKiB: number
  readonly peakRssKiB: number
  /** How the broker stopped at the end: exit code 0 after SIGTERM is clean. */
  readonly shutdown: string
  readonly output: string
}

const emptyStats = (): ListenerStats => ({
  inputs: 0,
  connections: 0,
  connectErrors: 0,
  byKind: Object.fromEntries(MUTATION_KINDS.map((k) => [k, 0])) as Record<MutationKind, number>
})

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const rssKiB = (pid: number, field: "VmRSS" | "VmHWM"): number => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m === null ? -1 : Number(m[1])
  } catch {
    return -1
  }
}

/**
 * One connection: writes `frames` (in one write, or in pieces across turns), ends its side, and
 * resolves once the broker closed it (or after `lingerMs`). Never rejects.
 */
const attack = (port: number, frames: ReadonlyArray<Buffer>, rng: Rng, stats: ListenerStats, lingerMs: number): Promise<void> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, noDelay: true })
    let finished = false
    const done = () => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      socket.destroy()
      resolve()
    }
    const timer = setTimeout(done, lingerMs)
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNREFUSED" || e.code === "EADDRNOTAVAIL" || e.code === "ETIMEDOUT") stats.connectErrors++
      done()
    })
    socket.on("close", done)
    socket.once("connect", () => {
      stats.connections++
      // Some clients pipeline without reading what comes back (until they leave: then the
      // socket reads again, to see the broker's close).
      socket.on("data", () => {})
      if (rng.chance(0.25)) {
        socket.pause()
        socket.once("finish", () => setTimeout(() => socket.resume(), 20))
      }
      if (rng.chance(0.7)) {
        socket.end(frames.length === 1 ? frames[0]! : Buffer.concat(frames))
        return
      }
      // In pieces, a turn apart, cut anywhere: frames split across reads.
      const all = Buffer.concat(frames)
      let at = 0
      const step = () => {
        if (finished || socket.destroyed) return
        if (at >= all.length) return void socket.end()
        const n = 1 + rng.int(Math.max(1, Math.min(all.length - at, 200)))
        socket.write(all.subarray(at, at + n))
        at += n
        setImmediate(step)
      }
      step()
    })
  })

/** Mutates `seed` `1..3` times; counts each input once under its first mutation kind. */
const mutated = (seed: Buffer, pool: ReadonlyArray<Buffer>, framing: Framing, rng: Rng, stats: ListenerStats): Buffer => {
  let frame = seed
  const first = rng.pick(MUTATION_KINDS)
  frame = mutate(first, frame, rng.pick(pool), framing, rng)
  if (rng.chance(0.3)) frame = mutate(rng.pick(MUTATION_KINDS), frame, rng.pick(pool), framing, rng)
  stats.inputs++
  stats.byKind[first]++
  return frame
}

interface Bystanders {
  readonly failures: Array<string>
  readonly stats: FuzzReport["bystander"]
  /** Checks nothing is overdue; records failures. */
  check(now: number): void
  /** One more round trip on each protocol, after the attack. */
  finalRoundTrip(): Promise<void>
  close(): Promise<void>
}

const startBystanders = async (broker: BrokerProcess, tag: string): Promise<Bystanders> => {
  const failures: Array<string> = []
  const stats = { mqttTicks: 0, mqttMaxLatencyMs: 0, kafkaRecords: 0, kafkaMaxLatencyMs: 0 }
  const fail = (what: string) => {
    if (failures.length < 50) failures.push(`${new Date().toISOString()} ${what}`)
  }
  // MQTT: a v4 publisher and a v5 subscriber, QoS 1 ticks every 250 ms.
  const url = `mqtt://127.0.0.1:${broker.port}`
  const connectMqtt = (clientId: string, protocolVersion: 4 | 5) =>
    new Promise<mqtt.MqttClient>((resolve, reject) => {
      const c = mqtt.connect(url, { clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 30 })
      c.once("connect", () => resolve(c))
      c.once("error", reject)
    })
  const sub = await connectMqtt(`bystander-sub-${tag}`, 5)
  const pub = await connectMqtt(`bystander-pub-${tag}`, 4)
  const topic = `bystander/${tag}`
  await sub.subscribeAsync(topic, { qos: 1 })
  const mqttPending = new Map<number, number>()
  let closing = false
  sub.on("message", (_t, payload) => {
    const n = Number(payload.toString())
    const sent = mqttPending.get(n)
    if (sent === undefined) return
    mqttPending.delete(n)
    stats.mqttTicks++
    stats.mqttMaxLatencyMs = Math.max(stats.mqttMaxLatencyMs, Date.now() - sent)
  })
  for (const [name, c] of [["subscriber", sub], ["publisher", pub]] as const) c.on("close", () => closing || fail(`MQTT bystander ${name} lost its connection`))
  let tick = 0
  const mqttTimer = setInterval(() => {
    const n = tick++
    mqttPending.set(n, Date.now())
    pub.publish(topic, String(n), { qos: 1 }, (e) => e && fail(`MQTT bystander publish ${n} failed: ${e.message}`))
  }, 250)

  // Kafka: a producer and a consumer group on their own topic, a record every 500 ms.
  const kafka = new kafkajs.Kafka({ clientId: `bystander-${tag}`, brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 2 } })
  const admin = kafka.admin()
  await admin.connect()
  const ktopic = `bystander-${tag}`
  await admin.createTopics({ topics: [{ topic: ktopic, numPartitions: 1 }] })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  const consumer = kafka.consumer({ groupId: `bystander-${tag}`, sessionTimeout: 30_000, heartbeatInterval: 3_000 })
  await consumer.connect()
  await consumer.subscribe({ topic: ktopic, fromBeginning: true })
  const kafkaPending = new Map<string, number>()
  let firstRecord: () => void = () => {}
  const gotFirst = new Promise<void>((r) => (firstRecord = r))
  await consumer.run({
    eachMessage: async ({ message }) => {
      const key = message.value?.toString() ?? ""
      const sent = kafkaPending.get(key)
      if (sent === undefined) return
      kafkaPending.delete(key)
      stats.kafkaRecords++
      stats.kafkaMaxLatencyMs = Math.max(stats.kafkaMaxLatencyMs, Date.now() - sent)
      firstRecord()
    }
  })
  let seq = 0
  const produce = async () => {
    const value = `r${seq++}`
    kafkaPending.set(value, Date.now())
    try {
      await producer.send({ topic: ktopic, acks: -1, messages: [{ value }] })
    } catch (e) {
      fail(`Kafka bystander produce ${value} failed: ${(e as Error).message}`)
    }
  }
  await produce()
  await Promise.race([gotFirst, sleep(30_000)])
  if (stats.kafkaRecords === 0) fail("Kafka bystander consumer got nothing within 30 s of starting")
  const kafkaTimer = setInterval(() => void produce(), 500)

  const overdue = (pending: Map<string | number, number>, now: number, ms: number, what: string) => {
    for (const [k, sent] of pending) {
      if (now - sent > ms) {
        fail(`${what} ${k} not delivered within ${ms / 1000} s`)
        pending.delete(k)
      }
    }
  }
  return {
    failures,
    stats,
    check: (now) => {
      overdue(mqttPending as Map<string | number, number>, now, 10_000, "MQTT bystander tick")
      overdue(kafkaPending as Map<string | number, number>, now, 20_000, "Kafka bystander record")
    },
    finalRoundTrip: async () => {
      clearInterval(mqttTimer)
      clearInterval(kafkaTimer)
      const n = tick++
      mqttPending.set(n, Date.now())
      pub.publish(topic, String(n), { qos: 1 })
      await produce()
      const until = Date.now() + 20_000
      while ((mqttPending.size > 0 || kafkaPending.size > 0) && Date.now() < until) await sleep(50)
      if (mqttPending.size > 0) fail(`MQTT bystander: ${mqttPending.size} tick(s) undelivered after the attack`)
      if (kafkaPending.size > 0) fail(`Kafka bystander: ${kafkaPending.size} record(s) undelivered after the attack`)
    },
    close: async () => {
      closing = true
      clearInterval(mqttTimer)
      clearInterval(kafkaTimer)
      await Promise.allSettled([consumer.disconnect(), producer.disconnect(), sub.endAsync(true), pub.endAsync(true)])
    }
  }
}

/** Keeps one slow sender open: a frame a byte at a time; counts whether the broker closes it in time. */
const slowSender = async (
  port: number,
  frame: Buffer,
  prefix: Buffer | null,
  timeoutMs: number,
  stats: FuzzReport["slowloris"],
  running: () => boolean
): Promise<void> => {
  const socket = net.connect({ host: "127.0.0.1", port })
  socket.on("error", () => {})
  socket.on("data", () => {})
  const closed = new Promise<void>((r) => socket.once("close", () => r()))
  let isClosed = false
  void closed.then(() => (isClosed = true))
  await new Promise<void>((r) => socket.once("connect", () => r()).once("close", () => r()))
  if (isClosed) return
  stats.opened++
  if (prefix !== null) socket.write(prefix)
  const started = Date.now()
  let at = 0
  while (!isClosed && running() && Date.now() - started < timeoutMs + 5_000) {
    if (at < frame.length - 1) socket.write(frame.subarray(at, ++at))
    await Promise.race([closed, sleep(150)])
  }
  if (isClosed) {
    stats.closedByBroker++
    stats.maxLifetimeMs = Math.max(stats.maxLifetimeMs, Date.now() - started)
  } else if (running()) stats.overdue++
  socket.destroy()
}

export const runFuzz = async (options: FuzzOptions): Promise<FuzzReport> => {
  const seed = options.seed ?? (Date.now() & 0x7fffffff)
  const rng = new Rng(seed)
  const concurrency = options.concurrency ?? 24
  const slowCount = options.slowloris ?? 3
  const incompleteTimeoutMs = options.incompleteTimeoutMs ?? 2_000
  const say = options.progress ?? (() => {})
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-fuzz-"))
  const broker = await startBrokerProcess(dir, {
    storage: options.storage ?? "memory",
    env: {
      ROBUSTMQ_LIMITS_INCOMPLETE_REQUEST_TIMEOUT_MS: String(incompleteTimeoutMs),
      // Mutated CONNECTs ask for persistent sessions: let them expire within the run.
      ROBUSTMQ_LIMITS_MAX_SESSION_EXPIRY: "30",
      ROBUSTMQ_SYS_INTERVAL: "0",
      ...(options.brokerNodeOptions !== undefined ? { NODE_OPTIONS: options.brokerNodeOptions } : {})
    }
  })
  const pid = broker.child.pid!
  const startRssKiB = rssKiB(pid, "VmRSS")
  const tag = seed.toString(36)
  const mqttStats = emptyStats()
  const kafkaStats = emptyStats()
  const slowStats = { opened: 0, closedByBroker: 0, overdue: 0, maxLifetimeMs: 0 }
  let crashed = false
  broker.child.once("exit", () => (crashed = true))
  const started = Date.now()
  const deadline = started + options.seconds * 1000
  let bystanders: Bystanders | null = null
  try {
    bystanders = await startBystanders(broker, tag)
    const mqttPools: Record<MqttVersion, Array<Buffer>> = { 3: mqttSeeds(3, rng), 4: mqttSeeds(4, rng), 5: mqttSeeds(5, rng) }
    const kafkaPool = kafkaSeeds(4000, seed, rng)
    say(`seed ${seed}; broker pid ${pid} (MQTT ${broker.port}, Kafka ${broker.kafkaPort}); ${kafkaPool.length} Kafka and ${mqttPools[5].length} MQTT v5 seed frames; bystanders up`)
    const running = () => !crashed && Date.now() < deadline
    let clientIds = 0

    const mqttWorker = async () => {
      while (running() && mqttStats.inputs < options.inputs) {
        const version = rng.pick([3, 4, 5] as const)
        const pool = mqttPools[version]
        const frames: Array<Buffer> = []
        const connect = mqttConnect(version, `fz${(clientIds++).toString(36)}`, rng)
        // Mostly a valid CONNECT first, so the inputs reach the packet handlers; else the CONNECT is the input.
        frames.push(rng.chance(0.85) ? connect : mutated(connect, pool, mqttFraming, rng, mqttStats))
        for (let k = 1 + rng.int(16); k > 0; k--) {
          const s = rng.pick(pool)
          frames.push(rng.chance(0.5) ? mutated(s, pool, mqttFraming, rng, mqttStats) : s)
        }
        await attack(broker.port, frames, rng, mqttStats, 3_000)
      }
    }
    const kafkaWorker = async () => {
      while (running() && kafkaStats.inputs < options.inputs) {
        const frames: Array<Buffer> = []
        for (let k = 1 + rng.int(16); k > 0; k--) {
          const s = rng.pick(kafkaPool)
          frames.push(rng.chance(0.5) ? mutated(s, kafkaPool, kafkaFraming, rng, kafkaStats) : s)
        }
        await attack(broker.kafkaPort, frames, rng, kafkaStats, 3_000)
      }
    }
    const slowWorker = async (kafkaSide: boolean) => {
      while (running() && (kafkaSide ? kafkaStats : mqttStats).inputs < options.inputs) {
        if (kafkaSide) {
          // A 1 MiB request declared, sent a byte at a time: it also holds 1 MiB of the request budget.
          const frame = Buffer.concat([Buffer.from([0, 0x10, 0, 0]), rng.pick(kafkaPool).subarray(4)])
          await slowSender(broker.kafkaPort, frame, null, incompleteTimeoutMs, slowStats, running)
        } else {
          const version = rng.pick([4, 5] as const)
          const frame = Buffer.concat([Buffer.from([0x30, 0xa0, 0x8d, 0x06]), rng.pick(mqttPools[version])]) // PUBLISH, 100,000 bytes declared
          await slowSender(broker.port, frame, mqttConnect(version, `slow${(clientIds++).toString(36)}`, rng), incompleteTimeoutMs, slowStats, running)
        }
      }
    }

    const workers: Array<Promise<void>> = []
    for (let i = 0; i < concurrency; i++) workers.push(mqttWorker(), kafkaWorker())
    for (let i = 0; i < slowCount; i++) workers.push(slowWorker(false), slowWorker(true))
    const every = options.progressEveryMs ?? 5_000
    const progress = setInterval(() => {
      const now = Date.now()
      bystanders!.check(now)
      const s = ((now - started) / 1000).toFixed(0).padStart(5)
      say(
        `[${s}s] mqtt ${mqttStats.inputs} inputs / ${mqttStats.connections} conns | kafka ${kafkaStats.inputs} / ${kafkaStats.connections} | ` +
          `slowloris closed ${slowStats.closedByBroker}/${slowStats.opened} | rss ${(rssKiB(pid, "VmRSS") / 1024).toFixed(0)} MiB | ` +
          `bystanders mqtt ${bystanders!.stats.mqttTicks} kafka ${bystanders!.stats.kafkaRecords}, failures ${bystanders!.failures.length}`
      )
    }, every)
    await Promise.all(workers)
    clearInterval(progress)
    if (!crashed) await bystanders.finalRoundTrip()
  } finally {
    await bystanders?.close()
  }
  const seconds = (Date.now() - started) / 1000
  const peakRssKiB = rssKiB(pid, "VmHWM")
  const crashedDuringRun = crashed
  let shutdown = "crashed"
  if (!crashedDuringRun) {
    await broker.stop(15_000)
    const exit = broker.exit()
    shutdown = exit === null ? "still running" : exit.code === 0 ? "clean (exit 0 after SIGTERM)" : `exit ${JSON.stringify(exit)}`
  }
  const output = broker.output()
  const thrownLines = output.split("\n").filter((l) => l.includes("input could not be handled"))
  Fs.rmSync(dir, { recursive: true, force: true })
  return {
    seconds,
    mqtt: mqttStats,
    kafka: kafkaStats,
    crashes: crashedDuringRun ? 1 : 0,
    handlerThrew: thrownLines.length,
    thrownLines: thrownLines.slice(0, 20),
    bystanderFailures: bystanders?.failures ?? ["bystanders never started"],
    bystander: bystanders?.stats ?? { mqttTicks: 0, mqttMaxLatencyMs: 0, kafkaRecords: 0, kafkaMaxLatencyMs: 0 },
    slowloris: slowStats,
    startRssKiB,
    peakRssKiB,
    shutdown,
    output: crashedDuringRun ? output.slice(-5000) : ""
  }
}
