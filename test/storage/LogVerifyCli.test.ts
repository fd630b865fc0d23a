/**
 * A damaged segment as an operator meets it: a real broker writes a topic through kafkajs, one
 * byte in the middle of its segment file flips while the broker is down, and then: the broker
 * refuses to start, naming the file and what to run; `robustmq log verify` (the compiled
 * executable, built by `tsc -b` before vitest) reports the file and the position, exit 1;
 * `robustmq log repair` cuts the segment back to its last whole batch; the broker starts, and
 * every record acknowledged before the damaged batch reads back through kafkajs.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { useBrokers } from "../support/lifecycle.js"
import { consumeN, kafkaClient, useKafkaClients } from "../support/kafka.js"
import { useProcesses } from "../support/processes.js"
import { startBroker } from "../support/TestBroker.js"

const main = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url))
const TOPIC = "damaged"

/** Start positions of the batches in a segment file (from each batch's length field). */
const batchStarts = (bytes: Buffer): Array<number> => {
  const starts: Array<number> = []
  for (let pos = 0; pos + 12 <= bytes.length; pos += 12 + bytes.readInt32BE(pos + 8)) starts.push(pos)
  return starts
}

describe("robustmq log verify / repair on a damaged segment", () => {
  const { broker, adopt } = useBrokers()
  const clients = useKafkaClients()
  const run = useProcesses()
  const robustmq = (...args: Array<string>) => run(process.execPath, [main, ...args], 30_000).exited

  it("start refuses, verify reports the file (exit 1), repair cuts it, acknowledged records before it read back", async () => {
    const first = await broker({ storage: "segment" })
    const dataDir = first.dataDir
    const producer = await clients.producer(kafkaClient(first.kafkaPort))
    // Ten acknowledged sends of ten records: ten batches, offsets 10k..10k+9.
    for (let k = 0; k < 10; k++) {
      const messages = Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `r${k * 10 + i}` }))
      await producer.send({ topic: TOPIC, acks: -1, messages })
    }
    await producer.disconnect()
    await first.stop()

    const segment = path.join(dataDir, "log", `${TOPIC}-0`, "00000000000000000000.log")
    const bytes = fs.readFileSync(segment)
    const starts = batchStarts(bytes)
    expect(starts).toHaveLength(10)
    const damaged = starts[5]! // the batch of offsets 50-59
    bytes[damaged + 70] ^= 0xff // inside its records: the CRC no longer matches
    fs.writeFileSync(segment, bytes)

    await expect(startBroker({ storage: "segment", dataDir })).rejects.toThrow(
      `${segment} is damaged at position ${damaged}`
    )
    const refused = await robustmq("start", "--mqtt-port", "0", "--kafka-port", "0", "--storage", "segment", "--data-dir", dataDir)
    expect(refused.code).toBe(1)
    expect(refused.stderr.trim().split("\n")).toHaveLength(1)
    expect(refused.stderr).toContain(`${segment} is damaged at position ${damaged}`)
    expect(refused.stderr).toContain(`robustmq log verify --data-dir ${dataDir}`)
    expect(refused.stderr).toContain("robustmq log repair")
    // The broker's clean stop recorded how far the partition was fsynced: below that, damage.
    expect(refused.stderr).toContain("offsets up to 99 had been fsynced (recovery point)")

    const verified = await robustmq("log", "verify", "--data-dir", dataDir)
    expect(verified.code).toBe(1)
    expect(verified.stdout).toMatch(new RegExp(`^BAD +${segment}: damaged at position ${damaged} of ${bytes.length}: .*CRC`, "m"))
    expect(verified.stdout).toMatch(/^OK +.*robustmq\.db: integrity_check ok/m)
    expect(verified.stderr).toContain("1 damaged file(s)")
    expect(fs.statSync(segment).size).toBe(bytes.length) // verify changes nothing

    const repaired = await robustmq("log", "repair", "--data-dir", dataDir)
    expect(repaired.code, repaired.stderr).toBe(0)
    expect(repaired.stdout).toMatch(new RegExp(`^FIXED +${segment}: cut from ${bytes.length} to ${damaged} bytes`, "m"))
    expect(fs.statSync(segment).size).toBe(damaged)
    expect((await robustmq("log", "verify", "--data-dir", dataDir)).code).toBe(0)

    const after = adopt(await startBroker({ storage: "segment", dataDir }))
    const kafka = kafkaClient(after.kafkaPort)
    const consumer = await clients.consumer(kafka, { groupId: "after-repair" })
    const got = await consumeN(consumer, TOPIC, 50)
    expect(got.map((m) => [m.offset, m.value])).toEqual(Array.from({ length: 50 }, (_, i) => [i, `r${i}`]))
    // The log goes on from the cut.
    const again = await clients.producer(kafka)
    const sent = await again.send({ topic: TOPIC, acks: -1, messages: [{ partition: 0, value: "after" }] })
    expect(sent[0]).toMatchObject({ errorCode: 0, baseOffset: "50" })
  }, 90_000)
})
