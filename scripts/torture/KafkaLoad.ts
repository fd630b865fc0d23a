/**
 * The Kafka side of the torture: idempotent kafkajs producers (acks = -1, one request in flight)
 * writing batches to one topic, and a consumer group member that commits what it consumed. It
 * records what the broker acknowledged: produced values, and committed offsets per partition.
 *
 * A send that fails (after kafkajs's own retries, which resend the same batch with the same
 * sequence numbers: the case the broker's duplicate filter exists for) is not acknowledged, and
 * the producer is replaced by a new one (a new producer id), as its sequence state is unknown.
 */
import { type Admin, type Consumer, Kafka, logLevel, type Producer } from "kafkajs"
import type { KafkaRecord } from "./checks.js"
import { sleep, waitUntil } from "./random.js"

const client = (port: number, clientId: string) =>
  new Kafka({
    clientId,
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    // Long enough to ride through a restart (the broker is down for about a second).
    retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 1_000 }
  })

/** Bounded: a hung kafkajs call must not hang the run. */
const bounded = <A>(p: Promise<A>, ms: number): Promise<A | undefined> =>
  Promise.race([p.catch(() => undefined), sleep(ms).then(() => undefined)])

export class KafkaLoad {
  private readonly kafka: Kafka
  private stopped = false
  private paused = false
  private busy = 0
  private loops: Array<Promise<void>> = []
  private consumer: Consumer | null = null
  /** Values whose send the broker acknowledged. */
  readonly acked = new Set<string>()
  /** Sends that failed: their values may or may not be in the topic. */
  failedSends = 0
  producersReplaced = 0
  /** Group consumer crashes (kafkajs restarts it unless the error is not retriable). */
  consumerCrashes = 0
  /** Commits the broker acknowledged. */
  commits = 0
  /** Per partition, the highest offset whose commit the broker acknowledged. */
  readonly committed = new Map<number, number>()

  constructor(
    private readonly port: number,
    readonly topic: string,
    private readonly producers: number,
    private readonly batchSize = 10
  ) {
    this.kafka = client(port, "torture")
  }

  async start(partitions: number): Promise<void> {
    const admin = this.kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: this.topic, numPartitions: partitions }] }).catch(() => {})
    await admin.disconnect()
    for (let i = 0; i < this.producers; i++) this.loops.push(this.produce(i))
    await this.startConsumer()
  }

  /** Stops producing after the sends under way; resolves when they are done (bounded). */
  async pause(ms: number): Promise<void> {
    this.paused = true
    await waitUntil(() => this.busy === 0, ms)
  }

  async resume(): Promise<void> {
    this.paused = false
    if (this.consumer === null) await this.startConsumer()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.loops)
    if (this.consumer !== null) await bounded(this.consumer.disconnect(), 5_000)
  }

  private async produce(index: number): Promise<void> {
    let producer: Producer | null = null
    let seq = 0
    let generation = 0
    while (!this.stopped) {
      if (this.paused) {
        await sleep(20)
        continue
      }
      this.busy++
      try {
        if (producer === null) {
          producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
          await producer.connect()
        }
        const values = Array.from({ length: this.batchSize }, () => kafkaValue(index, generation, seq++))
        await producer.send({ topic: this.topic, acks: -1, messages: values.map((value) => ({ value })) })
        for (const v of values) this.acked.add(v)
      } catch {
        this.failedSends++
        if (producer !== null) {
          this.producersReplaced++
          void bounded(producer.disconnect(), 2_000)
        }
        producer = null
        generation++
        await sleep(100)
      } finally {
        this.busy--
      }
    }
    if (producer !== null) await bounded(producer.disconnect(), 5_000)
  }

  private async startConsumer(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: "torture-group", sessionTimeout: 6_000, rebalanceTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
    // A crash kafkajs will not restart from leaves the group consumer to be made again on resume.
    consumer.on(consumer.events.CRASH, (e) => {
      this.consumerCrashes++
      if (!e.payload.restart && this.consumer === consumer) this.consumer = null
    })
    this.consumer = consumer
    try {
      await consumer.connect()
      await consumer.subscribe({ topic: this.topic, fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (batch.messages.length === 0) return
          const next = Number(batch.lastOffset()) + 1
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(next) }])
          this.commits++
          if ((this.committed.get(batch.partition) ?? -1) < next) this.committed.set(batch.partition, next)
        }
      })
    } catch {
      if (this.consumer === consumer) this.consumer = null
      void bounded(consumer.disconnect(), 2_000)
    }
  }

  /** The group's committed offsets as the broker reports them now. */
  async fetchCommitted(): Promise<Map<number, number>> {
    const admin = this.kafka.admin()
    try {
      await admin.connect()
      const [topic] = await admin.fetchOffsets({ groupId: "torture-group", topics: [this.topic] })
      return new Map((topic?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
    } finally {
      await bounded(admin.disconnect(), 2_000)
    }
  }

  /** Every record of the topic, read from offset 0 by a fresh group; and each partition's end. */
  async readAll(ms: number): Promise<{ records: Array<KafkaRecord>; ends: Map<number, number> }> {
    const admin: Admin = this.kafka.admin()
    await admin.connect()
    const offsets = await admin.fetchTopicOffsets(this.topic).finally(() => bounded(admin.disconnect(), 2_000))
    const ends = new Map(offsets.map((o) => [o.partition, Number(o.high)]))
    const records: Array<KafkaRecord> = []
    const reached = new Map<number, number>()
    const reader = client(this.port, "torture-reader").consumer({ groupId: `torture-reader-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 100, sessionTimeout: 6_000, rebalanceTimeout: 6_000, heartbeatInterval: 500 })
    try {
      await reader.connect()
      await reader.subscribe({ topic: this.topic, fromBeginning: true })
      await reader.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            records.push({ partition: batch.partition, offset: Number(m.offset), value: m.value?.toString() ?? "" })
            reached.set(batch.partition, Number(m.offset) + 1)
          }
        }
      })
      await waitUntil(() => [...ends].every(([p, end]) => (reached.get(p) ?? 0) >= end), ms)
    } finally {
      await bounded(reader.disconnect(), 5_000)
    }
    return { records, ends }
  }
}

/** A record value: producer index, producer generation, sequence (MQTT payloads start with `pub`). */
const kafkaValue = (index: number, generation: number, seq: number): string => `k${index}.${generation}:${seq}`

/** Whether an MQTT subscriber's payload is a record one of these producers wrote. */
export const isKafkaValue = (payload: string): boolean => /^k\d+\.\d+:\d+$/.test(payload)
