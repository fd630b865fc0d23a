/**
 * The DeleteRecords floors (src/kafka/LogStartOffsets.ts) over a memory event store: a floor
 * only moves up, belongs to one incarnation of its topic, is rebuilt after a restart (dropped
 * when the partition's data did not survive), and the events behind a snapshot are pruned every
 * thousand raises without changing what is rebuilt.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type TopicPartition, topicPartition } from "../../domain/ids.js"
import { LOG_STARTS_SNAPSHOT, LOG_STARTS_STREAM } from "../../domain/kafka/logStartOffsets.js"
import type { TopicState } from "../../domain/meta/topics.js"
import * as MemoryEventStore from "../../layers/storage-memory/MemoryEventStore.js"
import { make } from "../../src/kafka/LogStartOffsets.js"

const topic = (name: string, createdAt: number): TopicState => ({ name, partitions: 4, config: {}, createdAt })

describe("LogStartOffsets", () => {
  it.effect("raises floors durably; a floor never moves down and is void for a topic created again", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      const topics = new Map([["t", topic("t", 100)]])
      const ends = new Map<TopicPartition, number>([[topicPartition("t", 0), 50], [topicPartition("t", 1), 50]])
      const deps = [store, { get: (name: string) => topics.get(name) }, { unsafeEndOffset: (tp: TopicPartition) => ends.get(tp) ?? 0 }] as const
      const starts = yield* make(...deps)
      const tp0 = topicPartition("t", 0)
      expect(starts.floor(tp0)).toBe(0)
      yield* starts.raise([{ topic: "t", topicCreatedAt: 100, partition: 0, offset: 20 }, { topic: "t", topicCreatedAt: 100, partition: 1, offset: 40 }])
      yield* starts.raise([{ topic: "t", topicCreatedAt: 100, partition: 0, offset: 10 }])
      expect(starts.floor(tp0)).toBe(20)

      const rebuilt = yield* make(...deps)
      expect([rebuilt.floor(tp0), rebuilt.floor(topicPartition("t", 1))]).toEqual([20, 40])

      // The partition's data did not survive (end offset below the floor): it starts from 0.
      ends.set(topicPartition("t", 1), 0)
      expect((yield* make(...deps)).floor(topicPartition("t", 1))).toBe(0)

      // Deleted and created again: the old floor no longer applies, a new one does.
      topics.set("t", topic("t", 200))
      expect(rebuilt.floor(tp0)).toBe(0)
      yield* rebuilt.raise([{ topic: "t", topicCreatedAt: 200, partition: 0, offset: 3 }])
      expect(rebuilt.floor(tp0)).toBe(3)
      expect((yield* make(...deps)).floor(tp0)).toBe(3)
    }))

  it.effect("every thousand raises the floors go into a snapshot and the events behind it are pruned", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      const deps = [store, { get: () => topic("big", 1) }, { unsafeEndOffset: () => 1_000_000 }] as const
      const starts = yield* make(...deps)
      for (let i = 1; i <= 1005; i++) yield* starts.raise([{ topic: "big", topicCreatedAt: 1, partition: i % 3, offset: i }])
      expect(yield* store.loadSnapshot(LOG_STARTS_SNAPSHOT)).toBeDefined()
      expect((yield* store.readStream(LOG_STARTS_STREAM)).length).toBeLessThanOrEqual(6)
      const rebuilt = yield* make(...deps)
      expect([0, 1, 2].map((p) => rebuilt.floor(topicPartition("big", p)))).toEqual([1005, 1003, 1004])
    }))
})
