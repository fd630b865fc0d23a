/**
 * Chooses the storage implementations: the encoded log driver under MessageLog and the
 * control-plane event store, both on the same backend and, for SQLite, the same database file
 * `<dataDir>/robustmq.db`. It builds storage only; MessageLogLive goes on top of it.
 */
import { Layer } from "effect"
import type { StorageKind } from "../config/BrokerConfigShape.js"
import type { EventStore } from "../services/EventStore.js"
import type { StorageError } from "../services/errors.js"
import type { LogDriver } from "../services/LogDriver.js"
import * as MemoryEventStore from "./storage-memory/MemoryEventStore.js"
import * as MemoryLogDriver from "./storage-memory/MemoryLogDriver.js"
import * as Sqlite from "./storage-sqlite/Sqlite.js"
import * as SqliteEventStore from "./storage-sqlite/SqliteEventStore.js"
import * as SqliteLogDriver from "./storage-sqlite/SqliteLogDriver.js"

export type { StorageKind }

/** `memory` ignores `dataDir`; `sqlite` creates it when missing. */
export const layer = (kind: StorageKind, dataDir: string): Layer.Layer<LogDriver | EventStore, StorageError> =>
  kind === "memory"
    ? Layer.merge(MemoryLogDriver.layer, MemoryEventStore.layer)
    : Layer.merge(SqliteLogDriver.layer, SqliteEventStore.layer).pipe(Layer.provide(Sqlite.layer(dataDir)))

/** Like `layer`, but SQLite goes to a temporary directory removed with the scope (tests). */
export const layerTemp = (kind: StorageKind): Layer.Layer<LogDriver | EventStore, StorageError> =>
  kind === "memory"
    ? Layer.merge(MemoryLogDriver.layer, MemoryEventStore.layer)
    : Layer.merge(SqliteLogDriver.layer, SqliteEventStore.layer).pipe(Layer.provide(Sqlite.layerTemp))
