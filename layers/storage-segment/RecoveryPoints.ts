/**
 * `<dataDir>/log/recovery-point`, Kafka's recovery-point-offset-checkpoint: per partition
 * directory, the offset below which every batch was fdatasynced (one `<dir> <offset>` line
 * each). Written durably (temp file, fdatasync, rename, directory fsync) after the periodic sync
 * and at close; never with `fsync = "never"`.
 *
 * It lets recovery tell damage from a power loss it must tolerate: a bad batch at or past a
 * partition's point sits in data that was never promised to the disk (a torn, zeroed or
 * reordered unsynced tail) and is cut; a bad batch below it was on the disk and is damage.
 * Without the file (never written yet, or `fsync = "never"`), a bad batch counts as damage only
 * when a whole valid batch follows it in the same file.
 */
import * as NodePath from "node:path"
import { type SegmentFs, unlinkQuiet } from "./SegmentFs.js"

export const RECOVERY_POINT_FILE = "recovery-point"

/** The points by partition directory name, or undefined when there is no file. */
export const readRecoveryPoints = async (fs: SegmentFs, logDir: string): Promise<Map<string, number> | undefined> => {
  let text: string
  try {
    text = (await fs.readFile(NodePath.join(logDir, RECOVERY_POINT_FILE))).toString("utf8")
  } catch {
    return undefined
  }
  const points = new Map<string, number>()
  for (const line of text.split("\n")) {
    const space = line.lastIndexOf(" ")
    if (space <= 0) continue
    const offset = Number(line.slice(space + 1))
    if (Number.isSafeInteger(offset) && offset >= 0) points.set(line.slice(0, space), offset)
  }
  return points
}

/** Replaces the file with `points`, durably. */
export const writeRecoveryPoints = async (fs: SegmentFs, logDir: string, points: ReadonlyMap<string, number>) => {
  const path = NodePath.join(logDir, RECOVERY_POINT_FILE)
  const tmp = `${path}.tmp`
  let text = ""
  for (const [dir, offset] of points) text += `${dir} ${offset}\n`
  await unlinkQuiet(fs, tmp)
  const fh = await fs.open(tmp, "wx+")
  try {
    const bytes = Buffer.from(text)
    let done = 0
    // Bounded: every turn writes at least one byte or throws.
    while (done < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, done)
      if (bytesWritten === 0) throw new Error(`short write to ${tmp}`)
      done += bytesWritten
    }
    await fh.datasync()
  } finally {
    await fh.close()
  }
  await fs.rename(tmp, path)
  await fs.syncDir(logDir)
}
