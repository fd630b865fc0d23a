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
import * as fs from "node:fs"
import { StorageError } from "../../services/errors.js"
import * as Checkpointer from "./Checkpointer.js"

export interface SqliteWriterService {
  /** The write connection, for preparing statements once at layer construction. */
  readonly db: Database.Database
  /**
   * Runs `body` in one transaction, synchronously (it blocks the event loop for its duration:
   * callers batch their writes). A throw rolls the transaction back and fails with StorageError.
   */
  readonly transaction: (op: "write" | "snapshot", body: () => void) => Effect.Effect<void, StorageError>
}

/** WAL size above which the writer completes a checkpoint itself (see `transaction`). */
const WAL_LIMIT = 64 * 1024 * 1024

export class SqliteWriter extends Context.Tag("broker/SqliteWriter")<SqliteWriter, SqliteWriterService>() {}

export const layer: Layer.Layer<SqliteWriter, StorageError, SqliteClient.SqliteClient> = Layer.scoped(
  SqliteWriter,
  Effect.gen(function*() {
    const client = yield* SqliteClient.SqliteClient
    const filename = client.config.filename
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          // Nothing else writes this file; the short timeout only covers the checkpointer's locks.
          const db = new Database(filename, { timeout: 1000 })
          db.pragma("journal_mode = WAL")
          db.pragma("synchronous = NORMAL")
          // Checkpoints run in the Checkpointer's thread, not at our commits; the WAL file is
          // cut back to 64 MiB when it restarts.
          db.pragma("wal_autocheckpoint = 0")
          db.pragma(`journal_size_limit = ${WAL_LIMIT}`)
          return db
        },
        catch: (cause) => new StorageError({ op: "open", path: filename, cause })
      }),
      (db) => Effect.sync(() => db.close())
    )
    yield* Checkpointer.start(filename)
    // Under a steady stream of commits the worker's checkpoints always trail the newest frames,
    // so the WAL would never restart from its beginning and would grow without end. When it
    // passes WAL_LIMIT (looked at once a second) the writer finishes the checkpoint itself,
    // between two of its transactions: only the frames since the worker's last pass are left,
    // and the next commit restarts the WAL.
    const wal = `${filename}-wal`
    let lastLook = Date.now()
    const transaction = (op: "write" | "snapshot", body: () => void) =>
      Effect.try({
        try: () => {
          const now = Date.now()
          if (now - lastLook > 1000) {
            lastLook = now
            if ((fs.statSync(wal, { throwIfNoEntry: false })?.size ?? 0) > WAL_LIMIT) db.pragma("wal_checkpoint(PASSIVE)")
          }
          db.transaction(body)()
        },
        catch: (cause) => new StorageError({ op, path: filename, cause })
      })
    return SqliteWriter.of({ db, transaction })
  })
)
