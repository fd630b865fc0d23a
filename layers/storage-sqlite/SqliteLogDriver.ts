/**
 * LogDriver on SQLite: one row per sealed RecordBatch in
 * `batches(tp, base_offset, last_offset, bytes) WITHOUT ROWID`, keyed by (tp, base_offset).
 * `writeBatches` is one transaction however many batches it carries (group commit happens in
 * MessageLogLive). It never assigns offsets, never parses records, and never rewrites a row.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import type { TopicPartition } from "../../domain/ids.js"
import { StorageError } from "../../services/errors.js"
import { type EncodedBatch, LogDriver } from "../../services/LogDriver.js"

interface BatchRow {
  readonly base_offset: number
  readonly last_offset: number
  readonly bytes: Uint8Array
}

/** Rows fetched per query while filling `maxBytes`. */
const PAGE = 32

/**
 * Splits rows into multi-row INSERT chunks of 128, then of decreasing powers of two, so that a
 * write of any size uses few statements and the prepared-statement cache holds at most eight
 * shapes per table. (Through SqlClient a single-row insert costs ~90 us, a row of a 100-row
 * insert ~3.5 us.)
 */
const insertChunks = <A>(rows: ReadonlyArray<A>): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  let i = 0
  while (rows.length - i >= 128) {
    out.push(rows.slice(i, i + 128))
    i += 128
  }
  for (let size = 64; size >= 1; size >>= 1) {
    if (rows.length - i >= size) {
      out.push(rows.slice(i, i + size))
      i += size
    }
  }
  return out
}

export const make: Effect.Effect<LogDriver["Type"], never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const writeBatches = (batches: ReadonlyArray<EncodedBatch>) =>
    batches.length === 0
      ? Effect.void
      : sql.withTransaction(
        Effect.forEach(
          insertChunks(batches.map((b) => ({
            tp: b.tp,
            base_offset: b.baseOffset,
            last_offset: b.lastOffset,
            bytes: b.bytes
          }))),
          (rows) => sql`INSERT INTO batches ${sql.insert(rows)}`,
          { discard: true }
        )
      ).pipe(Effect.mapError((cause) => new StorageError({ op: "write", cause })))

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

  const recover = sql<{ readonly tp: TopicPartition; readonly last: number }>`
    SELECT tp, max(last_offset) AS last FROM batches GROUP BY tp`.pipe(
    Effect.map((rows): ReadonlyMap<TopicPartition, number> => new Map(rows.map((r) => [r.tp, r.last + 1]))),
    Effect.mapError((cause) => new StorageError({ op: "recover", cause }))
  )

  return LogDriver.of({ writeBatches, readRange, recover })
})

export const layer: Layer.Layer<LogDriver, never, SqlClient.SqlClient> = Layer.effect(LogDriver, make)
