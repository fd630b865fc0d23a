/**
 * A data directory written by the first schema (the log as a WITHOUT ROWID table) opens with
 * the current code: migration 0002 moves every batch into the rowid table, and the driver
 * recovers the partitions' ends and reads the batches back unchanged.
 */
import { describe, expect, it } from "@effect/vitest"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { SqlClient } from "@effect/sql"
import * as Reactivity from "@effect/experimental/Reactivity"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import init from "../../layers/storage-sqlite/migrations/0001_init.js"
import * as Sqlite from "../../layers/storage-sqlite/Sqlite.js"
import * as SqliteLogDriver from "../../layers/storage-sqlite/SqliteLogDriver.js"
import { LogDriver } from "../../services/LogDriver.js"
import { batch } from "./LogDriver.contract.js"
import type { TopicPartition } from "../../domain/ids.js"

const tp = (s: string) => s as TopicPartition

/** Writes `rows` into a database that only has migration 0001 applied. */
const writeFirstSchema = (filename: string, rows: ReadonlyArray<readonly [string, number, number, Uint8Array]>) =>
  Effect.gen(function* () {
    yield* SqliteMigrator.make({})({ loader: SqliteMigrator.fromRecord({ "0001_init": init }) })
    const sql = yield* SqlClient.SqlClient
    const [{ ddl }] = yield* sql<{ readonly ddl: string }>`SELECT sql AS ddl FROM sqlite_master WHERE name = 'batches'`
    expect(ddl).toContain("WITHOUT ROWID")
    for (const [t, base, last, bytes] of rows) {
      yield* sql`INSERT INTO batches (tp, base_offset, last_offset, bytes) VALUES (${t}, ${base}, ${last}, ${bytes})`
    }
  }).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.provide(Reactivity.layer), Effect.scoped)

describe("SQLite migration 0002 (rowid message log)", () => {
  it.scoped("keeps every batch of a first-schema database and its partition ends", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-migrate-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const a0 = batch(tp("a-0"), 0, 2)
      const a2 = batch(tp("a-0"), 2, 1, 3000) // overflows a page, as real batches do
      const b0 = batch(tp("b-0"), 0, 1)
      yield* writeFirstSchema(path.join(dir, Sqlite.DB_FILE), [a0, a2, b0].map((b) => [b.tp, b.baseOffset, b.lastOffset, b.bytes] as const))

      const context = yield* Layer.build(SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir))))
      const driver = Context.get(context, LogDriver)
      const ends = yield* driver.recover
      expect(Object.fromEntries(ends)).toEqual({ "a-0": 3, "b-0": 1 })
      const read = yield* driver.readRange(tp("a-0"), 0, 1 << 20)
      expect(read.map((b) => [b.baseOffset, b.lastOffset])).toEqual([[0, 1], [2, 2]])
      expect(Buffer.from(read[1]!.bytes).equals(Buffer.from(a2.bytes))).toBe(true)
      // New writes land after the migrated rows and the key stays unique.
      yield* driver.writeBatches([batch(tp("a-0"), 3, 1)])
      const again = yield* driver.readRange(tp("a-0"), 2, 1 << 20)
      expect(again.map((b) => b.baseOffset)).toEqual([2, 3])
      const duplicate = yield* Effect.exit(
        driver.writeBatches([batch(tp("a-0"), 3, 1)])
      )
      expect(duplicate._tag).toBe("Failure")
    }))
})
