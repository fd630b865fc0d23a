/**
 * Kafka-style retention never deletes what a persistent MQTT session still needs: with a
 * retention of 1 ms, an offline session's queued QoS 1 messages survive retention passes and
 * are delivered when it comes back; once it has them, retention deletes them.
 */
import { Effect } from "effect"
import { applyRetention } from "../../src/mqtt/engine/retention.js"
import { describe, expect, it } from "vitest"
import { connect, waitUntil } from "../support/clients.js"
import { kafkaClient, useKafkaClients } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"

describe("retention and persistent MQTT sessions (Kafka on)", () => {
  const { broker, track } = useBrokers()
  const clients = useKafkaClients()

  // The segment store applies the same holds in its own retention pass (Retention.ts keepFrom,
  // unit-tested in SegmentParts); here the pass the test can trigger: memory and SQLite.
  for (const storage of ["sqlite", "memory"] as const) {
    it(`an offline session's backlog outlives retention.ms and is deleted once delivered (${storage})`, async () => {
      const b = await broker({ storage, storageConfig: { retentionMs: 1 } })
      const retention = async () => {
        await Effect.runPromise(applyRetention(b.server.engine)) // sessions' holds (every 2 s by itself)
        await b.runRetention() // memory/SQLite retention (every 30 s by itself)
      }
      const keeper = await connect(b.url, { protocolVersion: 4, clientId: "keeper", clean: false })
      await keeper.client.subscribeAsync("k/#", { qos: 1 })
      await keeper.end()
      const pub = track(await connect(b.url, { protocolVersion: 4 }))
      for (let i = 0; i < 20; i++) await pub.client.publishAsync("k/x", `m${i}-${"x".repeat(100)}`, { qos: 1 })
      await new Promise((r) => setTimeout(r, 20))
      await retention()
      const admin = await clients.admin(kafkaClient(b.kafkaPort))
      const [held] = await admin.fetchTopicOffsets("mqtt")
      expect(held!.low).toBe("0")

      const back = track(await connect(b.url, { protocolVersion: 4, clientId: "keeper", clean: false }))
      const got = await back.waitFor(20)
      expect(got.map((m) => m.payload.slice(0, 3))).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}-`.slice(0, 3)))
      await back.end()
      // Retention relies only on checkpoints already stored: wait for the disconnect's.
      const session = b.server.engine.sessions.get("keeper")!
      await waitUntil(() => session.conn === null && session.durableCheckpoint === session.state.checkpoint, 5000, () => "the disconnect checkpoint to be stored")
      await retention()
      const [after] = await admin.fetchTopicOffsets("mqtt")
      expect(Number(after!.low)).toBeGreaterThan(0)
    })
  }
})
