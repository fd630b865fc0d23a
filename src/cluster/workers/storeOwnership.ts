/**
 * Who may write a worker's data directory (`--workers`): `owners/stores/<node id>` in the
 * Coordination service, its epoch written into the SQLite file and checked by every write
 * (SqliteWriter.StoreFence). A worker claims its own store before its storage opens, taking it
 * back from a sibling that served it while it was down (StoreAdoption.ts): the sibling's next
 * write fails, and this worker recovers whatever it committed before.
 */
import { Effect, Layer, Schedule, type Scope } from "effect"
import { BrokerConfig } from "../../../config/BrokerConfig.js"
import * as MessageLogLive from "../../../layers/MessageLogLive.js"
import * as Sqlite from "../../../layers/storage-sqlite/Sqlite.js"
import * as SqliteEventStore from "../../../layers/storage-sqlite/SqliteEventStore.js"
import * as SqliteLogDriver from "../../../layers/storage-sqlite/SqliteLogDriver.js"
import type { StoreFence } from "../../../layers/storage-sqlite/SqliteWriter.js"
import type { StorageError } from "../../../services/errors.js"
import type { EventStore } from "../../../services/EventStore.js"
import { LogDriver } from "../../../services/LogDriver.js"
import type { MessageLog } from "../../../services/MessageLog.js"
import type { CoordinationService, Ownership } from "../../../services/Coordination.js"
import { ClusterNode } from "../ClusterNode.js"
import { workerIndex } from "./workerConfig.js"

export const STORES = "stores/"

/** Whether this process takes over a dead sibling's data directory: a `--workers` worker on SQLite (segment files cannot be shared). */
export const takesOverStores = (kind: string): boolean => workerIndex() !== null && kind === "sqlite"
export const storeKey = (home: string): string => `${STORES}${home}`

/** Takes `home`'s store for `owner` from whoever holds it now (retried through conflicts and etcd hiccups, ~10 s). */
export const claimStore = (coordination: CoordinationService, home: string, owner: string): Effect.Effect<Ownership, Error> =>
  Effect.flatMap(coordination.ownerOf(storeKey(home)), (current) => coordination.claim(storeKey(home), owner, current?.epoch ?? 0)).pipe(
    Effect.retry(Schedule.intersect(Schedule.spaced("250 millis"), Schedule.recurs(40))),
    Effect.mapError((e) => new Error(`cannot claim the data directory of ${home} (${e._tag === "OwnershipConflict" ? "it keeps changing hands" : e.message}); is the coordination reachable?`))
  )

/**
 * This worker's fence on its own data directory, claimed now; undefined for a process that is
 * not a worker, or keeps nothing on disk. A fenced write (another worker took the directory
 * over: only if this one looked dead, its lease lost) stops this worker, and its primary starts
 * it again, claiming the directory back.
 */
export const ownStoreFence: Effect.Effect<StoreFence | undefined, Error, BrokerConfig | ClusterNode> = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const node = yield* ClusterNode
  if (workerIndex() === null || config.storage.kind === "memory" || node.coordination === null) return undefined
  const claimed = yield* claimStore(node.coordination, node.id, node.id)
  yield* Effect.logDebug(`workers: ${config.storage.dataDir} is ours at store epoch ${claimed.epoch}`)
  let stopping = false
  return {
    epoch: claimed.epoch,
    onFenced: (current) => {
      if (stopping) return
      stopping = true
      console.error(`workers: ${config.storage.dataDir} was taken over by a sibling worker (store epoch ${current}, ours ${claimed.epoch}): stopping, to be started again on it`)
      setImmediate(() => process.kill(process.pid, "SIGTERM"))
    }
  }
})

/** Another worker's data directory, open here (StoreAdoption): its message log and its events. */
export interface AdoptedStore {
  readonly log: MessageLog["Type"]
  /** Its sessions' events and snapshots, read and written only by its ghost engine (GhostRemnants). */
  readonly events: EventStore["Type"]
}

/**
 * The message log and event store of the SQLite file in another worker's data directory, over
 * one connection fenced at `fence` (StoreAdoption). Its segment files stay its own.
 */
export const openStore = (dir: string, fence: StoreFence): Effect.Effect<AdoptedStore, StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* Layer.build(Sqlite.layer(dir, fence))
    const driver = yield* Effect.provide(SqliteLogDriver.make, sql)
    const log = yield* Effect.provideService(MessageLogLive.make, LogDriver, driver)
    const events = yield* Effect.provide(SqliteEventStore.make, sql)
    return { log, events }
  })
