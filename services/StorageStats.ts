/**
 * What storage reports to the metrics endpoint beyond the message log's own stats: the control
 * event store's length, when each snapshot was last written, and the on-disk state that is cheap
 * to read at scrape time (segment files, the SQLite WAL file). Plain fields, kept by the
 * storage layers; nothing here is on the per-message path.
 */
import { Context } from "effect"

export interface StorageStatsShape {
  /** Events in the control event store now (appended minus pruned), -1 when unknown. */
  events: number
  /** Epoch ms each snapshot (by name) was last written by this process. */
  readonly snapshotsWritten: Map<string, number>
  /** Epoch ms the storage opened: a snapshot not yet written is at least this old. */
  readonly openedAt: number
  /** Segment files of the segment driver(s) open now; 0 without one. */
  readonly segmentFiles: () => number
  /** The SQLite write-ahead log's path, stat'd at scrape time; null without SQLite. */
  readonly walFile: string | null
}

export class StorageStats extends Context.Tag("broker/StorageStats")<StorageStats, StorageStatsShape>() {}
