/**
 * The MQTT engine as a service: built from storage (restore.ts) before any listener opens, and
 * kept by its own housekeeping fiber (due wills, session expiry, checkpoints, retention,
 * snapshots). The MQTT listeners, the Kafka listener and the admin API all reach the same
 * engine through this Tag, none through another. Closing the layer, after every listener has
 * closed, checkpoints each persistent session and saves a snapshot.
 */
import { Context, Deferred, Duration, Effect, FiberId, Layer, Option } from "effect"
import { BrokerConfig } from "../../../config/BrokerConfig.js"
import type { BrokerConfigShape } from "../../../config/BrokerConfigShape.js"
import type { TopicPartition } from "../../../domain/ids.js"
import type { StreamMapping } from "../../../domain/topic/StreamMapping.js"
import { TopicPolicies } from "../../../layers/TopicPolicies.js"
import type { StorageError } from "../../../services/errors.js"
import { EventStore } from "../../../services/EventStore.js"
import { MessageLog } from "../../../services/MessageLog.js"
import { ClusterNode } from "../../cluster/ClusterNode.js"
import { streamMapping, Topics } from "../../meta/Topics.js"
import { Engine } from "./Engine.js"
import { restoreEngine } from "./restore.js"
import { applyRetention } from "./retention.js"
import { saveSnapshot } from "./snapshots.js"

export class MqttEngine extends Context.Tag("broker/MqttEngine")<MqttEngine, Engine>() {}

/**
 * Test only (the torture harness): snapshots, checkpoints and retention all run this often, so
 * that kills land during them, not just by chance. 0: the periods below.
 */
export const TEST_HOUSEKEEPING_MS = Number(process.env.ROBUSTMQ_TEST_HOUSEKEEPING_MS ?? 0) || 0
const SWEEP_INTERVAL = Duration.millis(250)
const SNAPSHOT_EVERY_MS = TEST_HOUSEKEEPING_MS || 60_000
/**
 * Persistent sessions whose delivery state changed write a checkpoint this often. Not for
 * durability (the progress journal rides the log's group commit): a checkpoint only bounds how
 * much of the log and journal a restart replays, and lets retention free what is behind it.
 */
const CHECKPOINT_EVERY_MS = TEST_HOUSEKEEPING_MS || 10_000
/** Often, so each retention pass deletes a little: one big DELETE would stall the event loop. */
const RETENTION_EVERY_MS = TEST_HOUSEKEEPING_MS || 2_000

/** An engine rebuilt from storage (what the layer does first; tests call it directly). */
export const makeEngine = (
  config: BrokerConfigShape,
  log: MessageLog["Type"],
  store: EventStore["Type"],
  mapping: StreamMapping,
  holds: ((tp: TopicPartition, keepFrom: number) => void) | null = null
): Effect.Effect<Engine, StorageError> =>
  Effect.gen(function*() {
    const engine = new Engine(config, log, store, mapping, holds, yield* Effect.runtime<never>())
    yield* restoreEngine(engine)
    return engine
  })

/** Graceful shutdown: every persistent session's checkpoint, then a snapshot and retention. */
export const shutdownEngine = (engine: Engine): Effect.Effect<void, StorageError> =>
  Effect.zipRight(engine.checkpointAll(), saveSnapshot(engine))

/** One fiber for the engine's timers: no setTimeout per session. */
const housekeeping = (engine: Engine) => {
  let lastSnapshot = Date.now()
  let lastRetention = Date.now()
  let lastCheckpoints = Date.now()
  return Effect.gen(function*() {
    const now = Date.now()
    const checkpoints = now - lastCheckpoints >= CHECKPOINT_EVERY_MS
    if (checkpoints) lastCheckpoints = now
    const work = engine.sweep(now, checkpoints)
    if (work.length > 0) {
      yield* Effect.all(work, { concurrency: "unbounded", discard: true }).pipe(
        Effect.catchAll((e) => Effect.logError("session persistence failed", e))
      )
    }
    if (now - lastRetention > RETENTION_EVERY_MS) {
      lastRetention = now
      yield* applyRetention(engine).pipe(Effect.catchAll((e) => Effect.logError("log retention failed", e)))
    }
    if (now - lastSnapshot > SNAPSHOT_EVERY_MS) {
      lastSnapshot = now
      yield* saveSnapshot(engine).pipe(Effect.catchAll((e) => Effect.logError("session snapshot failed", e)))
    }
  })
}

export const layer: Layer.Layer<MqttEngine, StorageError, BrokerConfig | MessageLog | EventStore | Topics | TopicPolicies> = Layer.scoped(
  MqttEngine,
  Effect.gen(function*() {
    const config = yield* BrokerConfig
    const topics = yield* Topics
    const policies = yield* TopicPolicies
    const engine = yield* makeEngine(config, yield* MessageLog, yield* EventStore, streamMapping(topics, config), policies.hold)
    // A cluster node's listeners open before it joins: CONNECTs wait for the join (announce.ts).
    const node = yield* Effect.serviceOption(ClusterNode)
    if (Option.isSome(node) && node.value.enabled) engine.joining = Deferred.unsafeMake<void>(FiberId.none)
    // Registered before the fiber starts, so it runs after the fiber is interrupted.
    yield* Effect.addFinalizer(() => shutdownEngine(engine).pipe(Effect.catchAll((e) => Effect.logError("checkpoint at shutdown failed", e))))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(SWEEP_INTERVAL), housekeeping(engine))))
    return engine
  })
)

