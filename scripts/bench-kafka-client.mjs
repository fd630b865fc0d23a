#!/usr/bin/env node
/**
 * kafkajs half of scripts/bench-kafka.sh: produces N records of SIZE bytes to a topic with
 * acks=1 (batches of BATCH records, up to INFLIGHT sends in flight), then consumes them back
 * from the beginning, and prints one JSON line with the timings. Progress goes to stderr.
 *
 *   node scripts/bench-kafka-client.mjs PORT TOPIC [RECORDS] [SIZE]
 *   env: BATCH (records per send, default 1000), INFLIGHT (default 4), TIMEOUT_S (per phase, default 300)
 *   stdout: {"produce":{"records":N,"bytes":B,"seconds":S},"consume":{"records":N,"bytes":B,"seconds":S}}
 */
import kafkajs from "kafkajs"

const { Kafka, logLevel } = kafkajs
const [port, topic, recordsArg = "100000", sizeArg = "1024"] = process.argv.slice(2)
if (!port || !topic) {
  console.error("usage: node scripts/bench-kafka-client.mjs PORT TOPIC [RECORDS] [SIZE]")
  process.exit(2)
}
const RECORDS = Number(recordsArg)
const SIZE = Number(sizeArg)
const BATCH = Number(process.env.BATCH ?? 1000)
const INFLIGHT = Number(process.env.INFLIGHT ?? 4)
const TIMEOUT_MS = Number(process.env.TIMEOUT_S ?? 300) * 1000

const kafka = new Kafka({
  clientId: "bench-kafkajs",
  brokers: [`127.0.0.1:${port}`],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5_000,
  requestTimeout: 30_000,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 }
})

const progress = (phase, done) => process.stderr.write(`  kafkajs ${phase}: ${done}/${RECORDS} records\n`)

const produce = async () => {
  const producer = kafka.producer({ allowAutoTopicCreation: true, maxInFlightRequests: INFLIGHT })
  await producer.connect()
  const value = Buffer.alloc(SIZE, "x")
  const started = performance.now()
  const deadline = Date.now() + TIMEOUT_MS
  const inFlight = new Set()
  let sent = 0
  let acked = 0
  let nextReport = RECORDS / 10
  // Bounded: each iteration sends one batch, RECORDS / BATCH iterations at most.
  while (sent < RECORDS) {
    if (Date.now() > deadline) throw new Error(`produce did not finish within ${TIMEOUT_MS / 1000} s`)
    const n = Math.min(BATCH, RECORDS - sent)
    const messages = new Array(n)
    for (let i = 0; i < n; i++) messages[i] = { value }
    sent += n
    const p = producer.send({ topic, acks: 1, messages }).then(() => {
      inFlight.delete(p)
      acked += n
      if (acked >= nextReport) {
        progress("produce", acked)
        nextReport += RECORDS / 10
      }
    })
    inFlight.add(p)
    if (inFlight.size >= INFLIGHT) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  const seconds = (performance.now() - started) / 1000
  await producer.disconnect()
  return { records: acked, bytes: acked * SIZE, seconds }
}

const consume = async () => {
  const consumer = kafka.consumer({ groupId: `bench-${topic}-${Date.now()}`, maxBytes: 16 * 1024 * 1024 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let received = 0
  let bytes = 0
  let nextReport = RECORDS / 10
  let done
  const finished = new Promise((resolve) => (done = resolve))
  const started = performance.now()
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) bytes += m.value?.length ?? 0
      received += batch.messages.length
      if (received >= nextReport) {
        progress("consume", received)
        nextReport += RECORDS / 10
      }
      if (received >= RECORDS) done()
    }
  })
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`consumed ${received} of ${RECORDS} records in ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS)
  })
  try {
    await Promise.race([finished, timeout])
  } finally {
    clearTimeout(timer)
  }
  const seconds = (performance.now() - started) / 1000
  await consumer.disconnect()
  return { records: received, bytes, seconds }
}

try {
  const produced = await produce()
  const consumed = await consume()
  console.log(JSON.stringify({ produce: produced, consume: consumed }))
} catch (e) {
  console.error(`kafkajs bench failed: ${e instanceof Error ? e.message : e}`)
  process.exit(1)
}
