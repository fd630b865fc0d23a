/**
 * Idempotent producers across a broker restart (SQLite and segment storage): the producer
 * state is rebuilt from the batch headers in the log's tail, so a batch sent again after the
 * restart is answered with the offset it got before and stored once, a sequence gap is
 * OUT_OF_ORDER_SEQUENCE_NUMBER, and concurrent first batches are decided in order. With raw
 * frames (the exact batch again) and with a kafkajs idempotent producer whose Produce response
 * is lost while the broker restarts.
 */
import { describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { ApiKey, type ProduceRequest } from "../../src/kafka/protocol/index.js"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, kafkaClient, produceResponseTap, useKafkaClients, waitFor } from "../support/kafka.js"
import { type KafkaWire, useKafkaWires } from "../support/KafkaWire.js"
import type { TestBroker } from "../support/TestBroker.js"
import { idempotentBatch, plainBatch } from "./producers/batches.js"

const TOPIC = "idem"

const produce = (records: Buffer, partitionIndex = 0): ProduceRequest => ({
  transactionalId: null,
  acks: -1,
  timeoutMs: 5_000,
  topics: [{ name: TOPIC, partitions: [{ partitionIndex, records }] }]
})

const produced = async (wire: KafkaWire, records: Buffer) => {
  const answer = await wire.request(ApiKey.Produce, 8, produce(records))
  const p = answer.responses[0]!.partitions[0]!
  return { errorCode: p.errorCode, baseOffset: p.baseOffset }
}

const highWatermark = async (wire: KafkaWire) => {
  const answer = await wire.request(ApiKey.ListOffsets, 5, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }]
  })
  return answer.topics[0]!.partitions[0]!.offset
}

const createTopic = async (wire: KafkaWire) => {
  const created = await wire.request(ApiKey.CreateTopics, 4, {
    topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5_000,
    validateOnly: false
  })
  expect(created.topics[0]!.errorCode).toBe(0)
}

/**
 * A kafkajs socket factory that, once armed, swallows the response to the next Produce request:
 * the broker has stored the batch, the client never hears so. `held` counts swallowed answers.
 */
const holdingProduceResponse = () => {
  const state = { armed: false, held: 0 }
  const factory = produceResponseTap(() => {
    if (!state.armed) return "deliver"
    state.armed = false
    return "swallow"
  }, () => state.held++)
  return { factory, state }
}

describe.each(["sqlite", "segment"] as const)("idempotent producer state after a restart (%s storage)", (storage) => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()
  const wires = useKafkaWires()

  it("a batch sent again after the restart gets its first offset back and is not stored twice; a gap is refused", async () => {
    let b: TestBroker = await broker({ storage })
    let wire = await wires.connect(b.kafkaPort)
    await createTopic(wire)
    const init = await wire.request(ApiKey.InitProducerId, 1, { transactionalId: null, transactionTimeoutMs: 60_000 })
    expect(init.errorCode).toBe(0)
    const pid = init.producerId
    const first = idempotentBatch(pid, 0, 0, ["a0", "a1", "a2"])
    const second = idempotentBatch(pid, 0, 3, ["b0", "b1"])
    expect(await produced(wire, first)).toEqual({ errorCode: 0, baseOffset: 0 })
    expect(await produced(wire, second)).toEqual({ errorCode: 0, baseOffset: 3 })
    expect(await produced(wire, plainBatch(["plain"]))).toEqual({ errorCode: 0, baseOffset: 5 })

    b = adopt(await b.restart())
    wire = await wires.connect(b.kafkaPort)
    // Pipelined: all wait for the tail read and are decided in the order sent.
    const ids = [second, second, first, idempotentBatch(pid, 0, 5, ["c0"]), idempotentBatch(pid, 0, 5, ["c0"])]
      .map((batch) => wire.send(ApiKey.Produce, 8, produce(batch)))
    const answers = []
    for (const id of ids) answers.push((await wire.response(ApiKey.Produce, 8, id)).responses[0]!.partitions[0]!)
    expect(answers.map((p) => [p.errorCode, p.baseOffset])).toEqual([[0, 3], [0, 3], [0, 0], [0, 6], [0, 6]])
    expect(await highWatermark(wire)).toBe(7)

    const gap = await produced(wire, idempotentBatch(pid, 0, 9, ["gap"]))
    expect(gap.errorCode).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
    expect(await produced(wire, idempotentBatch(pid, 0, 6, ["d0"]))).toEqual({ errorCode: 0, baseOffset: 7 })
    // A producer the log has never seen may start anywhere.
    expect(await produced(wire, idempotentBatch(pid + 1, 0, 17, ["e0"]))).toEqual({ errorCode: 0, baseOffset: 8 })
    expect(await highWatermark(wire)).toBe(9)

    // Another restart: the state after it reflects the batches of the previous run too.
    b = adopt(await b.restart())
    wire = await wires.connect(b.kafkaPort)
    expect(await produced(wire, idempotentBatch(pid, 0, 6, ["d0"]))).toEqual({ errorCode: 0, baseOffset: 7 })
    expect(await produced(wire, idempotentBatch(pid + 1, 0, 18, ["e1"]))).toEqual({ errorCode: 0, baseOffset: 9 })
    expect(await highWatermark(wire)).toBe(10)

    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "g-idem" })
    const got = await consumeN(consumer, TOPIC, 10)
    expect(got.map((m) => m.value)).toEqual(["a0", "a1", "a2", "b0", "b1", "plain", "c0", "d0", "e0", "e1"])
  })

  it("kafkajs: a batch whose response was lost while the broker restarted is stored once", async () => {
    let b: TestBroker = await broker({ storage })
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    await admin.createTopics({ topics: [{ topic: TOPIC }] })
    const { factory, state } = holdingProduceResponse()
    const kafka = kafkaClient(b.kafkaPort, "restart-producer", {
      socketFactory: factory,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 }
    })
    const producer = await clients.producer(kafka, { idempotent: true, maxInFlightRequests: 1 })
    const first = await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ value: `a${i}` })) })
    expect(first).toEqual([expect.objectContaining({ partition: 0, errorCode: 0, baseOffset: "0" })])

    state.armed = true
    const second = producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 3 }, (_, i) => ({ value: `b${i}` })) })
    await waitFor(() => state.held === 1, 5_000, () => "the Produce response to be held")
    b = adopt(await b.restart())
    // kafkajs reconnects to the restarted broker and sends the same batch (same sequence) again.
    expect(await second).toEqual([expect.objectContaining({ partition: 0, errorCode: 0, baseOffset: "5" })])
    const third = await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: "c0" }] })
    expect(third).toEqual([expect.objectContaining({ partition: 0, errorCode: 0, baseOffset: "8" })])

    const after = await clients.admin(kafkaClient(b.kafkaPort))
    expect(await after.fetchTopicOffsets(TOPIC)).toEqual([{ partition: 0, offset: "9", high: "9", low: "0" }])
    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "g-kafkajs-idem" })
    const got = await consumeN(consumer, TOPIC, 9)
    expect(got.map((m) => m.value)).toEqual(["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "c0"])
  })
})
