/**
 * The message log table becomes an ordinary rowid table with a unique index on
 * (tp, base_offset), instead of a WITHOUT ROWID table keyed by it.
 *
 * Why: a WITHOUT ROWID table is an index b-tree that stores the whole row in its cells. A batch
 * larger than ~1 KB overflows its cell, and SQLite then reads the cell's whole overflow chain
 * to compare keys while it searches for the insert position, so every commit re-read the
 * newest big batches (seen with strace: six preads of the same pages per commit under a steady
 * 10k msg/s). In a rowid table new rows append at the end of the table b-tree without
 * comparing payloads, and the index holds only the small keys. Measured with better-sqlite3,
 * one 1.2 KB batch per commit: 68-72 -> 43-44 us per commit; 30 KB batches 218-228 -> 162-191.
 *
 * Existing rows are copied in key order, in the migrator's transaction; it logs the row count
 * first because a large log takes a while (a one-time cost at the first start after upgrading).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [{ rows }] = yield* sql<{ readonly rows: number }>`SELECT count(*) AS rows FROM batches`
  if (rows > 0) {
    yield* Effect.logInfo(`storage: converting the message log table (${rows} batches) to the rowid layout, once`)
  }
  yield* sql`CREATE TABLE batches_rowid (
    tp TEXT NOT NULL,
    base_offset INTEGER NOT NULL,
    last_offset INTEGER NOT NULL,
    bytes BLOB NOT NULL
  )`
  yield* sql`INSERT INTO batches_rowid (tp, base_offset, last_offset, bytes)
    SELECT tp, base_offset, last_offset, bytes FROM batches ORDER BY tp, base_offset`
  yield* sql`DROP TABLE batches`
  yield* sql`ALTER TABLE batches_rowid RENAME TO batches`
  yield* sql`CREATE UNIQUE INDEX batches_by_offset ON batches (tp, base_offset)`
})
