/**
 * `robustmq log verify` / `repair` for the SQLite database (`<dataDir>/robustmq.db`), run with
 * the broker stopped. Verify runs `PRAGMA integrity_check` (every page, every index) and checks
 * the message table row by row: each batch's CRC-32C, that its header agrees with the row's
 * offsets, and that a partition's batches do not overlap; and that every event's data is JSON.
 * Repair deletes the batch rows that fail those checks; damaged pages it cannot mend (that
 * needs a backup, or `sqlite3 robustmq.db .recover`), and says so.
 */
import Database from "better-sqlite3"
import * as fs from "node:fs"
import { batchBaseOffset, batchLastOffsetDelta, validateBatch } from "../../domain/message/RecordBatch.js"
import type { FileReport } from "../LogCheck.js"

interface Row {
  readonly rowid: number
  readonly tp: string
  readonly base_offset: number
  readonly last_offset: number
  readonly bytes: Buffer
}

/** Up to this many problems are listed per check. */
const LIST = 5

const open = (file: string, readonly: boolean) => new Database(file, { readonly, fileMustExist: true })

/** What is wrong with the batch rows: rowids to delete and a description of each. */
const badBatches = (db: Database.Database): Array<{ rowid: number; what: string }> => {
  const bad: Array<{ rowid: number; what: string }> = []
  let tp = ""
  let end = -1
  const rows = db.prepare("SELECT rowid, tp, base_offset, last_offset, bytes FROM batches ORDER BY tp, base_offset")
  for (const row of rows.iterate() as IterableIterator<Row>) {
    if (row.tp !== tp) {
      tp = row.tp
      end = -1
    }
    const where = `batch ${row.tp} @${row.base_offset}`
    const invalid = validateBatch(row.bytes)
    if (invalid !== undefined) bad.push({ rowid: row.rowid, what: `${where}: ${invalid}` })
    else if (batchBaseOffset(row.bytes) !== row.base_offset || row.base_offset + batchLastOffsetDelta(row.bytes) !== row.last_offset) {
      bad.push({ rowid: row.rowid, what: `${where}: its header says offsets ${batchBaseOffset(row.bytes)}-${batchBaseOffset(row.bytes) + batchLastOffsetDelta(row.bytes)}, the row ${row.base_offset}-${row.last_offset}` })
    } else if (row.base_offset <= end) {
      bad.push({ rowid: row.rowid, what: `${where}: overlaps the batch before it (which ends at ${end})` })
    } else end = row.last_offset
  }
  return bad
}

const integrity = (db: Database.Database): Array<string> =>
  (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check).filter((m) => m !== "ok")

const summary = (lines: ReadonlyArray<string>) =>
  lines.slice(0, LIST).join("; ") + (lines.length > LIST ? `; and ${lines.length - LIST} more` : "")

/** Checks `file`; one report. A file that is missing is a note, not a failure. */
export const verify = (file: string): FileReport => {
  if (!fs.existsSync(file)) return { path: file, status: "note", detail: "no database" }
  let db: Database.Database
  try {
    db = open(file, true)
  } catch (e) {
    return { path: file, status: "bad", detail: `cannot open: ${(e as Error).message}` }
  }
  try {
    const pages = integrity(db)
    if (pages.length > 0) return { path: file, status: "bad", detail: `integrity_check: ${summary(pages)}` }
    const bad = badBatches(db)
    const events = db.prepare("SELECT global_position, data FROM events").raw().iterate() as IterableIterator<[number, string]>
    const badEvents: Array<string> = []
    let eventCount = 0
    for (const [position, data] of events) {
      eventCount++
      try {
        JSON.parse(data)
      } catch {
        badEvents.push(`event ${position}: data is not JSON`)
      }
    }
    const problems = [...bad.map((b) => b.what), ...badEvents]
    if (problems.length > 0) return { path: file, status: "bad", detail: summary(problems) }
    const batches = (db.prepare("SELECT count(*) AS n, count(DISTINCT tp) AS tps FROM batches").get() as { n: number; tps: number })
    return {
      path: file,
      status: "ok",
      detail: `integrity_check ok; ${batches.n} batches in ${batches.tps} partitions, ${eventCount} events`
    }
  } catch (e) {
    return { path: file, status: "bad", detail: (e as Error).message }
  } finally {
    db.close()
  }
}

/** Deletes the batch rows verify finds bad; reports what it did, or why it cannot. */
export const repair = (file: string): FileReport => {
  if (!fs.existsSync(file)) return { path: file, status: "note", detail: "no database" }
  const cannot = (what: string): FileReport => ({
    path: file,
    status: "bad",
    detail: `damaged pages, which repair cannot mend (restore a backup, or try \`sqlite3 ${file} .recover\`): ${what}`
  })
  let db: Database.Database
  try {
    db = open(file, false)
  } catch (e) {
    return cannot((e as Error).message)
  }
  try {
    let pages: Array<string>
    try {
      pages = integrity(db)
    } catch (e) {
      return cannot((e as Error).message)
    }
    if (pages.length > 0) return cannot(summary(pages))
    const bad = badBatches(db)
    if (bad.length === 0) return { path: file, status: "ok", detail: "nothing to repair" }
    const remove = db.prepare("DELETE FROM batches WHERE rowid = ?")
    db.transaction(() => {
      for (const b of bad) remove.run(b.rowid)
    })()
    db.pragma("wal_checkpoint(TRUNCATE)")
    return { path: file, status: "fixed", detail: `deleted ${bad.length} bad batch rows: ${summary(bad.map((b) => b.what))}` }
  } finally {
    db.close()
  }
}
