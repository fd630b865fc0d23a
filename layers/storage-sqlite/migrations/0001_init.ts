/**
 * Initial schema of the SQLite storage: the data-plane log (one row per sealed RecordBatch, not
 * per message), the control-plane event store, and projection snapshots. Never edit a released
 * migration: add 0002_... instead.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS batches (
    tp TEXT NOT NULL,
    base_offset INTEGER NOT NULL,
    last_offset INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (tp, base_offset)
  ) WITHOUT ROWID`
  yield* sql`CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (stream, version)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS snapshots (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    data TEXT NOT NULL
  )`
})
