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
  /**
   * With a fence (else null): runs asynchronous `work` (a segment-file write) inside a write
   * transaction that first checks the fence, and commits after it, so another holder's claim
   * (its own write transaction) comes wholly before or wholly after it. This connection's
   * transactions queue behind it meanwhile. Fails with StoreFenced when the file is no longer ours.
   */
  readonly fenced: (<A>(work: () => Promise<A>) => Promise<A>) | null
}

/**
 * A data directory that more than one process may open (`--workers`: another worker serves a
 * dead one's partitions from its file until it is back). The holder's epoch (its ownership of
 * `stores/<node>` in the Coordination service) is written into the database at open, and every
 * write transaction first checks that it is still there: SQLite's write lock orders the check
 * with the next holder's write of its own epoch, so once that commits, nothing the old holder
 * writes can land (it fails, and `onFenced` runs), and what it committed before is what the new
 * holder reads when it recovers.
 */
export interface StoreFence {
  readonly epoch: number
  /** A write found a newer holder's epoch: this process no longer owns the file. */
  readonly onFenced?: (current: number) => void
}

/** Thrown inside a fenced transaction that finds another holder's epoch (it rolls back). */
export class StoreFenced extends Error {
  constructor(readonly filename: string, readonly mine: number, readonly current: number) {
    super(`${filename} was taken over by another process (store epoch ${current}, this one holds ${mine}): this process stops writing it; restart it to claim it back`)
  }
}

const FENCE_TABLE = "CREATE TABLE IF NOT EXISTS store_fence (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL)"

/** Claims the file for `fence.epoch` (fails if a newer holder wrote its own) and returns the per-transaction check. */
const installFence = (db: Database.Database, filename: string, fence: StoreFence): () => void => {
  db.exec(FENCE_TABLE)
  const read = db.prepare("SELECT epoch FROM store_fence WHERE id = 1").pluck()
  const current = () => (read.get() as number | undefined) ?? 0
  db.transaction(() => {
    const now = current()
    if (now > fence.epoch) throw new StoreFenced(filename, fence.epoch, now)
    db.prepare("INSERT INTO store_fence (id, epoch) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch").run(fence.epoch)
  }).immediate()
  return () => {
    const now = current()
    if (now === fence.epoch) return
    fence.onFenced?.(now)
    throw new StoreFenced(filename, fence.epoch, now)
  }
}

/** A FIFO lock over promises: `turn(f)` runs `f` once every earlier turn has settled. */
const queue = () => {
  let tail: Promise<unknown> = Promise.resolve()
  return <A>(f: () => Promise<A>): Promise<A> => {
    const mine = tail.then(f, f)
    tail = mine.catch(() => undefined)
    return mine
  }
}

/** WAL size above which the writer completes a checkpoint itself (see `transaction`). */
const WAL_LIMIT = 64 * 1024 * 1024

export class SqliteWriter extends Context.Tag("broker/SqliteWriter")<SqliteWriter, SqliteWriterService>() {}

/** The writer; with `fence`, of a data directory another process may take over (see StoreFence). */
export const layerWith = (fence?: StoreFence): Layer.Layer<SqliteWriter, StorageError, SqliteClient.SqliteClient> => Layer.scoped(
  SqliteWriter,
  Effect.gen(function*() {
    const client = yield* SqliteClient.SqliteClient
    const filename = client.config.filename
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          // Nothing else writes this file (but a fenced one's next holder, briefly, at a hand-over);
          // the short timeout covers the checkpointer's locks.
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
    const checkFence = fence === undefined
      ? null
      : yield* Effect.try({ try: () => installFence(db, filename, fence), catch: (cause) => new StorageError({ op: "open", path: filename, cause }) })
    yield* Checkpointer.start(filename)
    // Under a steady stream of commits the worker's checkpoints always trail the newest frames,
    // so the WAL would never restart from its beginning and would grow without end. When it
    // passes WAL_LIMIT (looked at once a second) the writer finishes the checkpoint itself,
    // between two of its transactions: only the frames since the worker's last pass are left,
    // and the next commit restarts the WAL.
    const wal = `${filename}-wal`
    let lastLook = Date.now()
    const run = (body: () => void) => {
      const now = Date.now()
      if (now - lastLook > 1000) {
        lastLook = now
        if ((fs.statSync(wal, { throwIfNoEntry: false })?.size ?? 0) > WAL_LIMIT) db.pragma("wal_checkpoint(PASSIVE)")
      }
      // Fenced: BEGIN IMMEDIATE takes the write lock before the check reads the epoch.
      if (checkFence === null) db.transaction(body)()
      else db.transaction(() => (checkFence(), body())).immediate()
    }
    if (checkFence === null) {
      const transaction = (op: "write" | "snapshot", body: () => void) =>
        Effect.try({ try: () => run(body), catch: (cause) => new StorageError({ op, path: filename, cause }) })
      return SqliteWriter.of({ db, transaction, fenced: null })
    }
    // Fenced: an asynchronous holder keeps a transaction open across awaits, so every use of the
    // connection takes its turn (FIFO); a synchronous transaction inside it would nest.
    const turn = queue()
    const begin = db.prepare("BEGIN IMMEDIATE")
    const commit = db.prepare("COMMIT")
    const rollback = db.prepare("ROLLBACK")
    const fenced = <A>(work: () => Promise<A>): Promise<A> =>
      turn(async () => {
        begin.run()
        try {
          checkFence()
          const a = await work()
          commit.run()
          return a
        } catch (e) {
          if (db.inTransaction) rollback.run()
          throw e
        }
      })
    // Uninterruptible: a queued transaction runs anyway, so its caller waits for the outcome.
    const transaction = (op: "write" | "snapshot", body: () => void) =>
      Effect.uninterruptible(Effect.tryPromise({ try: () => turn(async () => run(body)), catch: (cause) => new StorageError({ op, path: filename, cause }) }))
    return SqliteWriter.of({ db, transaction, fenced })
  })
)

export const layer: Layer.Layer<SqliteWriter, StorageError, SqliteClient.SqliteClient> = layerWith()
