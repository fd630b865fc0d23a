/**
 * Chooses the storage implementations: the encoded log driver under MessageLog and the
 * control-plane event store. It builds storage only; MessageLogLive goes on top of it.
 *
 * - `memory`: both in memory; `dataDir` is ignored.
 * - `sqlite`: both in one database file, `<dataDir>/robustmq.db`.
 * - `segment`: the message log in Kafka-style segment files under `<dataDir>/log`
 *   (storage-segment/SegmentLogDriver.ts); the event store stays the SQLite one in
 *   `<dataDir>/robustmq.db`. Control-plane events are few, small, need expected-version checks,
 *   snapshots and pruning by stream, which SQLite already does well and atomically; the segment
 *   files are for the high-volume, append-only data plane, where they beat a database.
 */
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import type { StorageKind } from "../config/BrokerConfigShape.js"
import type { EventStore } from "../services/EventStore.js"
import { StorageError } from "../services/errors.js"
import type { LogDriver } from "../services/LogDriver.js"
import * as MemoryEventStore from "./storage-memory/MemoryEventStore.js"
import * as MemoryLogDriver from "./storage-memory/MemoryLogDriver.js"
import * as SegmentLogDriver from "./storage-segment/SegmentLogDriver.js"
import * as Sqlite from "./storage-sqlite/Sqlite.js"
import * as SqliteEventStore from "./storage-sqlite/SqliteEventStore.js"
import * as SqliteLogDriver from "./storage-sqlite/SqliteLogDriver.js"

export type { StorageKind }
export type SegmentSettings = SegmentLogDriver.SegmentSettings

const segmentStorage = (
  dataDir: string,
  segment: SegmentSettings
): Layer.Layer<LogDriver | EventStore, StorageError> =>
  Layer.merge(
    SegmentLogDriver.layer({ ...segment, dataDir }),
    SqliteEventStore.layer.pipe(Layer.provide(Sqlite.layer(dataDir)))
  )

/**
 * `memory` ignores `dataDir`; `sqlite` and `segment` create it when missing. `segment` reads the
 * segment settings (config's [storage] section; `BrokerConfigShape.storage` fits as is).
 */
export const layer = (
  kind: StorageKind,
  dataDir: string,
  segment: SegmentSettings = SegmentLogDriver.defaultSettings
): Layer.Layer<LogDriver | EventStore, StorageError> =>
  kind === "memory"
    ? Layer.merge(MemoryLogDriver.layer, MemoryEventStore.layer)
    : kind === "segment"
    ? segmentStorage(dataDir, segment)
    : Layer.merge(SqliteLogDriver.layer, SqliteEventStore.layer).pipe(Layer.provide(Sqlite.layer(dataDir)))

/** A temporary directory removed with the scope, after the storage in it is closed. */
const tempDir = Effect.acquireRelease(
  Effect.try({
    try: () => Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-")),
    catch: (cause) => new StorageError({ op: "open", path: Os.tmpdir(), cause })
  }),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Like `layer`, but on-disk kinds go to a temporary directory removed with the scope (tests). */
export const layerTemp = (
  kind: StorageKind,
  segment: SegmentSettings = SegmentLogDriver.defaultSettings
): Layer.Layer<LogDriver | EventStore, StorageError> =>
  kind === "memory"
    ? Layer.merge(MemoryLogDriver.layer, MemoryEventStore.layer)
    : kind === "segment"
    ? Layer.unwrapScoped(Effect.map(tempDir, (dir) => segmentStorage(dir, segment)))
    : Layer.merge(SqliteLogDriver.layer, SqliteEventStore.layer).pipe(Layer.provide(Sqlite.layerTemp))
