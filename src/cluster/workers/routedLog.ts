/**
 * The log Kafka requests go to on a worker that may serve a dead sibling's partitions from that
 * sibling's store (StoreAdoption.ts): each call about one partition goes to the log serving it,
 * this node's own unless `served` names another. With nothing served elsewhere (always, but for
 * the seconds a sibling is down) a call costs one extra size check.
 */
import type { TopicPartition } from "../../../domain/ids.js"
import { MessageLog } from "../../../services/MessageLog.js"

type Log = MessageLog["Type"]

export const routedLog = (local: Log, served: ReadonlyMap<TopicPartition, Log>): Log => {
  const of = (tp: TopicPartition): Log => (served.size === 0 ? local : served.get(tp) ?? local)
  return MessageLog.of({
    stats: local.stats,
    unsafeAppend: (tp, record) => of(tp).unsafeAppend(tp, record),
    unsafeOnDurable: (tp, offset, done) => of(tp).unsafeOnDurable(tp, offset, done),
    unsafeAppendBatch: (tp, encoded, count) => of(tp).unsafeAppendBatch(tp, encoded, count),
    unsafeHighWatermark: (tp) => of(tp).unsafeHighWatermark(tp),
    unsafeOnAdvance: (tp, offset, wake) => of(tp).unsafeOnAdvance(tp, offset, wake),
    unsafeUnwrittenBytes: () => local.unsafeUnwrittenBytes(),
    unsafeAfterNextPass: (done) => local.unsafeAfterNextPass(done),
    unsafeOnPass: (taking) => local.unsafeOnPass(taking),
    unsafeEndOffset: (tp) => of(tp).unsafeEndOffset(tp),
    unsafePartitions: () => local.unsafePartitions(),
    read: (tp, fromOffset, maxBytes) => of(tp).read(tp, fromOffset, maxBytes),
    readBatches: (tp, fromOffset, maxBytes) => of(tp).readBatches(tp, fromOffset, maxBytes),
    startOffset: (tp) => of(tp).startOffset(tp),
    truncateBefore: (tp, offset) => of(tp).truncateBefore(tp, offset),
    offsetForTimestamp: (tp, timestamp) => of(tp).offsetForTimestamp(tp, timestamp),
    deletePartition: (tp) => of(tp).deletePartition(tp),
    flush: local.flush
  })
}
