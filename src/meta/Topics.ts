/**
 * The topic registry: the read model of the `topics` event stream (see domain/meta/topics.ts)
 * and the commands that change it. Kafka admin requests and auto-creation go through it; the
 * MQTT engine asks it for partition counts (through StreamMapping). Changes are serialised by
 * one permit, appended with the stream's expected version, then folded (ControlStream); in a
 * cluster the stream is shared, and what other nodes change is folded too, listeners told.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import type { BrokerConfigShape } from "../../config/BrokerConfigShape.js"
import {
  decideTopic,
  evolveTopics,
  type TopicCommand,
  TopicEvent,
  type TopicRejected,
  type TopicState
} from "../../domain/meta/topics.js"
import { StreamMapping } from "../../domain/topic/StreamMapping.js"
import type { StorageError, VersionConflict } from "../../services/errors.js"
import { overridesFromConfig, TopicPolicies } from "../../layers/TopicPolicies.js"
import type { EventStore } from "../../services/EventStore.js"
import * as ControlStream from "./ControlStream.js"

export const TOPICS_STREAM = "topics"

const encodeEvent = Schema.encodeSync(TopicEvent)
const decodeEvent = Schema.decodeUnknownSync(TopicEvent)

export interface TopicsService {
  readonly get: (name: string) => TopicState | undefined
  /** Every topic, by name. */
  readonly list: () => ReadonlyArray<TopicState>
  /** Whether a command would be accepted now (for validate-only admin requests). */
  readonly check: (command: TopicCommand) => TopicRejected | undefined
  /** Runs a command; fails with the Kafka error code and message when it is refused. */
  readonly execute: (command: TopicCommand) => Effect.Effect<void, TopicRejected | StorageError | VersionConflict>
  /** Called after every change (partition counts, creations, deletions). */
  readonly onChange: (listener: (name: string) => void) => void
}

export class Topics extends Context.Tag("broker/Topics")<Topics, TopicsService>() {}

/**
 * Creates the topics MQTT writes to: the default one (grown to the configured partition count)
 * and every binding's topic (with the default partition count).
 */
const ensureMqttTopics = (service: TopicsService, config: BrokerConfigShape) =>
  Effect.gen(function*() {
    const name = config.kafka.mqttTopic
    const wanted = Math.max(1, config.storage.partitions)
    // In a cluster another node may do the same at the same time: what counts is that it is done.
    const unlessDone = (done: () => boolean) => <A, R>(run: Effect.Effect<A, TopicRejected | StorageError | VersionConflict, R>) =>
      Effect.catchIf(run, (e): boolean => "errorCode" in e && done(), () => Effect.void)
    const existing = service.get(name)
    if (existing === undefined) {
      yield* service.execute({ _tag: "CreateTopic", name, partitions: wanted, replicationFactor: 1, config: {} }).pipe(unlessDone(() => service.get(name) !== undefined))
    }
    if ((service.get(name)?.partitions ?? wanted) < wanted) {
      yield* service.execute({ _tag: "CreatePartitions", name, count: wanted }).pipe(unlessDone(() => (service.get(name)?.partitions ?? 0) >= wanted))
    }
    for (const binding of config.kafka.bindings) {
      if (service.get(binding.topic) !== undefined) continue
      const partitions = config.kafka.defaultPartitions
      yield* service.execute({ _tag: "CreateTopic", name: binding.topic, partitions, replicationFactor: 1, config: {} }).pipe(unlessDone(() => service.get(binding.topic) !== undefined))
    }
  })

/** The MQTT <-> log mapping over the registry's partition counts, kept current on changes. */
export const streamMapping = (topics: TopicsService, config: BrokerConfigShape): StreamMapping => {
  const mapping = new StreamMapping(config.kafka.mqttTopic, config.kafka.bindings, (name) => topics.get(name)?.partitions ?? 1)
  topics.onChange(() => mapping.refresh())
  return mapping
}

export const make = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const topics = new Map<string, TopicState>()
  // Storage learns each topic's retention and storage kind before anything is appended to it.
  const policies = yield* TopicPolicies
  const applyPolicy = (name: string) => {
    const topic = topics.get(name)
    if (topic === undefined) policies.remove(name)
    else policies.set(name, overridesFromConfig(topic.config))
  }
  const listeners: Array<(name: string) => void> = [applyPolicy]
  const stream = yield* ControlStream.make<TopicEvent>({
    stream: TOPICS_STREAM,
    encode: encodeEvent,
    decode: decodeEvent,
    apply: (e, origin) => {
      evolveTopics(topics, e)
      if (origin === "replay") applyPolicy(e.name)
      else for (const listener of listeners) listener(e.name)
    }
  })

  const execute = (command: TopicCommand) =>
    stream.change(Effect.suspend(() => {
      const decided = decideTopic(topics, command, Date.now())
      if (!Array.isArray(decided)) return Effect.fail(decided as TopicRejected)
      return Effect.succeed({ events: decided as ReadonlyArray<TopicEvent>, result: undefined })
    }))

  const service: TopicsService = {
    get: (name) => topics.get(name),
    check: (command) => {
      const decided = decideTopic(topics, command, Date.now())
      return Array.isArray(decided) ? undefined : (decided as TopicRejected)
    },
    list: () => [...topics.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    execute,
    onChange: (listener) => void listeners.push(listener)
  }
  yield* ensureMqttTopics(service, config).pipe(
    Effect.catchIf((e): e is TopicRejected => "errorCode" in e, (e) => Effect.die(new Error(`cannot create the MQTT topic: ${e.message}`)))
  )
  return service
})

export const layer: Layer.Layer<Topics, StorageError | VersionConflict, EventStore | BrokerConfig | TopicPolicies> =
  Layer.scoped(Topics, make)
