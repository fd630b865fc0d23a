/**
 * The control plane of a cluster (issue 11): the streams every node must agree on (topics and
 * their configs, users with their SCRAM verifiers and the MQTT ACL, Kafka ACLs, bans) move to
 * the coordination service, while sessions, group checkpoints, log start offsets and snapshots
 * stay in the node's own store. Over the node's storage this layer puts the routing EventStore
 * and the StreamFeed the read models (ControlStream) follow. On a single node it changes nothing.
 * Workers of `--workers N` without etcd share them through the primary, which keeps them in its
 * data dir (coordinationJournal.ts).
 */
import { Context, Effect, Layer } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { clusterEnabled } from "../../config/BrokerConfigShape.js"
import { ACL_STREAM } from "../../domain/auth/events.js"
import { BANS_STREAM } from "../../domain/ban/events.js"
import { KAFKA_ACL_STREAM } from "../../domain/kafka/acl/events.js"
import * as ClusterEventStore from "../../layers/coordination/ClusterEventStore.js"
import { EventStore } from "../../services/EventStore.js"
import { StreamFeed } from "../../services/StreamFeed.js"
import { TOPICS_STREAM } from "../meta/Topics.js"
import { ClusterNode } from "./ClusterNode.js"
import { workerIndex } from "./workers/workerConfig.js"

/** The streams shared by every node. The rest (`session-*`, group and log-start streams) are per node. */
export const CLUSTER_STREAMS: ReadonlySet<string> = new Set([TOPICS_STREAM, ACL_STREAM, KAFKA_ACL_STREAM, BANS_STREAM])

/**
 * EventStore over the node's own one: the same store for a single node; for a cluster member the
 * routing one, with the StreamFeed beside it (found with `Effect.serviceOption`: only a cluster has it).
 */
export const layer: Layer.Layer<EventStore, never, EventStore | ClusterNode | BrokerConfig> = Layer.effectContext(
  Effect.gen(function*() {
    const local = yield* EventStore
    const node = yield* ClusterNode
    const { cluster } = yield* BrokerConfig
    const shared = clusterEnabled(cluster) || workerIndex() !== null
    if (!node.enabled || node.coordination === null || !shared) return Context.make(EventStore, local)
    const { feed, store } = ClusterEventStore.make(node.coordination, local, CLUSTER_STREAMS)
    yield* Effect.log(`cluster: ${[...CLUSTER_STREAMS].join(", ")} are shared through ${clusterEnabled(cluster) ? "etcd" : "the primary"}`)
    return Context.make(EventStore, store).pipe(Context.add(StreamFeed, feed)) as Context.Context<EventStore>
  })
)
