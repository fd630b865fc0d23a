/**
 * LogDriver on SQLite: one row per sealed RecordBatch in
 * `batches(tp, base_offset, last_offset, bytes)`, a rowid table with a unique index on
 * (tp, base_offset) (migration 0002 says why not WITHOUT ROWID).
 * `writeBatches` is one transaction however many batches it carries (group commit happens in
 * MessageLogLive). It never assigns offsets, never parses records, and never rewrites a row.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import type { TopicPartition } from "../../domain/ids.js"
import { StorageError } from "../../services/errors.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"
import { SqliteWriter } from "./SqliteWriter.js"

interface BatchRow {
  readonly base_offset: number
  readonly last_offset: number
  readonly bytes: Uint8Array
}

/** Rows fetched per query while filling `maxBytes`. */
const PAGE = 32
/** Header timestamps fetched per query by offsetForTimestamp. */
const TIMESTAMP_PAGE = 512
/** Batch sizes fetched per query by offsetForSizeLimit (about 1-2 ms of the event loop each). */
const SIZE_PAGE = 1024

export const make: Effect.Effect<LogDriver["Type"], never, SqlClient.SqlClient | SqliteWriter> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const writer = yield* SqliteWriter
  const insert = writer.db.prepare("INSERT INTO batches (tp, base_offset, last_offset, bytes) VALUES (?, ?, ?, ?)")
  const truncate = writer.db.prepare(
    `DELETE FROM batches WHERE tp = ? AND last_offset < ?
       AND base_offset < (SELECT max(base_offset) FROM batches WHERE tp = ?)`
  )

  const removePartition = writer.db.prepare("DELETE FROM batches WHERE tp = ?")
  const truncateBefore = (tp: TopicPartition, offset: number) =>
    writer.transaction("write", () => {
      truncate.run(tp, offset, tp)
    })

  /** One synchronous transaction for every batch of a flush (see SqliteWriter for why). */
  const writeBatches = (batches: ReadonlyArray<EncodedBatch>) =>
    batches.length === 0
      ? Effect.void
      : writer.transaction("write", () => {
        for (const b of batches) {
          insert.run(b.tp, b.baseOffset, b.lastOffset, Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength))
        }
      })

  // Batches never overlap, so the batch holding `from` is the last one starting at or before
  // it; bounding base_offset by it keeps the scan on the primary key instead of the whole tp.
  const page = (tp: TopicPartition, from: number, limit: number) =>
    sql<BatchRow>`SELECT base_offset, last_offset, bytes FROM batches
      WHERE tp = ${tp}
        AND base_offset >= coalesce(
          (SELECT max(base_offset) FROM batches WHERE tp = ${tp} AND base_offset <= ${from}), ${from})
        AND last_offset >= ${from}
      ORDER BY base_offset
      LIMIT ${limit}`

  const readRange = (tp: TopicPartition, fromOffset: number, maxBytes: number) =>
    Effect.gen(function* () {
      const out: Array<EncodedBatch> = []
      let bytes = 0
      let from = fromOffset
      while (true) {
        const rows = yield* page(tp, from, PAGE)
        for (const row of rows) {
          if (out.length > 0 && bytes + row.bytes.length > maxBytes) return out
          out.push({ tp, baseOffset: row.base_offset, lastOffset: row.last_offset, bytes: row.bytes })
          bytes += row.bytes.length
        }
        if (rows.length < PAGE) return out
        from = rows[rows.length - 1]!.last_offset + 1
      }
    }).pipe(Effect.mapError((cause) => new StorageError({ op: "read", path: tp, cause })))

  // maxTimestamp is the int64 at byte 35 of the batch header (substr is 1-based): only those 8
  // bytes leave SQLite, never the records.
  const timestampPage = (tp: TopicPartition, after: number) =>
    sql<{ readonly base_offset: number; readonly ts: Uint8Array }>`
      SELECT base_offset, substr(bytes, 36, 8) AS ts FROM batches
      WHERE tp = ${tp} AND base_offset > ${after}
      ORDER BY base_offset
      LIMIT ${TIMESTAMP_PAGE}`

  const offsetForTimestamp = (tp: TopicPartition, timestamp: number) =>
    Effect.gen(function* () {
      let after = -1
      while (true) {
        const rows = yield* timestampPage(tp, after)
        for (const row of rows) {
          const view = new DataView(row.ts.buffer, row.ts.byteOffset, row.ts.byteLength)
          if (view.getInt32(0) * 4294967296 + view.getUint32(4) >= timestamp) return row.base_offset
        }
        if (rows.length < TIMESTAMP_PAGE) return null
        after = rows[rows.length - 1]!.base_offset
      }
    }).pipe(Effect.mapError((cause) => new StorageError({ op: "read", path: tp, cause })))

  // Newest first. length() of a BLOB does not copy the bytes out, but SQLite still visits every
  // row (~1 us each), so the walk goes a page at a time, letting the event loop run between
  // pages, and stops at the limit: it costs the batches kept, not the whole partition.
  const sizePage = (tp: TopicPartition, before: number) =>
    sql<{ readonly base_offset: number; readonly size: number }>`
      SELECT base_offset, length(bytes) AS size FROM batches
      WHERE tp = ${tp} AND base_offset < ${before}
      ORDER BY base_offset DESC
      LIMIT ${SIZE_PAGE}`

  const olderBatch = (tp: TopicPartition, before: number) =>
    sql<{ readonly one: number }>`SELECT 1 AS one FROM batches WHERE tp = ${tp} AND base_offset < ${before} LIMIT 1`

  const offsetForSizeLimit = (tp: TopicPartition, bytes: number) =>
    Effect.gen(function* () {
      let newer = 0
      let before = Number.MAX_SAFE_INTEGER
      while (true) {
        const rows = yield* sizePage(tp, before)
        for (let i = 0; i < rows.length; i++) {
          newer += rows[i]!.size
          if (newer < bytes) continue
          // The newest batch from which on the log holds `bytes`: the ones before it may go.
          const boundary = rows[i]!.base_offset
          const older = i + 1 < rows.length || (yield* olderBatch(tp, boundary)).length > 0
          return older ? boundary : null
        }
        if (rows.length < SIZE_PAGE) return null
        before = rows[rows.length - 1]!.base_offset
      }
    }).pipe(Effect.mapError((cause) => new StorageError({ op: "read", path: tp, cause })))

  const deletePartition = (tp: TopicPartition) =>
    writer.transaction("write", () => {
      removePartition.run(tp)
    })

  // One index seek per partition (the recursive step jumps to the next tp), so boot never scans
  // the table itself: its rows carry the whole log.
  const recover = sql<{ readonly tp: TopicPartition; readonly last: number }>`
    WITH RECURSIVE parts(tp) AS (
      SELECT min(tp) FROM batches
      UNION ALL
      SELECT (SELECT min(tp) FROM batches WHERE tp > parts.tp) FROM parts WHERE parts.tp IS NOT NULL
    )
    SELECT tp, (SELECT last_offset FROM batches WHERE batches.tp = parts.tp ORDER BY base_offset DESC LIMIT 1) AS last
    FROM parts WHERE tp IS NOT NULL`.pipe(
    Effect.map((rows): ReadonlyMap<TopicPartition, number> => new Map(rows.map((r) => [r.tp, r.last + 1]))),
    Effect.mapError((cause) => new StorageError({ op: "recover", cause }))
  )

  return LogDriver.of({
    writeBatches,
    readRange,
    truncateBefore,
    offsetForTimestamp,
    offsetForSizeLimit,
    deletePartition,
    recover
  })
})

export const layer: Layer.Layer<LogDriver, never, SqlClient.SqlClient | SqliteWriter> = Layer.effect(LogDriver, make)
