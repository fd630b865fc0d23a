/**
 * Retention by age and size per topic: the LogRetention pass on memory and SQLite partitions
 * (with a controlled `now`), its exemptions (`__` streams, partitions on the segment store, no
 * limits), its background fiber, and per-topic overrides reaching the segment store's own
 * retention.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { topicPartition, type TopicPartition } from "../../domain/ids.js"
import type { StoredRecord } from "../../domain/message/LogRecord.js"
import * as LogRetention from "../../layers/LogRetention.js"
import * as MessageLogLive from "../../layers/MessageLogLive.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as Storage from "../../layers/Storage.js"
import { TopicPolicies } from "../../layers/TopicPolicies.js"
import { LogDriver } from "../../services/LogDriver.js"
import { MessageLog } from "../../services/MessageLog.js"
import { record } from "./LogDriver.contract.js"

const HOUR = 3600_000
const DAY = 24 * HOUR
const NOW = 1_800_000_000_000

const text = (r: StoredRecord) => Buffer.from(r.value!).toString()

/** Appends one batch per entry (a flush after each), records timestamped `NOW - age`. */
const appendBatches = (tp: TopicPartition, batches: ReadonlyArray<{ readonly age: number; readonly values: ReadonlyArray<string> }>) =>
  Effect.gen(function*() {
    const log = yield* MessageLog
    for (const b of batches) {
      for (const v of b.values) log.unsafeAppend(tp, record(v, NOW - b.age))
      yield* log.flush
    }
  })

const values = (tp: TopicPartition) =>
  Effect.flatMap(MessageLog, (log) => Effect.map(log.read(tp, 0, 1 << 20), (rs) => rs.map(text)))

const storageWithLog = (kind: Storage.StorageKind, settings = SegmentLogDriver.defaultSettings, options: Storage.StorageOptions = {}) =>
  Layer.provideMerge(MessageLogLive.layer, Storage.layerTemp(kind, settings, options))

for (const kind of ["memory", "sqlite"] as const) {
  describe(`LogRetention on ${kind}`, () => {
    it.effect("deletes batches older than the topic's retention.ms, keeps newer ones and the newest batch", () =>
      Effect.gen(function*() {
        const policies = yield* TopicPolicies
        policies.set("aged", { retentionMs: HOUR })
        const aged = topicPartition("aged", 0)
        const allOld = topicPartition("aged", 1)
        const byDefault = topicPartition("plain", 0)
        const internal = topicPartition("__retained", 0)
        yield* appendBatches(aged, [
          { age: 3 * HOUR, values: ["a0", "a1"] },
          { age: 2 * HOUR, values: ["a2"] },
          { age: HOUR / 2, values: ["a3"] },
          { age: 0, values: ["a4"] }
        ])
        yield* appendBatches(allOld, [{ age: 5 * HOUR, values: ["o0"] }, { age: 4 * HOUR, values: ["o1"] }])
        // The default (config) retention is 7 days.
        yield* appendBatches(byDefault, [{ age: 8 * DAY, values: ["p0"] }, { age: 6 * DAY, values: ["p1"] }])
        yield* appendBatches(internal, [{ age: 30 * DAY, values: ["r0"] }, { age: 20 * DAY, values: ["r1"] }])

        const pass = yield* LogRetention.enforce(NOW)
        expect(pass).toEqual({ checked: 3, truncated: 3, failed: 0 })
        expect(yield* values(aged)).toEqual(["a3", "a4"])
        expect(yield* values(allOld)).toEqual(["o1"]) // all too old: only the newest batch stays
        expect(yield* values(byDefault)).toEqual(["p1"])
        expect(yield* values(internal)).toEqual(["r0", "r1"]) // the broker's own streams never age out
        const log = yield* MessageLog
        expect(log.unsafeEndOffset(aged)).toBe(5)
        expect(yield* log.startOffset(aged)).toBe(3)

        // A later pass moves on with time; an unlimited topic is not even looked at.
        policies.set("plain", { retentionMs: -1 })
        expect(yield* LogRetention.enforce(NOW + HOUR)).toEqual({ checked: 2, truncated: 2, failed: 0 })
        expect(yield* values(aged)).toEqual(["a4"])
        expect(yield* values(byDefault)).toEqual(["p1"])
      }).pipe(Effect.provide(storageWithLog(kind))))

    it.effect("retention.bytes keeps at least that many bytes of the newest batches", () =>
      Effect.gen(function*() {
        const policies = yield* TopicPolicies
        const driver = yield* LogDriver
        const tp = topicPartition("sized", 0)
        yield* appendBatches(tp, ["s0", "s1", "s2", "s3"].map((v) => ({ age: 0, values: [v.padEnd(200, ".")] })))
        const sizes = (yield* driver.readRange(tp, 0, 1 << 20)).map((b) => b.bytes.length)
        policies.set("sized", { retentionMs: -1, retentionBytes: sizes[2]! + sizes[3]! })
        expect(yield* LogRetention.enforce(NOW)).toEqual({ checked: 1, truncated: 1, failed: 0 })
        expect((yield* values(tp)).map((v) => v.slice(0, 2))).toEqual(["s2", "s3"])
        // Age and size together: the later cut wins.
        policies.set("sized", { retentionMs: DAY, retentionBytes: 1 })
        yield* LogRetention.enforce(NOW)
        expect((yield* values(tp)).map((v) => v.slice(0, 2))).toEqual(["s3"])
      }).pipe(Effect.provide(storageWithLog(kind))))
  })
}

describe("LogRetention placement", () => {
  it.effect("skips partitions on the segment store, which enforces retention itself", () =>
    Effect.gen(function*() {
      const policies = yield* TopicPolicies
      policies.set("short", { retentionMs: HOUR })
      policies.set("inmem", { retentionMs: HOUR, storage: "memory" })
      yield* appendBatches(topicPartition("short", 0), [{ age: 2 * HOUR, values: ["x"] }, { age: 0, values: ["y"] }])
      yield* appendBatches(topicPartition("inmem", 0), [{ age: 2 * HOUR, values: ["x"] }, { age: 0, values: ["y"] }])
      expect(yield* LogRetention.enforce(NOW)).toEqual({ checked: 1, truncated: 1, failed: 0 })
      expect(yield* values(topicPartition("short", 0))).toEqual(["x", "y"])
      expect(yield* values(topicPartition("inmem", 0))).toEqual(["y"])
    }).pipe(Effect.provide(storageWithLog("segment"))))

  it.scopedLive("the background fiber runs passes on its own", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(storageWithLog("sqlite"))
      const tp = topicPartition("bg", 0)
      yield* Effect.gen(function*() {
        const policies = yield* TopicPolicies
        policies.set("bg", { retentionMs: HOUR })
        yield* appendBatches(tp, [{ age: 2 * HOUR, values: ["old"] }, { age: 0, values: ["new"] }])
        yield* Layer.build(LogRetention.layer({ intervalMs: 10, now: () => NOW }))
        let seen: ReadonlyArray<string> = []
        for (let i = 0; i < 200 && seen.length !== 1; i++) {
          yield* Effect.sleep(10)
          seen = yield* values(tp)
        }
        expect(seen).toEqual(["new"])
      }).pipe(Effect.provide(context))
    }))
})

describe("per-topic retention on the segment store", () => {
  it.scopedLive("a topic's retention.ms override reaches the segment store's own retention", () =>
    Effect.gen(function*() {
      // Tiny segments so that every batch closes one; the store's retention runs every 10 ms.
      const settings = { ...SegmentLogDriver.defaultSettings, segmentBytes: 200 }
      const context = yield* Layer.build(storageWithLog("segment", settings, { segmentRetentionCheckMs: 10, now: () => NOW }))
      yield* Effect.gen(function*() {
        const policies = yield* TopicPolicies
        policies.set("short", { retentionMs: HOUR })
        const short = topicPartition("short", 0)
        const long = topicPartition("long", 0)
        for (const tp of [short, long]) {
          yield* appendBatches(tp, [
            { age: 3 * HOUR, values: ["s0".padEnd(150, ".")] },
            { age: 2 * HOUR, values: ["s1".padEnd(150, ".")] },
            { age: 0, values: ["s2".padEnd(150, ".")] },
            { age: 0, values: ["s3".padEnd(150, ".")] }
          ])
        }
        let seen: ReadonlyArray<string> = []
        for (let i = 0; i < 200 && seen.length !== 2; i++) {
          yield* Effect.sleep(10)
          seen = (yield* values(short)).map((v) => v.slice(0, 2))
        }
        expect(seen).toEqual(["s2", "s3"])
        // The default (7 days) keeps every batch of the other topic.
        expect((yield* values(long)).map((v) => v.slice(0, 2))).toEqual(["s0", "s1", "s2", "s3"])
      }).pipe(Effect.provide(context))
    }))
})
