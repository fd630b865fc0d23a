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

const source = `
const { workerData, parentPort } = require("node:worker_threads")
const Database = require(workerData.driver)
const db = new Database(workerData.filename, { timeout: 5000 })
db.pragma("synchronous = NORMAL")
const checkpoint = () => {
  try { db.pragma("wal_checkpoint(PASSIVE)") } catch (e) { parentPort.postMessage(String(e)) }
}
const timer = setInterval(checkpoint, workerData.intervalMs)
parentPort.on("message", () => {
  clearInterval(timer)
  checkpoint()
  db.close()
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
