/**
 * What `robustmq log verify` and `robustmq log repair` check in a data directory, whatever the
 * storage kind: the segment logs under `<dataDir>/log` (storage-segment/SegmentVerify.ts) and
 * the SQLite database `<dataDir>/robustmq.db` (storage-sqlite/SqliteVerify.ts), which holds the
 * events for both on-disk kinds and the log for `sqlite`. One report line per file.
 */
import * as NodePath from "node:path"
import { LOG_DIR } from "./storage-segment/SegmentFiles.js"
import * as SegmentVerify from "./storage-segment/SegmentVerify.js"
import { DB_FILE } from "./storage-sqlite/Sqlite.js"
import * as SqliteVerify from "./storage-sqlite/SqliteVerify.js"

export interface FileReport {
  readonly path: string
  /**
   * ok; torn: a torn tail the broker cuts by itself at start; bad: damage (verify exits 1);
   * fixed: repair cut or deleted something; note: nothing wrong.
   */
  readonly status: "ok" | "torn" | "bad" | "fixed" | "note"
  readonly detail: string
}

export const verify = async (dataDir: string): Promise<Array<FileReport>> => {
  const root = NodePath.resolve(dataDir)
  return [...(await SegmentVerify.verify(NodePath.join(root, LOG_DIR))), SqliteVerify.verify(NodePath.join(root, DB_FILE))]
}

export const repair = async (dataDir: string): Promise<Array<FileReport>> => {
  const root = NodePath.resolve(dataDir)
  return [...(await SegmentVerify.repair(NodePath.join(root, LOG_DIR))), SqliteVerify.repair(NodePath.join(root, DB_FILE))]
}

/** `OK    <path>: <detail>`: one line per report. */
export const formatReport = (r: FileReport): string => `${r.status.toUpperCase().padEnd(5)} ${r.path}: ${r.detail}`
