/**
 * Storage metrics, read at scrape time: the message log's group-commit latencies and volume
 * (MessageLog.stats), the control event store's length, snapshot ages, segment files and the
 * SQLite WAL size (StorageStats; the WAL is one stat per scrape).
 */
import { statSync } from "node:fs"
import { Effect, Layer } from "effect"
import { MessageLog } from "../../services/MessageLog.js"
import { StorageStats, type StorageStatsShape } from "../../services/StorageStats.js"
import type { RenderedFamily } from "./exposition.js"
import { type Metrics, registerRenderedScoped } from "./Metrics.js"

/** The MQTT engine's session snapshot (Engine.ts): its age is exported even before this process writes one. */
const SESSION_SNAPSHOT = "mqtt-sessions"

const walBytes = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0 // no WAL file: checkpointed and removed, or not created yet
  }
}

export const storageFamilies = (log: MessageLog["Type"], stats: StorageStatsShape): ReadonlyArray<RenderedFamily> => {
  const families: Array<RenderedFamily> = [
    {
      name: "robustmq_storage_append_latency_seconds", type: "histogram",
      help: "Per group commit: from the first append it carries to its durability (what a QoS 1 PUBACK or a Kafka produce waits for)",
      render: (out) => out.histogram("", log.stats.appendLatency)
    },
    {
      name: "robustmq_storage_commit_latency_seconds", type: "histogram",
      help: "Per group commit: the storage driver's write of every sealed batch, fsync included",
      render: (out) => out.histogram("", log.stats.commitLatency)
    },
    { name: "robustmq_storage_written_bytes_total", type: "counter", help: "Bytes of record batches written to the message log", render: (out) => out.sample("", log.stats.bytesWritten) },
    { name: "robustmq_storage_written_records_total", type: "counter", help: "Records written to the message log", render: (out) => out.sample("", log.stats.recordsWritten) },
    { name: "robustmq_storage_segment_files", type: "gauge", help: "Segment files of the segment store (0 when no partition uses it)", render: (out) => out.sample("", stats.segmentFiles()) },
    {
      name: "robustmq_storage_events", type: "gauge", help: "Events in the control event store (sessions, topics, groups, users, ACL)",
      render: (out) => {
        if (stats.events >= 0) out.sample("", stats.events)
      }
    },
    {
      name: "robustmq_storage_snapshot_age_seconds", type: "gauge", help: "Seconds since each snapshot was last written (since start, before this process wrote one)",
      render: (out) => {
        const now = Date.now()
        const names = new Set([SESSION_SNAPSHOT, ...stats.snapshotsWritten.keys()])
        for (const name of names) out.sample(`snapshot="${name}"`, Math.round((now - (stats.snapshotsWritten.get(name) ?? stats.openedAt)) / 1000))
      }
    }
  ]
  const wal = stats.walFile
  if (wal !== null) families.push({ name: "robustmq_storage_sqlite_wal_bytes", type: "gauge", help: "Size of the SQLite write-ahead log file", render: (out) => out.sample("", walBytes(wal)) })
  return families
}

/** Registers the storage metrics for the life of storage (nothing when metrics are off). */
export const layer: Layer.Layer<never, never, MessageLog | StorageStats | Metrics> = Layer.scopedDiscard(
  Effect.flatMap(Effect.all([MessageLog, StorageStats]), ([log, stats]) => registerRenderedScoped(() => storageFamilies(log, stats)))
)
