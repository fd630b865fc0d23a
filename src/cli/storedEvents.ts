/**
 * Reads the control-event log straight from a data directory, for `robustmq events dump`: the
 * events table of `<dataDir>/robustmq.db`, which the `sqlite` and `segment` storage kinds both
 * keep (layers/Storage.ts); a `memory` broker writes none. Opens the database read-only and
 * streams rows in position order, so a long log is never held in memory, and never writes,
 * migrates or checkpoints: the directory is left exactly as the broker left it.
 */
import Database from "better-sqlite3"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { DB_FILE } from "../../layers/storage-sqlite/Sqlite.js"
import { type EventRow, toRecorded } from "../../layers/storage-sqlite/SqliteEventStore.js"
import type { RecordedEvent } from "../../services/EventStore.js"

export interface StoredEventsQuery {
  /** Only this stream (exact name, e.g. `acl`, `topics`, `session-c1`). */
  readonly stream?: string | undefined
  /** Only events at or after this global position. */
  readonly fromPosition?: number | undefined
}

export interface StoredEvents {
  /** Widths of the longest stream and type that the query can print, for aligned columns. */
  readonly widths: { readonly position: number; readonly stream: number; readonly type: number }
  readonly events: Iterable<RecordedEvent>
  readonly close: () => void
}

/** A failure worded for the operator: what is wrong and what to do. */
export class StoredEventsError extends Error {}

const whereClause = (query: StoredEventsQuery) => {
  const conditions: Array<string> = []
  const params: Array<string | number> = []
  if (query.stream !== undefined) {
    conditions.push("stream = ?")
    params.push(query.stream)
  }
  if (query.fromPosition !== undefined) {
    conditions.push("global_position >= ?")
    params.push(query.fromPosition)
  }
  return { sql: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, params }
}

/** Opens `<dataDir>/robustmq.db` read-only; throws a StoredEventsError that says what to do. */
export const openStoredEvents = (dataDir: string, query: StoredEventsQuery): StoredEvents => {
  const dir = NodePath.resolve(dataDir)
  if (!Fs.existsSync(dir)) throw new StoredEventsError(`no directory ${dir}: pass the broker's --data-dir (storage.data_dir)`)
  const file = NodePath.join(dir, DB_FILE)
  if (!Fs.existsSync(file)) {
    throw new StoredEventsError(
      `no event store in ${dir} (no ${DB_FILE}): a memory broker keeps its events in memory only; sqlite and segment brokers write ${DB_FILE} there`
    )
  }
  let db: Database.Database
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
    db.pragma("query_only = ON")
  } catch (e) {
    throw new StoredEventsError(`cannot open ${file} read-only: ${e instanceof Error ? e.message : String(e)}`)
  }
  try {
    const where = whereClause(query)
    const widths = db.prepare(
      `SELECT max(global_position) AS position, max(length(stream)) AS stream, max(length(type)) AS type FROM events ${where.sql}`
    ).get(...where.params) as { position: number | null; stream: number | null; type: number | null }
    const rows = db.prepare(
      `SELECT global_position, stream, version, type, data, recorded_at FROM events ${where.sql} ORDER BY global_position`
    )
    function* events(): Generator<RecordedEvent> {
      for (const row of rows.iterate(...where.params) as IterableIterator<EventRow>) yield toRecorded(row)
    }
    return {
      widths: { position: String(widths.position ?? 0).length, stream: widths.stream ?? 0, type: widths.type ?? 0 },
      events: events(),
      close: () => db.close()
    }
  } catch (e) {
    db.close()
    const message = e instanceof Error ? e.message : String(e)
    throw new StoredEventsError(
      /no such table/i.test(message)
        ? `${file} holds no event table: is this a RobustMQ data directory?`
        : `cannot read ${file}: ${message}; \`robustmq log verify --data-dir ${dir}\` checks it`
    )
  }
}
