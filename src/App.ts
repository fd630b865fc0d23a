/**
 * The whole broker as one layer: storage (chosen by BrokerConfig.storage), the message log
 * over it, and the protocol servers. Closing the layer's scope shuts everything down in
 * reverse order: listeners first, then the log's final flush, then storage.
 */
import { Effect, Layer } from "effect"
import { BrokerConfig } from "../config/BrokerConfig.js"
import * as LogRetention from "../layers/LogRetention.js"
import * as MessageLogLive from "../layers/MessageLogLive.js"
import * as Storage from "../layers/Storage.js"
import * as Auth from "./auth/Auth.js"
import * as Bans from "./bans/Bans.js"
import * as Announce from "./cluster/announce.js"
import * as ClusterNode from "./cluster/ClusterNode.js"
import * as ControlPlane from "./cluster/controlPlane.js"
import { ownStoreFence } from "./cluster/workers/storeOwnership.js"
import * as AdminAuth from "./http/admin/AdminAuth.js"
import * as BrokerHandle from "./http/admin/BrokerHandle.js"
import * as HttpServer from "./http/HttpServer.js"
import * as Metrics from "./http/Metrics.js"
import * as KafkaMetrics from "./http/kafkaMetrics.js"
import * as MqttMetrics from "./http/mqttMetrics.js"
import * as Readiness from "./http/Readiness.js"
import * as StorageMetrics from "./http/storageMetrics.js"
import * as GroupCoordinator from "./kafka/groups/GroupCoordinator.js"
import * as KafkaAcls from "./kafka/acl/KafkaAcls.js"
import * as KafkaServer from "./kafka/KafkaServer.js"
import * as Topics from "./meta/Topics.js"
import * as TlsContext from "./tls/TlsContext.js"
import * as MqttListeners from "./mqtt/MqttListeners.js"
import * as MqttEngine from "./mqtt/engine/MqttEngine.js"
import * as MqttServer from "./mqtt/MqttServer.js"

/** Test only: storage opens this much later, standing in for a long replay (the readiness test). */
const TEST_STARTUP_DELAY_MS = Number(process.env.ROBUSTMQ_TEST_STARTUP_DELAY_MS ?? 0) || 0

/**
 * Storage (LogDriver, EventStore, TopicPolicies, LogPlacement) plus the message log, the
 * retention fiber for memory and SQLite partitions, and the topic registry, for the configured
 * kind and data dir. The registry is built last: it fills TopicPolicies before anything appends.
 */
export const storage = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* Effect.zipLeft(BrokerConfig, Effect.sleep(TEST_STARTUP_DELAY_MS))
    // A worker's data directory is claimed first: a sibling may be serving it (storeOwnership.ts).
    const fence = yield* ownStoreFence
    const drivers = Storage.layer(config.storage.kind, config.storage.dataDir, config.storage, fence === undefined ? {} : { fence })
    const log = Layer.provideMerge(MessageLogLive.layer, drivers)
    const retention = Layer.provideMerge(LogRetention.layer(), log)
    // In a cluster the control-plane streams go to etcd (src/cluster/controlPlane.ts).
    const control = Layer.provideMerge(ControlPlane.layer, retention)
    return Layer.provideMerge(Topics.layer, control)
  })
)

/**
 * The MQTT server over the engine (rebuilt from storage) and the auth service (users and ACL,
 * synced with the configured files before the listener opens), over storage, still offering what storage provides (Kafka shares it), and
 * above it the TLS and WebSocket listeners that are configured. The [tls] files are checked
 * first, before storage opens, and the one TlsContext is shared with Kafka's TLS listener.
 */
const core = MqttListeners.layer.pipe(
  Layer.provideMerge(MqttServer.layer),
  Layer.provideMerge(MqttEngine.layer),
  Layer.provideMerge(Auth.layer),
  Layer.provideMerge(Bans.layer),
  Layer.provideMerge(storage),
  Layer.provideMerge(TlsContext.layer),
  Layer.provideMerge(ClusterNode.layer)
)

/**
 * The Kafka listener with its group coordinator and Kafka ACLs, when `kafka.enabled` (otherwise nothing: the
 * KafkaServer service is then absent from the context).
 */
const kafka = Layer.unwrapEffect(
  Effect.map(BrokerConfig, (config) =>
    config.kafka.enabled ? KafkaServer.layer.pipe(Layer.provide(GroupCoordinator.layer()), Layer.provide(KafkaAcls.layer)) : Layer.empty
  )
)

/**
 * Both protocol servers over one storage. Tests read MqttServer (and KafkaServer, when enabled)
 * from it; closing it stops Kafka first, then MQTT, then storage.
 */
export const servers = kafka.pipe(Layer.provideMerge(core))

/**
 * The HTTP listener (health, metrics, admin API) with the readiness flag, the metrics registry,
 * the admin credentials and the handle the admin routes reach the broker through. It is built
 * before storage, so `/health/ready` can say 503 while the log replays.
 */
const operations = HttpServer.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(Readiness.layer, Metrics.layer, BrokerHandle.layer, AdminAuth.credentialsLayer))
)

/**
 * The whole broker: the HTTP listener first, then storage and the protocol servers, then the
 * node's cluster membership (joined once the listeners are bound; a shutdown leaves before they
 * close), their metrics and the admin API's handle on them, and last the readiness mark, which a
 * shutdown releases first (ready turns to stopping before any listener closes).
 */
export const broker = Readiness.markReady.pipe(
  Layer.provideMerge(Layer.mergeAll(MqttMetrics.layer, KafkaMetrics.layer, StorageMetrics.layer, BrokerHandle.attach)),
  Layer.provideMerge(Announce.layer),
  Layer.provideMerge(servers),
  Layer.provideMerge(operations)
)

export const layer: Layer.Layer<never, Error, BrokerConfig> = Layer.discard(broker)
