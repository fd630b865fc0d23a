/**
 * The Kafka listener's bounds against hostile senders (issue 8): a request dribbling in byte by
 * byte is closed after limits.incomplete_request_timeout_ms; a declared 256 MB frame is refused
 * before anything is buffered; incomplete requests together hold at most
 * kafka.queued_max_request_bytes, a connection beyond it waits (unread) until bytes are freed.
 * A raw bystander connection keeps being answered throughout.
 */
import { describe, expect, it } from "vitest"
import { ApiKey, encodeRequest, type MetadataRequest } from "../../src/kafka/protocol/index.js"
import { inputFaults } from "../../src/net/inputFaults.js"
import { quiet } from "../support/clients.js"
import { useKafkaWires } from "../support/KafkaWire.js"
import { useBrokers } from "../support/lifecycle.js"

const metadata: MetadataRequest = {
  topics: [],
  allowAutoTopicCreation: false,
  includeClusterAuthorizedOperations: false,
  includeTopicAuthorizedOperations: false
}

/** A whole Metadata v8 request frame; a long client id makes it as large as a test needs. */
const metadataFrame = (correlationId: number, clientId = "raw"): Buffer =>
  Buffer.concat(encodeRequest({ apiKey: ApiKey.Metadata, apiVersion: 8, correlationId, clientId }, metadata))

const sizePrefix = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

describe("Kafka listener bounds against hostile senders", () => {
  const { broker } = useBrokers()
  const wires = useKafkaWires()

  /** A raw connection that must still get Metadata answered. */
  const served = async (port: number) => {
    const wire = await wires.connect(port)
    const answer = await wire.request(ApiKey.Metadata, 8, metadata, 2_000)
    expect(answer.brokers.length).toBe(1)
    wire.destroy()
  }

  it("closes a connection whose request does not arrive whole within the timeout (slowloris), byte by byte or stalled", async () => {
    const b = await broker({ limits: { incompleteRequestTimeoutMs: 400 } })
    const before = inputFaults.kafkaIncompleteTimeouts
    const request = metadataFrame(1)
    const slow = await wires.connect(b.kafkaPort)
    const stalled = await wires.connect(b.kafkaPort)
    stalled.write(request.subarray(0, 2)) // not even a whole length prefix
    let sent = 0
    const dribble = setInterval(() => {
      if (sent < request.length && !slow.isClosed) slow.write(request.subarray(sent, ++sent))
    }, 50)
    try {
      await served(b.kafkaPort)
      expect(await slow.closedWithin(3_000)).toBe(true)
      expect(await stalled.closedWithin(1_000)).toBe(true)
    } finally {
      clearInterval(dribble)
    }
    expect(sent).toBeLessThan(request.length)
    expect(inputFaults.kafkaIncompleteTimeouts - before).toBe(2)
    // A prompt client on a connection that stays idle between requests is not touched.
    const idle = await wires.connect(b.kafkaPort)
    expect((await idle.request(ApiKey.Metadata, 8, metadata)).brokers.length).toBe(1)
    expect(await idle.closedWithin(800)).toBe(false)
    await served(b.kafkaPort)
  })

  it("refuses a declared 256 MB frame before buffering any of it", async () => {
    const b = await broker()
    const before = inputFaults.kafkaOversizeFrames
    const wire = await wires.connect(b.kafkaPort)
    wire.write(Buffer.concat([sizePrefix(256 * 1024 * 1024), Buffer.alloc(1024, 0x41)]))
    expect(await wire.closedWithin(1_000)).toBe(true)
    expect(inputFaults.kafkaOversizeFrames - before).toBe(1)
    await served(b.kafkaPort)
  })

  it("holds incomplete requests within kafka.queued_max_request_bytes: a request beyond it waits, unread, until bytes are freed", async () => {
    const b = await broker({ kafka: { queuedMaxRequestBytes: 32 * 1024 }, limits: { incompleteRequestTimeoutMs: 10_000 } })
    const pausesBefore = inputFaults.kafkaBudgetPauses
    // A declares 30,000 bytes and sends 10 of them: its declared size is reserved.
    const hog = await wires.connect(b.kafkaPort)
    hog.write(Buffer.concat([sizePrefix(30_000), Buffer.alloc(10)]))
    await quiet(100)
    // B's 20 KB request cannot be reserved beside it: B waits, and the rest of its bytes stay unread.
    const waiter = await wires.connect(b.kafkaPort)
    const big = metadataFrame(7, "c".repeat(20_000))
    waiter.write(big.subarray(0, 100))
    await quiet(100)
    waiter.write(big.subarray(100))
    await expect(waiter.nextFrame(400)).rejects.toThrow(/no response/)
    expect(inputFaults.kafkaBudgetPauses - pausesBefore).toBe(1)
    // Small whole requests need no budget: others are still served meanwhile.
    await served(b.kafkaPort)
    // A goes away: its reservation is freed, B is read and answered.
    hog.destroy()
    const answer = await waiter.response(ApiKey.Metadata, 8, 7, 3_000)
    expect(answer.brokers.length).toBe(1)
    expect(await waiter.closedWithin(200)).toBe(false)
  })

  it("lets one request larger than the whole budget through when nothing else holds any", async () => {
    const b = await broker({ kafka: { queuedMaxRequestBytes: 4 * 1024 } })
    const wire = await wires.connect(b.kafkaPort)
    const big = metadataFrame(3, "d".repeat(20_000))
    wire.write(big.subarray(0, 50))
    await quiet(50)
    wire.write(big.subarray(50))
    expect((await wire.response(ApiKey.Metadata, 8, 3, 3_000)).brokers.length).toBe(1)
  })
})
