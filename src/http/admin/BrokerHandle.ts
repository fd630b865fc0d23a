/**
 * The admin API's way to the broker's services. The HTTP listener opens before storage (so
 * `/health/ready` can answer 503 during the replay), so the admin routes cannot be given the
 * engine when they are built: they reach it through this handle, which the broker fills once
 * everything below it is up and empties when a shutdown begins. Until then a route answers
 * 503 with a message saying why.
 */
import { Context, Deferred, Effect, Layer } from "effect"
import type { BrokerConfig } from "../../../config/BrokerConfig.js"
import type { EventStore } from "../../../services/EventStore.js"
import type { MessageLog } from "../../../services/MessageLog.js"
import type { Auth } from "../../auth/Auth.js"
import type { Bans } from "../../bans/Bans.js"
import type { ClusterRouting } from "../../cluster/announce.js"
import type { ClusterNode } from "../../cluster/ClusterNode.js"
import type { Topics } from "../../meta/Topics.js"
import type { MqttEngine } from "../../mqtt/engine/MqttEngine.js"
import type { MqttServer } from "../../mqtt/MqttServer.js"
import { Readiness } from "../Readiness.js"
import { Unavailable } from "./errors.js"

/** What every admin route may use. Kafka's services (KafkaServer, GroupCoordinator) are optional: read them with Effect.serviceOption. */
export type BrokerServices = BrokerConfig | MqttEngine | MqttServer | EventStore | MessageLog | Topics | Auth | Bans | ClusterNode | ClusterRouting

export class BrokerHandle extends Context.Tag("broker/BrokerHandle")<BrokerHandle, {
  current: Context.Context<BrokerServices> | null
  /** Done when a shutdown begins: long responses (event tails) end on it, so they do not hold the listener open. */
  readonly stopping: Deferred.Deferred<void>
}>() {}

export const layer = Layer.effect(BrokerHandle, Effect.map(Deferred.make<void>(), (stopping) => ({ current: null, stopping })))

/**
 * Fills the handle with the running broker's context (all of it, Kafka's services too when
 * Kafka is on) and empties it when the scope closes, before any listener does.
 */
export const attach: Layer.Layer<never, never, BrokerHandle | BrokerServices> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const handle = yield* BrokerHandle
    const context = yield* Effect.context<BrokerServices>()
    yield* Effect.acquireRelease(Effect.sync(() => void (handle.current = context)), () =>
      Effect.zipRight(Effect.sync(() => void (handle.current = null)), Deferred.succeed(handle.stopping, undefined)))
  })
)

/** Runs `effect` with the broker's services, or fails with 503 while there is no broker to ask. */
export const withBroker = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Unavailable, Exclude<R, BrokerServices> | BrokerHandle | Readiness> =>
  Effect.flatMap(Effect.all([BrokerHandle, Readiness]), ([handle, readiness]): Effect.Effect<A, E | Unavailable, Exclude<R, BrokerServices>> => {
    const context = handle.current
    if (context === null) {
      const message = readiness.phase === "stopping" ? "the broker is shutting down" : "storage is being replayed: try again in a moment (GET /health/ready says when)"
      return Effect.fail(new Unavailable({ message }))
    }
    return Effect.provide(effect, context) as Effect.Effect<A, E, Exclude<R, BrokerServices>>
  })
