/**
 * Log start offsets raised by DeleteRecords, as events (stream `kafka-log-starts`). Storage
 * deletes whole batches (and the segment store whole segments), so after DeleteRecords(X) the
 * stored data may still begin below X; Kafka's contract is exact: the log start offset is X,
 * ListOffsets(earliest) answers X and a fetch below X is OFFSET_OUT_OF_RANGE. The floor X per
 * partition is therefore kept here and folded at start-up.
 *
 * Each entry names the topic's creation time: a topic deleted and created again under the same
 * name starts from 0, so an entry whose `topicCreatedAt` is not the live topic's is void. Pure:
 * the fold mutates only the map it is given.
 */
import { Schema } from "effect"
import { type TopicPartition, topicPartition } from "../ids.js"

export const LOG_STARTS_STREAM = "kafka-log-starts"
export const LOG_STARTS_SNAPSHOT = "kafka-log-starts"

export const RaisedLogStart = Schema.Struct({
  topic: Schema.String,
  /** TopicState.createdAt of the topic the floor belongs to. */
  topicCreatedAt: Schema.Number,
  partition: Schema.Number,
  offset: Schema.Number
})
export type RaisedLogStart = typeof RaisedLogStart.Type

/** DeleteRecords moved these partitions' log start offsets up. */
export class LogStartOffsetsRaised extends Schema.TaggedClass<LogStartOffsetsRaised>()("LogStartOffsetsRaised", {
  partitions: Schema.Array(RaisedLogStart),
  at: Schema.Number
}) {}

export const LogStartEvent = LogStartOffsetsRaised
export const LOG_START_EVENT_TYPES: ReadonlyArray<string> = ["LogStartOffsetsRaised"]

export interface LogStart {
  readonly offset: number
  readonly topicCreatedAt: number
}

export type LogStarts = Map<TopicPartition, LogStart>

/** Folds one raise: a floor only moves up within one incarnation of a topic; a newer incarnation replaces it. */
export const evolveLogStarts = (starts: LogStarts, raised: ReadonlyArray<RaisedLogStart>): void => {
  for (const p of raised) {
    const tp = topicPartition(p.topic, p.partition)
    const existing = starts.get(tp)
    if (existing === undefined || existing.topicCreatedAt !== p.topicCreatedAt || p.offset > existing.offset) {
      starts.set(tp, { offset: p.offset, topicCreatedAt: p.topicCreatedAt })
    }
  }
}

/** Every floor, as stored in the snapshot. Version 1. */
export const LogStartsSnapshot = Schema.Struct({ version: Schema.Literal(1), partitions: Schema.Array(RaisedLogStart) })
export type LogStartsSnapshot = typeof LogStartsSnapshot.Type
