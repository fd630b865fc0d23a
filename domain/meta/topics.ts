/**
 * Log topics as a control-plane aggregate: the topics Kafka clients see (and the `mqtt` topic
 * MQTT publishes land in), their partition counts and per-topic configs. Commands from the
 * Kafka admin API and auto-creation go through `decideTopic`; the resulting events are stored
 * in the event store's `topics` stream and folded by `evolveTopics`. Pure: no I/O, time is an
 * argument.
 */
import { Schema } from "effect"
import { ErrorCode } from "../kafka/ErrorCode.js"

export class TopicCreated extends Schema.TaggedClass<TopicCreated>()("TopicCreated", {
  name: Schema.String,
  partitions: Schema.Number,
  config: Schema.Record({ key: Schema.String, value: Schema.String }),
  at: Schema.Number
}) {}

export class PartitionsAdded extends Schema.TaggedClass<PartitionsAdded>()("PartitionsAdded", {
  name: Schema.String,
  /** The new total. */
  partitions: Schema.Number
}) {}

export class TopicDeleted extends Schema.TaggedClass<TopicDeleted>()("TopicDeleted", {
  name: Schema.String,
  at: Schema.Number
}) {}

/**
 * The topic's whole set of dynamic configs from now on (AlterConfigs and IncrementalAlterConfigs
 * both end here): a key not in `config` is back to its default.
 */
export class TopicConfigChanged extends Schema.TaggedClass<TopicConfigChanged>()("TopicConfigChanged", {
  name: Schema.String,
  config: Schema.Record({ key: Schema.String, value: Schema.String })
}) {}

export const TopicEvent = Schema.Union(TopicCreated, PartitionsAdded, TopicDeleted, TopicConfigChanged)
export type TopicEvent = typeof TopicEvent.Type

export interface TopicState {
  readonly name: string
  readonly partitions: number
  /** Kafka topic configs set at creation or altered since (e.g. `retention.ms`); defaults are not stored. */
  readonly config: Readonly<Record<string, string>>
  readonly createdAt: number
}

export type Topics = ReadonlyMap<string, TopicState>

export type TopicCommand =
  | { readonly _tag: "CreateTopic"; readonly name: string; readonly partitions: number; readonly replicationFactor: number; readonly config: Readonly<Record<string, string>> }
  | { readonly _tag: "CreatePartitions"; readonly name: string; readonly count: number }
  | { readonly _tag: "DeleteTopic"; readonly name: string }
  /** Replaces the topic's dynamic configs as a whole (keys left out go back to their defaults). */
  | { readonly _tag: "AlterTopicConfig"; readonly name: string; readonly config: Readonly<Record<string, string>> }
  /**
   * Sets the keys in `set` and returns the keys in `reset` to their defaults; other keys keep
   * their value. Merged with the current configs inside the decider, so two concurrent
   * incremental changes cannot lose each other's keys.
   */
  | {
    readonly _tag: "IncrementalAlterTopicConfig"
    readonly name: string
    readonly set: Readonly<Record<string, string>>
    readonly reset: ReadonlyArray<string>
  }

export interface TopicRejected {
  readonly errorCode: number
  readonly message: string
}

/**
 * Most partitions a topic may have. Kafka has no hard cap, but every partition is state in
 * memory and an entry in every Metadata answer; one request must not be able to ask for 2^31.
 */
export const MAX_PARTITIONS = 10_000

/** Kafka's own limit: a topic name is a file-system directory name, so at most 249 chars. */
export const MAX_TOPIC_NAME = 249
const LEGAL = /^[a-zA-Z0-9._-]+$/

/** Why `name` cannot be a Kafka topic, or undefined when it can. */
export const invalidTopicName = (name: string): string | undefined => {
  if (name.length === 0) return "the topic name is empty"
  if (name === "." || name === "..") return `"${name}" is not a legal topic name`
  if (name.length > MAX_TOPIC_NAME) return `topic names are at most ${MAX_TOPIC_NAME} characters`
  if (!LEGAL.test(name)) return `topic "${name}" has characters other than ASCII letters, digits, '.', '_' and '-'`
  return undefined
}

/** Names starting with `__` belong to the broker (e.g. `__retained`): not creatable, not listed. */
export const isInternalTopic = (name: string): boolean => name.startsWith("__")

export type StorageKindName = "memory" | "sqlite" | "segment"

/**
 * Topic configs the broker accepts, with a validator each. Kafka rejects unknown names with
 * INVALID_CONFIG; accepting them silently would hide typos.
 */
const integer = (min: number) => (v: string) => /^-?\d+$/.test(v) && Number(v) >= min ? undefined : `must be an integer >= ${min}`
const oneOf = (...values: Array<string>) => (v: string) => (values.includes(v) ? undefined : `must be one of ${values.join(", ")}`)
export const TOPIC_CONFIGS: Readonly<Record<string, (value: string) => string | undefined>> = {
  "retention.ms": integer(-1),
  "retention.bytes": integer(-1),
  "segment.bytes": integer(14),
  "segment.ms": integer(1),
  "max.message.bytes": integer(0),
  "cleanup.policy": oneOf("delete"),
  "compression.type": oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
  "message.timestamp.type": oneOf("CreateTime", "LogAppendTime"),
  "min.insync.replicas": integer(1),
  // the storage layer this topic's partitions live on (not a Kafka config)
  "robustmq.storage": oneOf("memory", "sqlite", "segment")
}

/** Why a set of topic configs is refused (INVALID_CONFIG), or undefined when every entry is valid. */
export const invalidTopicConfig = (config: Readonly<Record<string, string>>): TopicRejected | undefined => {
  for (const [key, value] of Object.entries(config)) {
    const check = TOPIC_CONFIGS[key]
    if (check === undefined) return { errorCode: ErrorCode.INVALID_CONFIG, message: `unknown topic config "${key}"` }
    const problem = check(value)
    if (problem !== undefined) return { errorCode: ErrorCode.INVALID_CONFIG, message: `${key} ${problem}, got "${value}"` }
  }
  return undefined
}

/** The events a command produces, or why it is refused (a Kafka error code and a message). */
export const decideTopic = (topics: Topics, command: TopicCommand, now: number): ReadonlyArray<TopicEvent> | TopicRejected => {
  const existing = topics.get(command.name)
  switch (command._tag) {
    case "CreateTopic": {
      const invalid = invalidTopicName(command.name)
      if (invalid !== undefined) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, message: invalid }
      if (isInternalTopic(command.name)) {
        return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, message: `topic names starting with "__" are reserved for the broker` }
      }
      if (existing !== undefined) return { errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, message: `topic "${command.name}" already exists` }
      if (!Number.isInteger(command.partitions) || command.partitions < 1 || command.partitions > MAX_PARTITIONS) {
        return {
          errorCode: ErrorCode.INVALID_PARTITIONS,
          message: `number of partitions must be 1-${MAX_PARTITIONS}, got ${command.partitions}`
        }
      }
      if (command.replicationFactor !== 1) {
        return {
          errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
          message: `replication factor ${command.replicationFactor} is larger than the number of brokers (1)`
        }
      }
      const invalidConfig = invalidTopicConfig(command.config)
      if (invalidConfig !== undefined) return invalidConfig
      return [new TopicCreated({ name: command.name, partitions: command.partitions, config: { ...command.config }, at: now })]
    }
    case "CreatePartitions": {
      if (existing === undefined) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: `topic "${command.name}" does not exist` }
      if (!Number.isInteger(command.count) || command.count <= existing.partitions || command.count > MAX_PARTITIONS) {
        return {
          errorCode: ErrorCode.INVALID_PARTITIONS,
          message: `topic "${command.name}" has ${existing.partitions} partitions; the new count must be larger (at most ${MAX_PARTITIONS}), got ${command.count}`
        }
      }
      return [new PartitionsAdded({ name: command.name, partitions: command.count })]
    }
    case "DeleteTopic": {
      if (existing === undefined) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: `topic "${command.name}" does not exist` }
      return [new TopicDeleted({ name: command.name, at: now })]
    }
    case "AlterTopicConfig": {
      if (existing === undefined) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: `topic "${command.name}" does not exist` }
      const invalidConfig = invalidTopicConfig(command.config)
      if (invalidConfig !== undefined) return invalidConfig
      // `robustmq.storage` may change: a partition picks its storage kind when it receives its
      // first batch (RoutingLogDriver), so only partitions with no data yet move to the new
      // kind; partitions already written stay where their data is.
      return [new TopicConfigChanged({ name: command.name, config: { ...command.config } })]
    }
    case "IncrementalAlterTopicConfig": {
      if (existing === undefined) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: `topic "${command.name}" does not exist` }
      const unknown = command.reset.find((key) => TOPIC_CONFIGS[key] === undefined)
      if (unknown !== undefined) return { errorCode: ErrorCode.INVALID_CONFIG, message: `unknown topic config "${unknown}"` }
      const invalidConfig = invalidTopicConfig(command.set)
      if (invalidConfig !== undefined) return invalidConfig
      const config: Record<string, string> = { ...existing.config, ...command.set }
      for (const key of command.reset) delete config[key]
      return [new TopicConfigChanged({ name: command.name, config })]
    }
  }
}

export const evolveTopics = (topics: Map<string, TopicState>, event: TopicEvent): void => {
  switch (event._tag) {
    case "TopicCreated":
      topics.set(event.name, { name: event.name, partitions: event.partitions, config: event.config, createdAt: event.at })
      return
    case "PartitionsAdded": {
      const t = topics.get(event.name)
      if (t !== undefined) topics.set(event.name, { ...t, partitions: event.partitions })
      return
    }
    case "TopicDeleted":
      topics.delete(event.name)
      return
    case "TopicConfigChanged": {
      const t = topics.get(event.name)
      if (t !== undefined) topics.set(event.name, { ...t, config: event.config })
      return
    }
  }
}
