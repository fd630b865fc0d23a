/**
 * Names on disk for the segment store, Kafka's layout:
 *
 * ```
 * <dataDir>/log/<stream>-<partition>/00000000000000000000.log        record batches, as given
 *                                   /00000000000000000000.index      offset -> file position
 *                                   /00000000000000000000.timeindex  max timestamp -> offset
 *                                   /log-start-offset                truncateBefore's checkpoint
 * <dataDir>/log/<stream>-<partition>.<n>.deleted/                    a deleted partition, being removed
 * ```
 *
 * A segment is named after the first offset it may hold (20 digits, so names sort as numbers).
 * Owns naming and parsing only; it never touches the file system.
 */
import type { TopicPartition } from "../../domain/ids.js"

export const LOG_DIR = "log"
export const LOG_SUFFIX = ".log"
export const INDEX_SUFFIX = ".index"
export const TIME_INDEX_SUFFIX = ".timeindex"
/** Suffix of a file being written before it is renamed into place. */
export const TMP_SUFFIX = ".tmp"
export const LOG_START_FILE = "log-start-offset"
/**
 * Suffix a deleted partition's directory is renamed to before its files are removed: the rename
 * is the deletion's commit point, and a directory with this suffix left by a crash is removed
 * at the next open. Never a partition name (those end in `-<digits>`).
 */
export const DELETED_SUFFIX = ".deleted"

const SAFE_NAME = /^[A-Za-z0-9._-]+$/

/**
 * The directory name of a partition: the TopicPartition itself when it is made of Kafka's legal
 * topic characters (it always is for Kafka topics and the broker's own streams), else
 * percent-encoded so no name can escape the log directory. A TopicPartition always ends in
 * `-<n>`, so it is never `.` or `..`.
 */
export const partitionDirName = (tp: TopicPartition): string => (SAFE_NAME.test(tp) ? tp : encodeURIComponent(tp))

/** The TopicPartition of a directory name, or undefined when the name is not one of ours. */
export const topicPartitionOfDir = (name: string): TopicPartition | undefined => {
  let tp: string
  try {
    tp = decodeURIComponent(name)
  } catch {
    return undefined
  }
  return /-\d+$/.test(tp) ? (tp as TopicPartition) : undefined
}

/** `00000000000000000042.log` for base offset 42 and suffix `.log`. */
export const segmentFileName = (baseOffset: number, suffix: string): string =>
  String(baseOffset).padStart(20, "0") + suffix

/** The base offset of a `<20 digits><suffix>` file name, or undefined for any other name. */
export const baseOffsetOf = (fileName: string, suffix: string): number | undefined => {
  if (fileName.length !== 20 + suffix.length || !fileName.endsWith(suffix)) return undefined
  const digits = fileName.slice(0, 20)
  if (!/^\d{20}$/.test(digits)) return undefined
  const value = Number(digits)
  return Number.isSafeInteger(value) ? value : undefined
}
