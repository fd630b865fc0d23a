/**
 * Who may write a worker's data directory (`--workers`): `owners/stores/<node id>` in the
 * Coordination service, its epoch written into the SQLite file and checked by every write
 * (SqliteWriter.StoreFence; segment-file writes run inside such a fenced transaction). A worker
 * claims its own store before its storage opens, taking it back from a sibling that served it
 * while it was down (StoreAdoption.ts): the sibling's next write fails, and this worker
 * recovers whatever it committed before.
 */
import { Context, Effect, Layer, Schedule, type Scope } from "effect"
import { BrokerConfig } from "../../../config/BrokerConfig.js"
import type { BrokerConfigShape } from "../../../config/BrokerConfigShape.js"
import * as MessageLogLive from "../../../layers/MessageLogLive.js"
import * as Storage from "../../../layers/Storage.js"
import type { StoreFence } from "../../../layers/storage-sqlite/SqliteWriter.js"
import type { TopicPoliciesService } from "../../../layers/TopicPolicies.js"
import type { StorageError } from "../../../services/errors.js"
import { EventStore } from "../../../services/EventStore.js"
import type { MessageLog } from "../../../services/MessageLog.js"
import type { CoordinationService, Ownership } from "../../../services/Coordination.js"
import { ClusterNode } from "../ClusterNode.js"
import { workerIndex } from "./workerConfig.js"

export const STORES = "stores/"

/**
 * Whether this process takes over a dead sibling's data directory: a `--workers` worker on disk
 * (SQLite, or segment files, whose writes hold the SQLite file's fence too).
 */
export const takesOverStores = (kind: string): boolean => workerIndex() !== null && (kind === "sqlite" || kind === "segment")
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
 * Opens the storage in another worker's data directory (StoreAdoption) as this worker's own
 * opens (same kind and settings, following `policies`), fenced at `fence`: its message log
 * (SQLite and segment files; recovery cuts a torn tail) and its events.
 */
export const openStore = (storage: BrokerConfigShape["storage"], policies?: TopicPoliciesService) =>
(dir: string, fence: StoreFence): Effect.Effect<AdoptedStore, StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    // No retention while held: as with SQLite, the store's own worker does it when it is back.
    const options = { fence, segmentRetention: false, ...(policies === undefined ? {} : { policies }) }
    const opened = yield* Layer.build(Storage.layer(storage.kind, dir, storage, options))
    const log = yield* Effect.provide(MessageLogLive.make, opened)
    return { log, events: Context.get(opened, EventStore) }
  })
