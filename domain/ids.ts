/**
 * Branded identifiers that cross module boundaries. Brands are compile-time only: on the hot
 * path a ClientId is still a plain string, so branding costs nothing at run time.
 */
import { Brand } from "effect"

export type ClientId = string & Brand.Brand<"ClientId">
export const ClientId = Brand.nominal<ClientId>()

/** A concrete MQTT topic name (no wildcards), e.g. `device/1/temp`. */
export type TopicName = string & Brand.Brand<"TopicName">
export const TopicName = Brand.nominal<TopicName>()

/** An MQTT topic filter, possibly with `+`/`#` wildcards, without any `$share/` prefix. */
export type TopicFilter = string & Brand.Brand<"TopicFilter">
export const TopicFilter = Brand.nominal<TopicFilter>()

/**
 * One partition of one log stream, written `<stream>-<partition>` like Kafka's directory names,
 * so it can be a Map key without allocation. Streams may contain `-`, so the partition is
 * always the text after the last `-`.
 */
export type TopicPartition = string & Brand.Brand<"TopicPartition">
export const topicPartition = (stream: string, partition: number): TopicPartition =>
  `${stream}-${partition}` as TopicPartition
export const streamOf = (tp: TopicPartition): string => tp.slice(0, tp.lastIndexOf("-"))
export const partitionOf = (tp: TopicPartition): number => Number(tp.slice(tp.lastIndexOf("-") + 1))
