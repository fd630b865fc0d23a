/**
 * Runs the storage contracts against every implementation (segment-only behaviour is in
 * SegmentLogDriver.test.ts), plus what only SQLite has: opening
 * a data directory (and failing clearly), state surviving a reopen, group-commit transactions
 * and the rollback of a failed group commit.
 */
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Storage from "../../layers/Storage.js"
import * as MemoryEventStore from "../../layers/storage-memory/MemoryEventStore.js"
import * as MemoryLogDriver from "../../layers/storage-memory/MemoryLogDriver.js"
import * as SegmentLogDriver from "../../layers/storage-segment/SegmentLogDriver.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import * as SqliteEventStore from "../../layers/storage-sqlite/SqliteEventStore.js"
import * as SqliteLogDriver from "../../layers/storage-sqlite/SqliteLogDriver.js"
import * as SqliteVerify from "../../layers/storage-sqlite/SqliteVerify.js"
import * as SqliteWriter from "../../layers/storage-sqlite/SqliteWriter.js"
import { EventStore } from "../../services/EventStore.js"
import { StorageError } from "../../services/errors.js"
import { LogDriver } from "../../services/LogDriver.js"
import { eventStoreContract } from "./EventStore.contract.js"
import { batch, freshPartition, logDriverContract, offsetsOf } from "./LogDriver.contract.js"

/**
 * The SQLite write connection with its transactions counted, and optionally failed on demand:
 * wraps `transaction`, everything else passes through.
 */
const instrumentedSql = (probe: { transactions: number; failNext: number }) =>
  Layer.effect(
    SqliteWriter.SqliteWriter,
    Effect.map(SqliteWriter.SqliteWriter, (writer) => ({
      ...writer,
      transaction: (op: "write" | "snapshot", body: () => void) => {
        probe.transactions++
        if (probe.failNext > 0) {
          probe.failNext--
          return Effect.fail(new StorageError({ op, cause: new Error("injected failure") }))
        }
        return writer.transaction(op, body)
      }
    }))
  )

const logProbe = { transactions: 0, failNext: 0 }
const eventProbe = { transactions: 0, failNext: 0 }

logDriverContract("memory", MemoryLogDriver.layer)
logDriverContract(
  "sqlite",
  SqliteLogDriver.layer.pipe(Layer.provide(instrumentedSql(logProbe)), Layer.provide(Sqlite.layerTemp)),
  { transactions: () => logProbe.transactions }
)
logDriverContract("segment", SegmentLogDriver.layerTemp(), { sizeLimitByBatch: false })
// Tiny segments and index intervals: every contract case crosses segment and index boundaries.
logDriverContract(
  "segment, 1 KiB segments, fsync always",
  SegmentLogDriver.layerTemp({ segmentBytes: 1024, indexIntervalBytes: 100, fsync: "always" }),
  { sizeLimitByBatch: false }
)
// The routing driver the broker runs on, with every partition on its default kind.
logDriverContract("routing, default sqlite", Storage.layerTemp("sqlite"))
logDriverContract("routing, default memory", Storage.layerTemp("memory"))
eventStoreContract("memory", MemoryEventStore.layer)
eventStoreContract(
  "sqlite",
  SqliteEventStore.layer.pipe(Layer.provide(instrumentedSql(eventProbe)), Layer.provide(Sqlite.layerTemp)),
  { transactions: () => eventProbe.transactions }
)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("SQLite storage", () => {
  it.scoped("creates a missing data directory and the database file", () =>
    Effect.gen(function* () {
      const dir = path.join(yield* tempDir, "nested", "data")
      yield* Effect.scoped(Layer.build(Storage.layer("sqlite", dir)))
      expect(fs.existsSync(path.join(dir, Sqlite.DB_FILE))).toBe(true)
    }))

  it.scoped("fails with StorageError(open) naming the path when the directory cannot be created", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "not-a-dir")
      fs.writeFileSync(file, "x")
      const error = yield* Effect.flip(Effect.scoped(Layer.build(Storage.layer("sqlite", path.join(file, "data")))))
      expect(error).toBeInstanceOf(StorageError)
      expect(error.op).toBe("open")
      expect(error.path).toContain(path.join(file, "data"))
    }))

  it.scoped("fails with StorageError(open) when the file is not a database", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      fs.writeFileSync(path.join(dir, Sqlite.DB_FILE), "this is not an SQLite database, not even close".repeat(40))
      const error = yield* Effect.flip(Effect.scoped(Layer.build(Sqlite.layer(dir))))
      expect(error).toMatchObject({ _tag: "StorageError", op: "open", path: path.join(dir, Sqlite.DB_FILE) })
      expect(error.message).toContain(`robustmq log verify --data-dir ${dir}`)
    }))

  it.scoped("log verify: a batch row that fails its CRC is reported and repair deletes it; damaged pages are reported", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition("verify")
      yield* Effect.gen(function* () {
        const driver = yield* LogDriver
        yield* driver.writeBatches([batch(tp, 0, 2, 200), batch(tp, 2, 2, 200), batch(tp, 4, 2, 200)])
      }).pipe(Effect.provide(SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir)))))
      const file = path.join(dir, Sqlite.DB_FILE)
      expect(SqliteVerify.verify(file)).toMatchObject({ status: "ok" })
      const db = new Database(file)
      const row = db.prepare("SELECT rowid, bytes FROM batches WHERE tp = ? AND base_offset = 2").get(tp) as { rowid: number; bytes: Buffer }
      row.bytes[100] ^= 0xff
      db.prepare("UPDATE batches SET bytes = ? WHERE rowid = ?").run(row.bytes, row.rowid)
      db.close()
      const bad = SqliteVerify.verify(file)
      expect(bad.status).toBe("bad")
      expect(bad.detail).toContain(`batch ${tp} @2: record batch CRC-32C mismatch`)
      expect(SqliteVerify.repair(file)).toMatchObject({ status: "fixed" })
      expect(SqliteVerify.verify(file)).toMatchObject({ status: "ok" })
      yield* Effect.gen(function* () {
        const driver = yield* LogDriver
        expect(offsetsOf(yield* driver.readRange(tp, 0, 1 << 20))).toEqual([0, 1, 4, 5])
      }).pipe(Effect.provide(SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir)))))

      // Garbage over the pages after the first (the schema page stays readable).
      const bytes = fs.readFileSync(file)
      expect(bytes.length).toBeGreaterThan(4096 * 3)
      bytes.fill(0x5a, 4096, bytes.length)
      fs.writeFileSync(file, bytes)
      const pages = SqliteVerify.verify(file)
      expect(pages.status).toBe("bad")
      expect(SqliteVerify.repair(file).detail).toContain("repair cannot mend")
    }))

  it.scoped("uses WAL and synchronous=NORMAL", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const [mode, sync] = yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const m = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
        const s = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
        return [m[0]!.journal_mode, s[0]!.synchronous] as const
      }).pipe(Effect.provide(Sqlite.layer(dir)))
      expect(mode).toBe("wal")
      expect(sync).toBe(1) // NORMAL
    }))

  it.scoped("batches and events survive closing and reopening the data directory", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tp = freshPartition()
      yield* Effect.gen(function* () {
        const driver = yield* LogDriver
        const store = yield* EventStore
        yield* driver.writeBatches([batch(tp, 0, 3), batch(tp, 3, 4)])
        yield* store.append("session-a", [{ type: "SessionStarted", data: { clean: false } }], 0)
        yield* store.append("session-a", [{ type: "SubscriptionAdded", data: { filter: "a/#" } }], 1)
        yield* store.saveSnapshot("sessions", { position: 2, data: ["a"] })
      }).pipe(Effect.provide(Storage.layer("sqlite", dir)))

      yield* Effect.gen(function* () {
        const driver = yield* LogDriver
        const store = yield* EventStore
        expect((yield* driver.recover).get(tp)).toBe(7)
        expect(offsetsOf(yield* driver.readRange(tp, 0, 1 << 20))).toEqual([0, 1, 2, 3, 4, 5, 6])
        // The version map is reloaded: a stale expectation conflicts, the right one appends.
        expect(yield* Effect.flip(store.append("session-a", [{ type: "X", data: null }], 1))).toMatchObject({
          expected: 1,
          actual: 2
        })
        expect(yield* store.append("session-a", [{ type: "SessionEnded", data: null }], 2)).toBe(3)
        expect((yield* store.readAll()).map((e) => [e.position, e.type])).toEqual([
          [1, "SessionStarted"],
          [2, "SubscriptionAdded"],
          [3, "SessionEnded"]
        ])
        expect(yield* store.loadSnapshot("sessions")).toEqual({ position: 2, data: ["a"] })
      }).pipe(Effect.provide(Storage.layer("sqlite", dir)))
    }))

  it.scoped("a failed group commit fails every waiter and releases the reserved versions", () =>
    Effect.gen(function* () {
      const probe = { transactions: 0, failNext: 0 }
      const dir = yield* tempDir
      yield* Effect.gen(function* () {
        const store = yield* EventStore
        yield* store.append("s1", [{ type: "A", data: 1 }], 0)
        probe.failNext = 1
        const failed = yield* Effect.all(
          [
            Effect.flip(store.append("s1", [{ type: "B", data: 2 }], 1)),
            Effect.flip(store.append("s1", [{ type: "C", data: 3 }], -1)),
            Effect.flip(store.append("s2", [{ type: "D", data: 4 }], 0))
          ],
          { concurrency: "unbounded" }
        )
        expect(failed.map((e) => [e._tag, e._tag === "StorageError" ? e.op : ""])).toEqual([
          ["StorageError", "write"],
          ["StorageError", "write"],
          ["StorageError", "write"]
        ])
        // Versions are free again: the same expectations now succeed.
        expect(yield* store.append("s1", [{ type: "B", data: 2 }], 1)).toBe(2)
        expect(yield* store.append("s2", [{ type: "D", data: 4 }], 0)).toBe(1)
        expect((yield* store.readStream("s1")).map((e) => e.type)).toEqual(["A", "B"])
      }).pipe(
        Effect.provide(SqliteEventStore.layer.pipe(Layer.provide(instrumentedSql(probe)), Layer.provide(Sqlite.layer(dir))))
      )
    }))

  it.scoped("closing the scope completes appends still waiting for the flusher", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.gen(function* () {
        const store = yield* EventStore
        // Fork without waiting: the layer's scope closes while they are queued.
        for (let i = 0; i < 10; i++) yield* Effect.fork(store.append("late", [{ type: "E", data: i }], -1))
        yield* Effect.yieldNow() // let the forked appends queue their rows
      }).pipe(Effect.provide(Storage.layer("sqlite", dir)))
      const events = yield* Effect.flatMap(EventStore, (s) => s.readStream("late")).pipe(
        Effect.provide(Storage.layer("sqlite", dir))
      )
      expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }))
})

describe("Storage.layer", () => {
  it.effect("memory provides both services", () =>
    Effect.gen(function* () {
      const driver = yield* LogDriver
      const store = yield* EventStore
      yield* driver.writeBatches([batch(freshPartition(), 0, 1)])
      expect(yield* store.append("s", [{ type: "T", data: {} }], 0)).toBe(1)
    }).pipe(Effect.provide(Storage.layer("memory", "/nonexistent/ignored"))))
})
