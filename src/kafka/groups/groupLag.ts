/**
 * A consumer group's committed offsets beside their partitions' high watermarks: the lag that
 * /metrics exports (kafka_consumergroup_lag) and the admin API shows. Read at scrape or request
 * time only; never on the per-message path.
 */
import { topicPartition } from "../../../domain/ids.js"
import type { GroupState } from "../../../domain/group/Group.js"
import type { MessageLog } from "../../../services/MessageLog.js"

export interface PartitionLag {
  readonly topic: string
  readonly partition: number
  /** The committed offset (the next record the group will read). */
  readonly offset: number
  readonly highWatermark: number
  /** Records behind the high watermark (0 when the committed offset is at or past it). */
  readonly lag: number
}

/** Every partition `group` has committed an offset for, with its lag. */
export function* partitionLags(group: GroupState, log: Pick<MessageLog["Type"], "unsafeHighWatermark">): Generator<PartitionLag> {
  for (const [topic, partitions] of group.offsets) {
    for (const [partition, committed] of partitions) {
      const highWatermark = log.unsafeHighWatermark(topicPartition(topic, partition))
      yield { topic, partition, offset: committed.offset, highWatermark, lag: Math.max(0, highWatermark - committed.offset) }
    }
  }
}

/** The group's lag summed over its committed partitions. */
export const totalLag = (group: GroupState, log: Pick<MessageLog["Type"], "unsafeHighWatermark">): number => {
  let total = 0
  for (const p of partitionLags(group, log)) total += p.lag
  return total
}
