/**
 * The SQLite connection for a data directory: `<dataDir>/robustmq.db`, WAL journal,
 * `synchronous=NORMAL` (a commit is durable against a process crash at once and against a
 * power loss at the next checkpoint), migrations applied at open. Owns the database handle's
 * lifetime (closed with the layer's scope). Every open failure — directory not creatable or not
 * writable, file not a database, failed migration — is a StorageError("open") naming the path;
 * it never lets a raw SqliteError escape as a defect.
 *
 * better-sqlite3 is synchronous: every statement blocks the event loop. Callers group their
 * writes (MessageLogLive, SqliteEventStore) so that a commit serves many messages.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Cause, Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { StorageError } from "../../services/errors.js"
import init from "./migrations/0001_init.js"
import batchesRowid from "./migrations/0002_batches_rowid.js"
import * as SqliteWriter from "./SqliteWriter.js"

export const DB_FILE = "robustmq.db"

const migrate = SqliteMigrator.make({})({
  loader: SqliteMigrator.fromRecord({ "0001_init": init, "0002_batches_rowid": batchesRowid })
})

/**
 * A damaged database file fails the open naming the file (StorageError's path) and what to run;
 * other causes pass through unchanged.
 */
const damageHint = (dir: string) => (cause: unknown): unknown => {
  const text = cause instanceof Error ? `${(cause as { code?: unknown }).code ?? ""} ${cause.message} ${String(cause.cause ?? "")}` : String(cause)
  if (!/SQLITE_(CORRUPT|NOTADB)|malformed|not a database/i.test(text)) return cause
  const message = cause instanceof Error ? cause.message : String(cause)
  return new Error(
    `${message}; run \`robustmq log verify --data-dir ${dir}\` for a report (\`robustmq log repair\` deletes damaged batches, not damaged pages)`,
    { cause }
  )
}

const open = (dataDir: string) =>
  Effect.gen(function* () {
    const dir = path.resolve(dataDir)
    const filename = path.join(dir, DB_FILE)
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(dir, { recursive: true })
        fs.accessSync(dir, fs.constants.W_OK)
        if (fs.existsSync(filename)) fs.accessSync(filename, fs.constants.R_OK | fs.constants.W_OK)
      },
      catch: (cause) => new StorageError({ op: "open", path: filename, cause })
    })
    // The client opens the file and switches to WAL while it is built; better-sqlite3 throws
    // there (a defect) when the file cannot be opened or is not a database.
    const client = yield* SqliteClient.make({ filename }).pipe(
      Effect.catchAllDefect((cause) => Effect.fail(new StorageError({ op: "open", path: filename, cause: damageHint(dir)(cause) })))
    )
    yield* Effect.gen(function* () {
      yield* client`PRAGMA synchronous = NORMAL`
      yield* migrate
    }).pipe(
      Effect.provideService(SqlClient.SqlClient, client),
      Effect.catchAllCause((cause) =>
        Effect.fail(new StorageError({ op: "open", path: filename, cause: damageHint(dir)(Cause.squash(cause)) }))
      )
    )
    return Context.make(SqliteClient.SqliteClient, client).pipe(Context.add(SqlClient.SqlClient, client))
  })

/**
 * SQLite in `<dataDir>/robustmq.db`; the directory is created when missing. With `fence`, the
 * file may be taken over by another process (SqliteWriter.StoreFence).
 */
export const layer = (
  dataDir: string,
  fence?: SqliteWriter.StoreFence
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient | SqliteWriter.SqliteWriter, StorageError> =>
  SqliteWriter.layerWith(fence).pipe(Layer.provideMerge(Layer.scopedContext(open(dataDir))), Layer.provide(Reactivity.layer))

/** SQLite in a fresh temporary directory, removed (after the database is closed) with the scope. */
export const layerTemp: Layer.Layer<
  SqliteClient.SqliteClient | SqlClient.SqlClient | SqliteWriter.SqliteWriter,
  StorageError
> = SqliteWriter.layer.pipe(Layer.provideMerge(Layer.scopedContext(
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.try({
        try: () => fs.mkdtempSync(path.join(os.tmpdir(), "robustmq-")),
        catch: (cause) => new StorageError({ op: "open", path: os.tmpdir(), cause })
      }),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    return yield* open(dir)
  })
)), Layer.provide(Reactivity.layer))
