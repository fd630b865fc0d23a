/**
 * WAL checkpoints off the event loop. A checkpoint copies the WAL into the database file and,
 * with synchronous=NORMAL, fsyncs it: run by the writer's own connection (SQLite's default
 * autocheckpoint) it blocked the event loop ~10% of the time under QoS 1 load. Here a worker
 * thread with its own connection runs PASSIVE checkpoints on a timer; they never block the
 * writer. Measured on pairs-qos1: 260k -> 280k msg/s; fanin-qos1: 164k -> 187k.
 *
 * The worker is plain JavaScript passed as source (`eval`), so it needs no build step and runs
 * the same under vitest and from dist/; the driver path is resolved here and handed over.
 */
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"
import { Effect, type Scope } from "effect"
import { StorageError } from "../../services/errors.js"

// The connection is opened on the first tick, not at start-up, and again after a failure: an
// open can fail while the previous broker on the same file is still closing (a restart), and a
// checkpointer that died then would leave the WAL to grow until the writer's own catch-up.
const source = `
const { workerData, parentPort } = require("node:worker_threads")
const Database = require(workerData.driver)
let db = null
let failures = 0
const checkpoint = () => {
  try {
    if (db === null) {
      db = new Database(workerData.filename, { timeout: 5000 })
      db.pragma("synchronous = NORMAL")
    }
    db.pragma("wal_checkpoint(PASSIVE)")
    failures = 0
  } catch (e) {
    if (db !== null) { try { db.close() } catch {} db = null }
    // Report the first failure of a run, not one per tick.
    if (failures++ === 0) parentPort.postMessage(String(e))
  }
}
const timer = setInterval(checkpoint, workerData.intervalMs)
parentPort.on("message", () => {
  clearInterval(timer)
  // A last checkpoint only through a connection that worked: at shutdown the files may be gone.
  if (db !== null) { checkpoint(); if (db !== null) db.close() }
  parentPort.close()
})
`

const driverPath = createRequire(import.meta.url).resolve("better-sqlite3")

/** Starts the checkpointer for `filename`; stopping it (scope close) runs a last checkpoint. */
export const start = (filename: string, intervalMs = 200): Effect.Effect<void, StorageError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const worker = new Worker(source, { eval: true, workerData: { driver: driverPath, filename, intervalMs } })
        worker.on("message", (error: string) => Effect.runFork(Effect.logWarning(`WAL checkpoint failed: ${error}`)))
        worker.on("error", (error) => Effect.runFork(Effect.logError("WAL checkpointer stopped", error)))
        worker.unref()
        return worker
      },
      catch: (cause) => new StorageError({ op: "open", path: filename, cause })
    }),
    (worker) =>
      Effect.async<void>((resume) => {
        worker.once("exit", () => resume(Effect.void))
        worker.postMessage("stop")
      })
  ).pipe(Effect.asVoid)
