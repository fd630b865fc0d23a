/**
 * The write connection of the SQLite storage: a second better-sqlite3 handle on the same
 * database file, used for every write (log batches, events, snapshots) as one synchronous
 * transaction. Why not SqlClient: through it a group commit cost ~400 us (BEGIN, a multi-row
 * INSERT and COMMIT as separate Effect statements), here ~20-60 us, and a synchronous
 * transaction can never interleave with another fiber's statements, so the two writers never
 * contend for SQLite's write lock. SqlClient keeps the reads and the migrations.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import Database from "better-sqlite3"
import { Context, Effect, Layer } from "effect"
import { StorageError } from "../../services/errors.js"

export interface SqliteWriterService {
  /** The write connection, for preparing statements once at layer construction. */
  readonly db: Database.Database
  /**
   * Runs `body` in one transaction, synchronously (it blocks the event loop for its duration:
   * callers batch their writes). A throw rolls the transaction back and fails with StorageError.
   */
  readonly transaction: (op: "write" | "snapshot", body: () => void) => Effect.Effect<void, StorageError>
}

export class SqliteWriter extends Context.Tag("broker/SqliteWriter")<SqliteWriter, SqliteWriterService>() {}

export const layer: Layer.Layer<SqliteWriter, StorageError, SqliteClient.SqliteClient> = Layer.scoped(
  SqliteWriter,
  Effect.gen(function*() {
    const client = yield* SqliteClient.SqliteClient
    const filename = client.config.filename
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          // busy timeout 0: nothing else writes this file, so a lock would mean another process.
          const db = new Database(filename, { timeout: 0 })
          db.pragma("journal_mode = WAL")
          db.pragma("synchronous = NORMAL")
          return db
        },
        catch: (cause) => new StorageError({ op: "open", path: filename, cause })
      }),
      (db) => Effect.sync(() => db.close())
    )
    const transaction = (op: "write" | "snapshot", body: () => void) =>
      Effect.try({
        try: () => db.transaction(body)(),
        catch: (cause) => new StorageError({ op, path: filename, cause })
      })
    return SqliteWriter.of({ db, transaction })
  })
)
