/**
 * Helpers for Kafka integration tests, the Kafka counterpart of clients.ts and lifecycle.ts:
 * kafkajs clients with test-sized timeouts whose producers, consumers and admins are
 * disconnected after each test, a runner for the `kcat` binary (librdkafka, a second real
 * client), and bounded waits.
 *
 * Every function takes the broker's Kafka listener port as `port`: pass the port the test
 * broker's Kafka listener is bound to (TestBroker is to expose it, e.g. `broker.kafkaPort`).
 */
import { execFileSync, spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { type Admin, type Consumer, type ConsumerConfig, type IHeaders, type ISocketFactory, Kafka, type KafkaConfig, type KafkaMessage, logLevel, type Producer, type ProducerConfig } from "kafkajs"
import { afterEach, expect } from "vitest"

// ---------------------------------------------------------------------------------------------
// kafkajs

/**
 * A kafkajs client for 127.0.0.1:`port` (the broker's Kafka port), silent, with timeouts and
 * retries sized for tests: a broker that does not answer fails the test in seconds, not minutes.
 */
export const kafkaClient = (port: number, clientId = "robustmq-test", overrides: Partial<KafkaConfig> = {}): Kafka =>
  new Kafka({
    clientId,
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    requestTimeout: 5_000,
    retry: { retries: 2, initialRetryTime: 50, maxRetryTime: 500 },
    ...overrides
  })

type KafkaHandle = Producer | Consumer | Admin

export interface KafkaClients {
  /** Disconnects `handle` after the test. */
  readonly track: <H extends KafkaHandle>(handle: H) => H
  /** A connected producer, disconnected after the test. */
  readonly producer: (kafka: Kafka, config?: ProducerConfig) => Promise<Producer>
  /** A connected consumer (short session and rebalance times), disconnected after the test. */
  readonly consumer: (kafka: Kafka, config: ConsumerConfig) => Promise<Consumer>
  /** A connected admin client, disconnected after the test. */
  readonly admin: (kafka: Kafka) => Promise<Admin>
  /** `childConsumer(port, groupId, topic, delayMs)`, killed after the test. */
  readonly childConsumer: (port: number, groupId: string, topic: string, delayMs?: number) => ChildConsumer
}

/** Registers an afterEach that disconnects everything the test tracked (call it in a describe). */
export const useKafkaClients = (): KafkaClients => {
  const handles: Array<KafkaHandle> = []
  const children: Array<ChildConsumer> = []
  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill().catch(() => {})
    // One at a time, each bounded: a hung disconnect must not hang the suite.
    for (const h of handles.splice(0)) await withTimeout(h.disconnect(), 5_000, "kafkajs disconnect").catch(() => {})
  })
  const track = <H extends KafkaHandle>(handle: H): H => {
    handles.push(handle)
    return handle
  }
  return {
    track,
    producer: async (kafka, config) => {
      const p = track(kafka.producer({ allowAutoTopicCreation: true, ...config }))
      await p.connect()
      return p
    },
    consumer: async (kafka, config) => {
      const c = track(kafka.consumer({ sessionTimeout: 6_000, rebalanceTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 500, ...config }))
      await c.connect()
      return c
    },
    admin: async (kafka) => {
      const a = track(kafka.admin())
      await a.connect()
      return a
    },
    childConsumer: (port, groupId, topic, delayMs) => {
      const child = childConsumer(port, groupId, topic, delayMs)
      children.push(child)
      return child
    }
  }
}

export interface ConsumedMessage {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: string | null
  readonly value: string | null
  /** Header values as UTF-8 (the first value of a repeated key). */
  readonly headers: Readonly<Record<string, string>>
  readonly timestamp: number
  readonly message: KafkaMessage
}

/**
 * Subscribes `consumer` (connected, not yet running) to `topic` from the beginning, runs it
 * until `n` messages arrived, stops it (it stays connected) and returns them in arrival order.
 * Rejects after `timeoutMs` saying how many arrived.
 */
export const consumeN = async (consumer: Consumer, topic: string, n: number, timeoutMs = 10_000): Promise<Array<ConsumedMessage>> => {
  const got: Array<ConsumedMessage> = []
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      if (got.length < n) got.push(consumed(topic, partition, message))
    }
  })
  try {
    await waitFor(() => got.length >= n, timeoutMs, () => `${n} messages on ${topic}, got ${got.length}`)
  } finally {
    await withTimeout(consumer.stop(), 5_000, "kafkajs consumer.stop").catch(() => {})
  }
  return got
}

const consumed = (topic: string, partition: number, message: KafkaMessage): ConsumedMessage => ({
  topic,
  partition,
  offset: Number(message.offset),
  key: message.key === null ? null : message.key.toString("utf8"),
  value: message.value === null ? null : message.value.toString("utf8"),
  headers: headerStrings(message.headers),
  timestamp: Number(message.timestamp),
  message
})

const headerStrings = (headers: IHeaders | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value
    if (first !== undefined) out[key] = first.toString()
  }
  return out
}

/**
 * Awaits an admin call that must fail and returns the Kafka error types it failed with
 * (`["TOPIC_ALREADY_EXISTS"]`; several for a KafkaJSAggregateError, one per refused item).
 * Rejects when the call succeeds or fails with something that carries no Kafka error type.
 */
export const protocolErrorTypes = async (call: Promise<unknown>): Promise<Array<string>> => {
  let error: unknown
  try {
    await call
  } catch (e) {
    error = e
  }
  if (error === undefined) throw new Error("the call succeeded; a Kafka protocol error was expected")
  const typeOf = (e: unknown): string | undefined =>
    typeof e === "object" && e !== null && typeof (e as { type?: unknown }).type === "string" ? (e as { type: string }).type : undefined
  const nested = (error as { errors?: unknown }).errors
  const types = Array.isArray(nested) ? nested.map(typeOf) : [typeOf(error)]
  if (types.length === 0 || types.some((t) => t === undefined)) throw error
  return types as Array<string>
}

// ---------------------------------------------------------------------------------------------
// a kafkajs consumer in a child process (one that can die without leaving its group)

/** What the child consumer reported: its group joins and every record it processed. */
export interface ChildConsumer {
  readonly joins: Array<{ readonly memberId: string; readonly partitions: ReadonlyArray<number> }>
  readonly consumed: Array<{ readonly partition: number; readonly offset: number; readonly value: string }>
  /** SIGKILL: no LeaveGroup, no last commit; the broker only notices by the session timeout. */
  readonly kill: () => Promise<void>
}

/** The child's program: kafkajs from this repository's node_modules, one JSON line per event. */
const CHILD_CONSUMER = `
const { Kafka, logLevel } = require("kafkajs")
const [port, groupId, topic, delayMs] = process.argv.slice(1)
const kafka = new Kafka({ clientId: "child", brokers: ["127.0.0.1:" + port], logLevel: logLevel.NOTHING,
  connectionTimeout: 2000, requestTimeout: 5000, retry: { retries: 2, initialRetryTime: 50, maxRetryTime: 500 } })
const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, rebalanceTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 500 })
// Pipes are written synchronously on Linux: a line printed is a line the parent gets, even on SIGKILL.
const say = (o) => process.stdout.write(JSON.stringify(o) + "\\n")
consumer.on(consumer.events.GROUP_JOIN, (e) => say({ join: e.payload.memberId, partitions: e.payload.memberAssignment[topic] || [] }))
;(async () => {
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ partition, message }) => {
    say({ partition, offset: Number(message.offset), value: message.value.toString() })
    if (Number(delayMs) > 0) await new Promise((r) => setTimeout(r, Number(delayMs)))
  } })
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1) })
`

/**
 * Starts a kafkajs consumer of `topic` in group `groupId` in a child process (session timeout
 * 6 s, heartbeats every 500 ms, commits after each batch: the settings of `useKafkaClients`),
 * spending `delayMs` on each record after reporting it (so it can be killed mid-batch).
 * Kill it before the test ends (`useKafkaClients().childConsumer` does).
 */
export const childConsumer = (port: number, groupId: string, topic: string, delayMs = 0): ChildConsumer => {
  const child = spawn(process.execPath, ["-e", CHILD_CONSUMER, String(port), groupId, topic, String(delayMs)], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: ["ignore", "pipe", "pipe"]
  })
  const joins: ChildConsumer["joins"] = []
  const consumed: ChildConsumer["consumed"] = []
  let partial = ""
  child.stdout.on("data", (b: Buffer) => {
    const lines = (partial + b.toString("utf8")).split("\n")
    partial = lines.pop()!
    for (const line of lines) {
      const o = JSON.parse(line) as { join?: string; partitions?: Array<number>; partition?: number; offset?: number; value?: string }
      if (o.join !== undefined) joins.push({ memberId: o.join, partitions: [...o.partitions!].sort((x, y) => x - y) })
      else consumed.push({ partition: o.partition!, offset: o.offset!, value: o.value! })
    }
  })
  child.stderr.on("data", () => {})
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  return {
    joins,
    consumed,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      return withTimeout(exited, 5_000, "the child consumer's exit")
    }
  }
}

// ---------------------------------------------------------------------------------------------
// kcat

let kcatBinary: string | null | undefined

/** Absolute path of `kcat` (from `which kcat`), or undefined when it is not installed. */
export const kcatPath = (): string | undefined => {
  if (kcatBinary === undefined) {
    try {
      kcatBinary = execFileSync("which", ["kcat"], { encoding: "utf8", timeout: 5_000 }).trim() || null
    } catch {
      kcatBinary = null
    }
  }
  return kcatBinary ?? undefined
}

/** Whether kcat is installed (for `it.skipIf(!hasKcat())`). */
export const hasKcat = (): boolean => kcatPath() !== undefined

/** `-b 127.0.0.1:<port>` plus options that keep kcat quick and IPv4-only in tests. */
export const kcatBroker = (port: number): Array<string> => ["-b", `127.0.0.1:${port}`, "-X", "broker.address.family=v4"]

export interface KcatOptions {
  /** Written to kcat's stdin, which is then closed (for -P). Stdin is closed at once without it. */
  readonly input?: string | Uint8Array
  /** Killed (SIGKILL) after this long, and the promise rejects with its stderr. Default 15 s. */
  readonly timeoutMs?: number
}

export interface KcatResult {
  readonly stdout: string
  readonly stderr: string
  /** Exit code; null when kcat died from a signal. */
  readonly code: number | null
}

/**
 * Runs kcat with `args`. Resolves with its output and exit code whatever the code (assert on
 * it); rejects when kcat is not installed or is still running after `timeoutMs`.
 */
export const kcat = (args: ReadonlyArray<string>, options: KcatOptions = {}): Promise<KcatResult> => {
  const path = kcatPath()
  if (path === undefined) return Promise.reject(new Error("kcat is not installed (apt-get install -y kcat)"))
  const timeoutMs = options.timeoutMs ?? 15_000
  return new Promise((resolve, reject) => {
    const child = spawn(path, [...args], { stdio: ["pipe", "pipe", "pipe"] })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.stdout.on("data", (b: Buffer) => stdout.push(b))
    child.stderr.on("data", (b: Buffer) => stderr.push(b))
    child.stdin.on("error", () => {}) // kcat may exit before reading all of its input
    child.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      const err = Buffer.concat(stderr).toString("utf8")
      if (timedOut) reject(new Error(`kcat ${args.join(" ")} timed out after ${timeoutMs} ms; stderr: ${err}`))
      else resolve({ stdout: Buffer.concat(stdout).toString("utf8"), stderr: err, code })
    })
    child.stdin.end(options.input ?? "")
  })
}

// ---------------------------------------------------------------------------------------------
// waiting

/** Resolves once `cond` holds (polled every 10 ms); rejects after `timeoutMs` with `describe()`. */
export const waitFor = async (
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  describe: () => string = () => "condition"
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
export const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** What becomes of the response to a Produce request a tapped kafkajs socket sends. */
export type ProduceResponseFate = "deliver" | "swallow" | "fail"

const PRODUCE_API_KEY = 0

/**
 * A kafkajs socket factory that asks `fateOf` at every Produce request it writes and applies the
 * answer to the next bytes it reads, which are that request's response when one request is in
 * flight (acks=-1): passed on, dropped (the broker stored the batch, the client never hears so),
 * or the connection destroyed before the client sees it. `applied` hears each fate as it happens.
 */
export const produceResponseTap = (
  fateOf: () => ProduceResponseFate,
  applied: (fate: ProduceResponseFate) => void = () => {}
): ISocketFactory =>
  ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect)
    let pending: ProduceResponseFate = "deliver"
    const write = socket.write.bind(socket) as (chunk: Buffer, ...rest: Array<unknown>) => boolean
    socket.write = ((chunk: Buffer, ...rest: Array<unknown>) => {
      // kafkajs writes one whole request per call: size, then api key.
      if (Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === PRODUCE_API_KEY) pending = fateOf()
      return write(chunk, ...rest)
    }) as typeof socket.write
    const on = socket.on.bind(socket)
    socket.on = ((event: string, listener: (...args: Array<any>) => void) => {
      if (event !== "data") return on(event, listener)
      return on("data", (data: Buffer) => {
        const fate = pending
        pending = "deliver"
        if (fate !== "deliver") applied(fate)
        if (fate === "fail") return void socket.destroy(new Error("test: connection lost before the Produce response"))
        if (fate === "deliver") listener(data)
      })
    }) as typeof socket.on
    return socket
  }

const nonEmptyLines = (text: string) => text.split("\n").filter((l) => l !== "")

/** Produces k1:one, k2:two to `topic` with kcat `args`, then consumes them back with the same args. */
export const kcatRoundTrip = async (args: ReadonlyArray<string>, topic: string): Promise<void> => {
  const produced = await kcat([...args, "-P", "-t", topic, "-K:"], { input: "k1:one\nk2:two\n" })
  expect(produced.code, produced.stderr).toBe(0)
  const consumed = await kcat([...args, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%o|%k|%s\n"])
  expect(consumed.code, consumed.stderr).toBe(0)
  expect(nonEmptyLines(consumed.stdout)).toEqual(["0|k1|one", "1|k2|two"])
}

/** kafkajs (with `overrides`: TLS, SASL) produces two records to `topic` and a consumer of group g-`clientId` reads them back. */
export const kafkajsRoundTrip = async (clients: KafkaClients, port: number, clientId: string, overrides: Partial<KafkaConfig>, topic: string): Promise<void> => {
  const kafka = kafkaClient(port, clientId, overrides)
  const producer = await clients.producer(kafka)
  await producer.send({ topic, messages: [{ key: "a", value: "first" }, { key: "b", value: "second" }] })
  const got = await consumeN(await clients.consumer(kafka, { groupId: `g-${clientId}` }), topic, 2)
  expect(got.map((m) => [m.offset, m.key, m.value])).toEqual([[0, "a", "first"], [1, "b", "second"]])
}
