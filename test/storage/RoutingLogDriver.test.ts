/**
 * Per-topic storage kind: the routing driver under Storage.layer places each partition on the
 * kind TopicPolicies gives its topic, keeps it there across restarts (recover merges every
 * driver), opens drivers lazily, splits mixed writes, and forgets a deleted partition.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { topicPartition } from "../../domain/ids.js"
import type { StoredRecord } from "../../domain/message/LogRecord.js"
import * as MessageLogLive from "../../layers/MessageLogLive.js"
import * as RoutingLogDriver from "../../layers/RoutingLogDriver.js"
import * as MemoryLogDriver from "../../layers/storage-memory/MemoryLogDriver.js"
import * as Storage from "../../layers/Storage.js"
import * as TopicPolicies from "../../layers/TopicPolicies.js"
import { StorageError } from "../../services/errors.js"
import { LogDriver } from "../../services/LogDriver.js"
import { MessageLog } from "../../services/MessageLog.js"
import { batch, offsetsOf, record } from "./LogDriver.contract.js"

const text = (r: StoredRecord) => Buffer.from(r.value!).toString()

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-route-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Partitions with rows in the SQLite log table of `dir`. */
const sqlitePartitions = (dir: string): Array<string> => {
  const db = new Database(path.join(dir, "robustmq.db"), { readonly: true })
  try {
    return (db.prepare("SELECT DISTINCT tp FROM batches ORDER BY tp").all() as Array<{ tp: string }>).map((r) => r.tp)
  } finally {
    db.close()
  }
}

const segmentPartitions = (dir: string): Array<string> =>
  fs.existsSync(path.join(dir, "log"))
    ? fs.readdirSync(path.join(dir, "log")).filter((n) => n !== "recovery-point").sort()
    : []

const brokerStorage = (kind: Storage.StorageKind, dir: string) =>
  Layer.provideMerge(MessageLogLive.layer, Storage.layer(kind, dir))

const alpha = topicPartition("alpha", 0)
const beta = topicPartition("beta", 0)
const gamma = topicPartition("gamma", 0)

describe("per-topic storage kind", () => {
  it.scoped("topics on different kinds; a restart keeps each where its data is and recovers them all", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const policies = yield* TopicPolicies.TopicPolicies
        const placement = yield* Storage.LogPlacement
        const log = yield* MessageLog
        policies.set("alpha", { storage: "sqlite" })
        policies.set("gamma", { storage: "memory" })
        // One flush carries all three: the router splits it.
        for (let i = 0; i < 3; i++) {
          log.unsafeAppend(alpha, record(`a${i}`))
          log.unsafeAppend(beta, record(`b${i}`))
          log.unsafeAppend(gamma, record(`g${i}`))
        }
        yield* log.flush
        expect([placement.kindOf(alpha), placement.kindOf(beta), placement.kindOf(gamma)]).toEqual(["sqlite", "segment", "memory"])
        expect((yield* log.read(alpha, 0, 1 << 20)).map(text)).toEqual(["a0", "a1", "a2"])
        expect((yield* log.read(gamma, 0, 1 << 20)).map(text)).toEqual(["g0", "g1", "g2"])
      }).pipe(Effect.provide(brokerStorage("segment", dir)))

      expect(sqlitePartitions(dir)).toEqual(["alpha-0"])
      expect(segmentPartitions(dir)).toEqual(["beta-0"])

      // No policies set this time: recovered partitions stay on the driver that holds them.
      yield* Effect.gen(function*() {
        const placement = yield* Storage.LogPlacement
        const log = yield* MessageLog
        expect(log.unsafeEndOffset(alpha)).toBe(3)
        expect(log.unsafeEndOffset(beta)).toBe(3)
        expect(log.unsafeEndOffset(gamma)).toBe(0) // memory does not survive a restart
        expect(log.unsafePartitions()).toEqual(expect.arrayContaining([alpha, beta]))
        expect([placement.kindOf(alpha), placement.kindOf(beta), placement.kindOf(gamma)]).toEqual(["sqlite", "segment", undefined])
        expect((yield* log.read(alpha, 1, 1 << 20)).map(text)).toEqual(["a1", "a2"])
        expect((yield* log.read(beta, 0, 1 << 20)).map(text)).toEqual(["b0", "b1", "b2"])
        log.unsafeAppend(alpha, record("a3"))
        yield* log.flush
      }).pipe(Effect.provide(brokerStorage("segment", dir)))

      expect(sqlitePartitions(dir)).toEqual(["alpha-0"])
      expect(segmentPartitions(dir)).toEqual(["beta-0"])
      const again = yield* Effect.flatMap(MessageLog, (log) => log.read(alpha, 0, 1 << 20)).pipe(
        Effect.provide(brokerStorage("segment", dir))
      )
      expect(again.map(text)).toEqual(["a0", "a1", "a2", "a3"])
    }))

  it.scoped("a memory broker opens SQLite for a topic that asks for it, in a scratch directory removed at shutdown", () =>
    Effect.gen(function*() {
      const dir = path.join(yield* tempDir, "data")
      const scratch = () => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith("scratch-")) : [])
      yield* Effect.gen(function*() {
        const policies = yield* TopicPolicies.TopicPolicies
        const placement = yield* Storage.LogPlacement
        const log = yield* MessageLog
        log.unsafeAppend(beta, record("in memory"))
        yield* log.flush
        expect(scratch()).toEqual([]) // nothing on disk until a topic asks
        policies.set("alpha", { storage: "sqlite" })
        log.unsafeAppend(alpha, record("on disk"))
        yield* log.flush
        expect(placement.kindOf(alpha)).toBe("sqlite")
        expect(scratch().length).toBe(1)
        expect(sqlitePartitions(path.join(dir, scratch()[0]!))).toEqual(["alpha-0"])
        expect((yield* log.read(alpha, 0, 1 << 20)).map(text)).toEqual(["on disk"])
      }).pipe(Effect.provide(brokerStorage("memory", dir)))
      expect(scratch()).toEqual([])
    }))

  it.scoped("a SQLite broker opens the segment store on first use, and from the start once it has data", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const policies = yield* TopicPolicies.TopicPolicies
        const log = yield* MessageLog
        log.unsafeAppend(alpha, record("sqlite"))
        yield* log.flush
        expect(segmentPartitions(dir)).toEqual([])
        policies.set("beta", { storage: "segment" })
        log.unsafeAppend(beta, record("segment"))
        yield* log.flush
      }).pipe(Effect.provide(brokerStorage("sqlite", dir)))
      expect(sqlitePartitions(dir)).toEqual(["alpha-0"])
      expect(segmentPartitions(dir)).toEqual(["beta-0"])
      const read = yield* Effect.gen(function*() {
        const log = yield* MessageLog
        return [log.unsafeEndOffset(beta), (yield* log.read(beta, 0, 1 << 20)).map(text)] as const
      }).pipe(Effect.provide(brokerStorage("sqlite", dir)))
      expect(read).toEqual([1, ["segment"]])
    }))

  it.scoped("deleting a partition forgets its placement: a re-created topic goes to its new kind", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const policies = yield* TopicPolicies.TopicPolicies
        const placement = yield* Storage.LogPlacement
        const log = yield* MessageLog
        log.unsafeAppend(alpha, record("first life"))
        yield* log.flush
        expect(placement.kindOf(alpha)).toBe("sqlite")
        policies.set("alpha", { storage: "segment" }) // data already placed: it stays put
        log.unsafeAppend(alpha, record("still sqlite"))
        yield* log.flush
        expect(placement.kindOf(alpha)).toBe("sqlite")
        policies.remove("alpha")
        yield* log.deletePartition(alpha)
        expect(placement.kindOf(alpha)).toBe(undefined)
        policies.set("alpha", { storage: "segment" })
        log.unsafeAppend(alpha, record("second life"))
        yield* log.flush
        expect(placement.kindOf(alpha)).toBe("segment")
        expect((yield* log.read(alpha, 0, 1 << 20)).map(text)).toEqual(["second life"])
      }).pipe(Effect.provide(brokerStorage("sqlite", dir)))
      expect(sqlitePartitions(dir)).toEqual([])
      expect(segmentPartitions(dir)).toEqual(["alpha-0"])
    }))
})

describe("RoutingLogDriver writes", () => {
  /** A memory driver whose writes fail while `failing.on` is set. */
  const failingMemory = (failing: { on: boolean }) =>
    Effect.map(MemoryLogDriver.make, (inner): LogDriver["Type"] => ({
      ...inner,
      writeBatches: (batches) =>
        failing.on ? Effect.fail(new StorageError({ op: "write", cause: new Error("disk on fire") })) : inner.writeBatches(batches)
    }))

  it.scoped("a pass spread over kinds succeeds only when every part does; the parts that worked stay written", () =>
    Effect.gen(function*() {
      const policies = TopicPolicies.make({ storage: "memory", retentionMs: -1, retentionBytes: -1 })
      policies.set("alpha", { storage: "sqlite" })
      const failing = { on: true }
      const memory = yield* MemoryLogDriver.make
      const router = yield* RoutingLogDriver.make({ policies, open: { memory, sqlite: yield* failingMemory(failing) } })
      const error = yield* Effect.flip(router.writeBatches([batch(alpha, 0, 2), batch(beta, 0, 2), batch(beta, 2, 1)]))
      expect(error).toBeInstanceOf(StorageError)
      expect(offsetsOf(yield* router.readRange(beta, 0, 1 << 20))).toEqual([0, 1, 2])
      expect(yield* router.readRange(alpha, 0, 1 << 20)).toEqual([])
      failing.on = false
      yield* router.writeBatches([batch(alpha, 2, 1), batch(beta, 3, 1)])
      expect(offsetsOf(yield* router.readRange(alpha, 0, 1 << 20))).toEqual([2])
      expect((yield* router.recover).get(beta)).toBe(4)
      expect(router.openKinds()).toEqual(["memory", "sqlite"])
    }))

  it.scoped("a kind with no driver fails the write with StorageError(open)", () =>
    Effect.gen(function*() {
      const policies = TopicPolicies.make({ storage: "memory", retentionMs: -1, retentionBytes: -1 })
      policies.set("alpha", { storage: "segment" })
      const router = yield* RoutingLogDriver.make({ policies, open: { memory: yield* MemoryLogDriver.make } })
      const error = yield* Effect.flip(router.writeBatches([batch(alpha, 0, 1)]))
      expect(error.op).toBe("open")
      yield* router.writeBatches([batch(beta, 0, 1)])
      expect(offsetsOf(yield* router.readRange(beta, 0, 1 << 20))).toEqual([0])
    }))

  it.scoped("recover places partitions found on a driver, so reads reach them without any policy", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryLogDriver.make
      const sqlite = yield* MemoryLogDriver.make // stands in for a second driver with data
      yield* sqlite.writeBatches([batch(alpha, 0, 3)])
      const policies = TopicPolicies.make({ storage: "memory", retentionMs: -1, retentionBytes: -1 })
      const router = yield* RoutingLogDriver.make({ policies, open: { memory, sqlite } })
      expect(router.kindOf(alpha)).toBe("sqlite")
      expect(offsetsOf(yield* router.readRange(alpha, 0, 1 << 20))).toEqual([0, 1, 2])
      yield* router.writeBatches([batch(alpha, 3, 1)])
      expect((yield* sqlite.recover).get(alpha)).toBe(4)
      expect((yield* memory.recover).has(alpha)).toBe(false)
    }))
})

describe("TopicPolicies", () => {
  it("fills defaults, exempts __ streams from retention, and reads Kafka topic configs", () => {
    const policies = TopicPolicies.make({ storage: "sqlite", retentionMs: 1000, retentionBytes: -1 })
    policies.set("t", TopicPolicies.overridesFromConfig({ "retention.ms": "50", "robustmq.storage": "segment", "cleanup.policy": "delete" }))
    expect(policies.get("t")).toEqual({ storage: "segment", retentionMs: 50, retentionBytes: -1 })
    expect(policies.policyFor(topicPartition("t", 3))).toMatchObject({ retentionMs: 50, retentionBytes: -1 })
    expect(policies.storageFor("t")).toBe("segment")
    expect(policies.storageFor("other")).toBe("sqlite")
    expect(policies.policyFor(topicPartition("other", 0))).toMatchObject({ retentionMs: 1000 })
    policies.set("__retained", { retentionMs: 1 })
    expect(policies.policyFor(topicPartition("__retained", 0))).toEqual({ retentionMs: -1, retentionBytes: -1 })
    policies.remove("t")
    expect(policies.get("t")).toEqual({ storage: "sqlite", retentionMs: 1000, retentionBytes: -1 })
    expect(TopicPolicies.overridesFromConfig({ "retention.ms": "x", "retention.bytes": "-5", "robustmq.storage": "tape" })).toEqual({})
    expect(TopicPolicies.overridesFromConfig({ "retention.bytes": "-1" })).toEqual({ retentionBytes: -1 })
  })
})
