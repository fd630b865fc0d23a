/**
 * Chooses and opens the storage: the log driver under MessageLog (a RoutingLogDriver that gives
 * each topic the storage kind TopicPolicies says), the control-plane event store, the
 * per-topic policies and where each partition lives (LogPlacement). It builds storage only;
 * MessageLogLive (and LogRetention) go on top of it.
 *
 * The broker's kind (`storage.kind`) is the default kind of every topic and decides the event
 * store:
 *
 * - `memory`: events in memory and, by default, the log too; nothing survives a restart. A
 *   topic with `robustmq.storage=sqlite` or `segment` gets that driver, opened on first use in a
 *   fresh scratch directory under `dataDir` (`scratch-sqlite-*`, `scratch-segment-*`) and removed
 *   at shutdown: topics themselves live in the in-memory event store, so on-disk data would
 *   belong to no topic after a restart (and would collide with offsets restarting at 0).
 * - `sqlite`: events and, by default, the log in one database file, `<dataDir>/robustmq.db`.
 * - `segment`: the log in Kafka-style segment files under `<dataDir>/log`
 *   (storage-segment/SegmentLogDriver.ts); the event store stays the SQLite one in
 *   `<dataDir>/robustmq.db`. Control-plane events are few, small, need expected-version checks,
 *   snapshots and pruning by stream, which SQLite already does well and atomically; the segment
 *   files are for the high-volume, append-only data plane, where they beat a database.
 *
 * With `sqlite` or `segment`, the other on-disk kind shares the data directory: the SQLite log
 * driver is always open (the database is, for the events), the segment driver from the start
 * when `<dataDir>/log` exists (it may hold topics' data) and otherwise on first use. The memory
 * driver is always there; a topic with `robustmq.storage=memory` loses its records at a restart
 * (its offsets start again at 0) while the topic itself stays.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import type { StorageKind } from "../config/BrokerConfigShape.js"
import { SqlClient } from "@effect/sql"
import { EventStore } from "../services/EventStore.js"
import { StorageStats, type StorageStatsShape } from "../services/StorageStats.js"
import { StorageError } from "../services/errors.js"
import { LogDriver } from "../services/LogDriver.js"
import * as RoutingLogDriver from "./RoutingLogDriver.js"
import * as MemoryEventStore from "./storage-memory/MemoryEventStore.js"
import * as MemoryLogDriver from "./storage-memory/MemoryLogDriver.js"
import { LOG_DIR } from "./storage-segment/SegmentFiles.js"
import * as SegmentLogDriver from "./storage-segment/SegmentLogDriver.js"
import * as Sqlite from "./storage-sqlite/Sqlite.js"
import * as SqliteEventStore from "./storage-sqlite/SqliteEventStore.js"
import * as SqliteLogDriver from "./storage-sqlite/SqliteLogDriver.js"
import { SqliteWriter, type StoreFence } from "./storage-sqlite/SqliteWriter.js"
import * as TopicPolicies from "./TopicPolicies.js"

export type { StorageKind }
export type SegmentSettings = SegmentLogDriver.SegmentSettings
export { LogPlacement } from "./RoutingLogDriver.js"

/** What the storage layer provides. */
export type StorageServices = LogDriver | EventStore | TopicPolicies.TopicPolicies | RoutingLogDriver.LogPlacement | StorageStats

type LogDriverService = LogDriver["Type"]

/** Knobs for tests; the broker leaves them at their defaults. */
export interface StorageOptions {
  /** Period of the segment store's retention pass (default 30 s). */
  readonly segmentRetentionCheckMs?: number
  /** Wall clock of the segment store's retention (default Date.now). */
  readonly now?: () => number
  /** The SQLite file may be taken over by another process (`--workers`): see SqliteWriter.StoreFence. */
  readonly fence?: StoreFence
  /** The topic policies to follow instead of fresh defaults (a sibling's store opened by a worker, which keeps its own up to date). */
  readonly policies?: TopicPolicies.TopicPoliciesService
  /** False: the segment store runs no retention (a sibling's store: the holds of its sessions are not known here). */
  readonly segmentRetention?: boolean
}

const openError = (path: string) => (cause: unknown) => new StorageError({ op: "open", path, cause })

/** A fresh directory `<parent>/<prefix>XXXXXX`, removed with the scope. */
const scratchDir = (parent: string, prefix: string): Effect.Effect<string, StorageError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        Fs.mkdirSync(parent, { recursive: true })
        return Fs.mkdtempSync(NodePath.join(parent, prefix))
      },
      catch: openError(parent)
    }),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/** The SQLite log driver over its own database in `dir` (only for memory brokers). */
const sqliteDriverIn = (dir: string): Effect.Effect<LogDriverService, StorageError, Scope.Scope> =>
  Effect.map(
    Layer.build(SqliteLogDriver.layer.pipe(Layer.provide(Sqlite.layer(dir)))),
    Context.get(LogDriver)
  )

/** Events in the SQLite event store at open (one count; `countingEvents` keeps it after). */
const countEvents = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly n: number }>`SELECT count(*) AS n FROM events`).pipe(
  Effect.map((rows) => rows[0]?.n ?? -1),
  Effect.orElseSucceed(() => -1)
)

/** The event store, counting what is appended and pruned and when snapshots are written (StorageStats). */
const countingEvents = (store: EventStore["Type"], stats: StorageStatsShape): EventStore["Type"] =>
  EventStore.of({
    ...store,
    append: (stream, events, expectedVersion) =>
      Effect.tap(store.append(stream, events, expectedVersion), () => {
        if (stats.events >= 0) stats.events += events.length
      }),
    prune: (types, upToPosition) =>
      Effect.tap(store.prune(types, upToPosition), (n) => {
        if (stats.events >= 0) stats.events -= n
      }),
    saveSnapshot: (name, snapshot) => Effect.tap(store.saveSnapshot(name, snapshot), () => void stats.snapshotsWritten.set(name, Date.now()))
  })

const open = (
  kind: StorageKind,
  dataDir: string,
  settings: SegmentSettings,
  options: StorageOptions
): Effect.Effect<Context.Context<StorageServices>, StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    const root = NodePath.resolve(dataDir)
    const policies = options.policies ?? TopicPolicies.make(TopicPolicies.defaultsFrom({ ...settings, kind }))
    const segmentDrivers: Array<SegmentLogDriver.SegmentLogDriver> = []
    // Fenced data directory (`--workers`): segment writes hold the SQLite file's fence too.
    let fenced: SqliteWriter["Type"]["fenced"] = null
    const segmentIn = (dir: string) =>
      Effect.tap(
        SegmentLogDriver.make({
          ...settings,
          dataDir: dir,
          ...(fenced === null ? {} : { fenced }),
          ...(options.segmentRetention === false ? { retention: false } : {}),
          policyFor: policies.policyFor,
          ...(options.segmentRetentionCheckMs === undefined ? {} : { retentionCheckMs: options.segmentRetentionCheckMs }),
          ...(options.now === undefined ? {} : { now: options.now })
        }),
        (driver) => void segmentDrivers.push(driver)
      )
    const segmentFiles = () => {
      let n = 0
      for (const d of segmentDrivers) n += d.segmentCount()
      return n
    }
    const memory = yield* MemoryLogDriver.make
    let events: EventStore["Type"]
    let router: RoutingLogDriver.RoutingLogDriver
    let stats: StorageStatsShape
    if (kind === "memory") {
      events = yield* MemoryEventStore.make
      stats = { events: 0, snapshotsWritten: new Map(), openedAt: Date.now(), segmentFiles, walFile: null }
      router = yield* RoutingLogDriver.make({
        policies,
        open: { memory },
        lazy: {
          sqlite: Effect.flatMap(scratchDir(root, "scratch-sqlite-"), sqliteDriverIn),
          segment: Effect.flatMap(scratchDir(root, "scratch-segment-"), segmentIn)
        }
      })
    } else {
      const sql = yield* Layer.build(Sqlite.layer(root, options.fence))
      fenced = Context.get(sql, SqliteWriter).fenced
      events = yield* Effect.provide(SqliteEventStore.make, sql)
      const counted = yield* Effect.provide(countEvents, sql)
      stats = { events: counted, snapshotsWritten: new Map(), openedAt: Date.now(), segmentFiles, walFile: NodePath.join(root, `${Sqlite.DB_FILE}-wal`) }
      const sqlite = yield* Effect.provide(SqliteLogDriver.make, sql)
      const segmentOnDisk = kind === "segment" || Fs.existsSync(NodePath.join(root, LOG_DIR))
      const segment = segmentOnDisk ? yield* segmentIn(root) : undefined
      router = yield* RoutingLogDriver.make({
        policies,
        open: segment === undefined ? { memory, sqlite } : { memory, sqlite, segment },
        lazy: { segment: segmentIn(root) }
      })
    }
    return Context.make(LogDriver, LogDriver.of(router)).pipe(
      Context.add(EventStore, countingEvents(events, stats)),
      Context.add(StorageStats, stats),
      Context.add(TopicPolicies.TopicPolicies, policies),
      Context.add(RoutingLogDriver.LogPlacement, { kindOf: router.kindOf })
    )
  })

/**
 * Storage in `dataDir` for broker kind `kind` (see the module comment); `memory` touches
 * `dataDir` only for a topic that asks for on-disk storage. `settings`: the config's [storage]
 * section (`BrokerConfigShape.storage` fits as is): segment files, and the retention defaults.
 */
export const layer = (
  kind: StorageKind,
  dataDir: string,
  settings: SegmentSettings = SegmentLogDriver.defaultSettings,
  options: StorageOptions = {}
): Layer.Layer<StorageServices, StorageError> => Layer.scopedContext(open(kind, dataDir, settings, options))

/** A temporary directory removed with the scope, after the storage in it is closed. */
const tempDir = Effect.acquireRelease(
  Effect.try({ try: () => Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-")), catch: openError(Os.tmpdir()) }),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Like `layer`, in a temporary directory removed with the scope (tests). */
export const layerTemp = (
  kind: StorageKind,
  settings: SegmentSettings = SegmentLogDriver.defaultSettings,
  options: StorageOptions = {}
): Layer.Layer<StorageServices, StorageError> =>
  Layer.scopedContext(Effect.flatMap(tempDir, (dir) => open(kind, dir, settings, options)))
