/**
 * The layer above the servers that makes this node a working member of its cluster: it opens
 * the node link, joins with the bound ports (MQTT, Kafka, HTTP, link), publishes its route
 * summary, follows the others', plugs the forwarder into the MQTT engine, and keeps the
 * cluster's `$SYS` current as members come and go (clusterSys.ts). Being above the
 * servers, it is released first on shutdown: the engine stops forwarding, the node leaves (its
 * lease is revoked, so its routes vanish and the others stop sending to it), then the link closes,
 * all before any client listener does. A single node skips all of it.
 */
import { Context, Deferred, Effect, Exit, Layer, Option, Runtime, Stream } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import type { BrokerConfigShape, ClusterConfig } from "../../config/BrokerConfigShape.js"
import { HttpListener } from "../http/HttpListener.js"
import { KafkaServer } from "../kafka/KafkaServer.js"
import { MqttEngine } from "../mqtt/engine/MqttEngine.js"
import { MqttServer } from "../mqtt/MqttServer.js"
import { listen } from "../net/listen.js"
import { ReasonCode } from "../../domain/ReasonCode.js"
import type { Connection } from "../mqtt/Connection.js"
import { publishSys } from "../mqtt/engine/sys.js"
import { ClusterNode, type ClusterNodeService, join } from "./ClusterNode.js"
import { forgetNodeSys, publishMembers, sendOwnSys } from "./clusterSys.js"
import { Forwarder } from "./Forwarder.js"
import { KafkaBridge } from "./kafka/KafkaBridge.js"
import { LinkCatchUp } from "./LinkCatchUp.js"
import { type LinkTls, loadLinkTls, reloadLinkTls } from "./linkTls.js"
import { ghostRemnants } from "./workers/GhostRemnants.js"
import { StoreAdoption } from "./workers/StoreAdoption.js"
import { openStore, takesOverStores } from "./workers/storeOwnership.js"
import { workerIndex } from "./workers/workerConfig.js"
import { MovedRoutes } from "./MovedRoutes.js"
import { NodeLink } from "./NodeLink.js"
import { RouteSummary } from "./RouteSummary.js"
import { RouteTable } from "./RouteTable.js"
import { SessionCatchUp } from "./SessionCatchUp.js"
import { SessionOwnership } from "./SessionOwnership.js"

/** How long a stopping node that handed sessions over keeps passing messages on after it left. */
const LINGER_AFTER_LEAVE = "1 second"

/** Without a Kafka listener a worker still takes a dead sibling's store over, for what its sessions owe (GhostRemnants). */
const storesWithoutKafka = (node: ClusterNodeService, config: BrokerConfigShape) =>
  Effect.gen(function*() {
    if (!takesOverStores(config.storage.kind) || node.coordination === null) return null
    const adoption = new StoreAdoption({ node, coordination: node.coordination, kafka: null, dataDir: config.storage.dataDir, open: openStore(config.storage) })
    yield* Effect.forkScoped(adoption.run())
    return adoption
  })

/** SIGHUP reads the link's certificate files again, as it does the [tls] listeners' (a bad set keeps the current one). */
const reloadOnHangup = (config: ClusterConfig, linkTls: LinkTls, link: NodeLink, runtime: Runtime.Runtime<never>) => {
  const onHangup = () =>
    Runtime.runFork(runtime)(Effect.try({ try: () => reloadLinkTls(config, linkTls), catch: (e) => e as Error }).pipe(
      Effect.zipRight(Effect.sync(() => link.tlsReloaded())),
      Effect.zipRight(Effect.log("cluster: link certificate files reloaded; new links use them")),
      Effect.catchAll((e) => Effect.logError(`cluster: link certificate reload failed, keeping the previous ones: ${e.message}`))
    ))
  return Effect.acquireRelease(Effect.sync(() => process.on("SIGHUP", onHangup)), () => Effect.sync(() => process.off("SIGHUP", onHangup)))
}

/** What the cluster status reads: the other nodes' routes and the link's counters (null on a single node). */
export class ClusterRouting extends Context.Tag("broker/ClusterRouting")<ClusterRouting, {
  readonly routes: RouteTable | null
  readonly link: NodeLink | null
  /** Catch-ups asked for and answered (QoS 1/2 after a dropped link or a restart). */
  readonly catchUp: LinkCatchUp | null
}>() {}

export const layer: Layer.Layer<ClusterRouting, Error, BrokerConfig | ClusterNode | MqttServer | MqttEngine | HttpListener> = Layer.scoped(
  ClusterRouting,
  Effect.gen(function*() {
    const node = yield* ClusterNode
    if (!node.enabled || node.coordination === null) return { routes: null, link: null, catchUp: null }
    const config = yield* BrokerConfig
    const engine = yield* MqttEngine
    const mqtt = yield* MqttServer
    const runtime = yield* Effect.runtime<never>()
    const log = (line: string) => Runtime.runFork(runtime)(Effect.logWarning(line))

    const routes = new RouteTable(node.id)
    let sessions: SessionOwnership | null = null // made once the link is (they refer to each other)
    let forwarder: Forwarder | null = null
    let sessionCatchUp: SessionCatchUp | null = null
    const linkTls = yield* Effect.try({ try: () => loadLinkTls(config.cluster), catch: (e) => e as Error })
    // With a Kafka listener, MQTT publishes logged here reach the leaders of their partitions too.
    const kafkaServer = yield* Effect.serviceOption(KafkaServer)
    const kafkaCluster = Option.match(kafkaServer, { onNone: () => null, onSome: (k) => k.context.cluster })
    const bridge = kafkaCluster === null ? null : new KafkaBridge(node, kafkaCluster.leaders)
    const catchUp = yield* LinkCatchUp.make(engine, (f, from, revision) => {
      forwarder?.relay(f, from, revision)
      if (sessionCatchUp?.active === true) sessionCatchUp.noteLive(from, f)
    }, bridge)
    const link = new NodeLink({
      self: node.self,
      lookup: node.member,
      routesRevision: () => routes.revision,
      ends: () => engine.backlog.ends(),
      onForwarded: (from, batch, replay) => catchUp.onForwarded(from, batch, replay),
      onCatchUp: (from, request) => catchUp.onCatchUp(from, request),
      onTakeOver: (from, request) => sessions?.onTakeOver(from, request),
      onSession: (from, reply) => sessions?.onSession(from, reply),
      onPush: (from, push) => sessions?.onPush(from, push),
      onPushAck: (from, ack) => sessions?.onPushAck(from, ack),
      onRemnant: (from, remnant) => sessions?.onRemnant(from, remnant),
      onLinkDown: (to) => sessions?.onLinkDown(to),
      onSessionCatchUp: (from, request) => sessionCatchUp?.onSessionCatchUp(from, request),
      onSessionReplay: (from, batch) => sessionCatchUp?.onSessionReplay(from, batch),
      secret: config.cluster.secret,
      tls: linkTls,
      log
    })
    catchUp.attach(link)
    if (linkTls !== null) yield* reloadOnHangup(config.cluster, linkTls, link, runtime)
    const moved = new MovedRoutes(link, routes)
    sessionCatchUp = new SessionCatchUp(node.id, engine, link, routes, runtime)
    sessions = new SessionOwnership(node, node.coordination, engine, link, moved, runtime, () => catchUp.arrived(node.id), (from, tp, offset) => catchUp.willReplay(from, tp, offset))
    sessions.sessionCatchUp = sessionCatchUp
    const linkPort = yield* Effect.acquireRelease(
      listen(link.server, config.mqtt.host, config.cluster.port, {
        protocol: "cluster link",
        portHint: "--cluster-port",
        addressHint: "--mqtt-host and --cluster-port"
      }),
      () => link.close
    )
    // Runs after the node has left (finalizers run in reverse): the others may still send here
    // what they routed before they saw it leave, and this node passes that on to the sessions it
    // handed over, for a moment, before the link closes.
    yield* Effect.addFinalizer(() => moved.size === 0 ? Effect.void : Effect.sleep(LINGER_AFTER_LEAVE))
    let summary: RouteSummary | null = null
    const membership = yield* join(
      Effect.gen(function*() {
        const kafka = yield* Effect.serviceOption(KafkaServer)
        const http = yield* HttpListener
        return {
          linkPort,
          mqttPort: mqtt.port,
          kafkaPort: Option.match(kafka, { onNone: () => -1, onSome: (k) => k.port }),
          kafkaTlsPort: Option.match(kafka, { onNone: () => -1, onSome: (k) => k.tlsPort }),
          httpPort: http.port
        }
      }),
      {
        // Clients reconnect (here or elsewhere) and claim their sessions again: none is served
        // by a node that may have lost it meanwhile.
        fenced: Effect.sync(() => {
          for (const session of engine.sessions.values()) if (session.conn !== null) (session.conn as Connection).close(ReasonCode.UseAnotherServer)
        }),
        rejoined: (next) => Effect.sync(() => summary?.use(next, engine.subscriptions.routeKeys()))
      }
    )
    if (membership === null) {
      if (engine.joining !== null) Deferred.unsafeDone(engine.joining, Exit.void) // a single node after all
      engine.joining = null
      return { routes: null, link: null, catchUp: null }
    }

    // Sessions restored from this node's storage that resumed elsewhere while it was down go before their routes are published.
    const stale = yield* sessions.dropStale()
    if (stale > 0) yield* Effect.logInfo(`cluster: ${stale} restored session(s) are held by other nodes now: ended here once what they owed is with their holders`)
    // A dead sibling worker's store held here: what its sessions owed goes to where they resumed meanwhile.
    const adoption = Option.isSome(kafkaServer)
      ? kafkaServer.value.context.adoption
      : yield* storesWithoutKafka(node, config)
    if (adoption !== null) {
      yield* adoption.serveWhileHeld(ghostRemnants({ node, coordination: node.coordination, sessions, config, mapping: engine.mapping }))
    }
    yield* Effect.forkScoped(routes.follow(node.coordination))
    summary = new RouteSummary(node.id, membership, runtime)
    const others = () => node.members().flatMap((m) => (m.id === node.id ? [] : [m.id]))
    forwarder = new Forwarder(node.id, routes, summary, link, others, sessions, moved, bridge)
    moved.summary = summary
    sessions.routesVisible = () => installed.visible()
    const installed = summary
    yield* Effect.forkScoped(catchUp.run(others))
    const sysOn = config.mqtt.sysInterval > 0
    // This node is one while it holds a lease, even before the watch has brought its own entry.
    const memberIds = () => {
      const ids = node.members().map((m) => m.id)
      return node.membership() !== null && !ids.includes(node.id) ? [...ids, node.id] : ids
    }
    yield* Effect.forkScoped(Stream.runForEach(node.changes, (e) =>
      Effect.sync(() => {
        if (e._tag === "Left") {
          link.forget(e.id)
          catchUp.nodeLeft(e.id)
          if (sysOn) forgetNodeSys(engine, e.id)
        } else if (sysOn && e.node.id !== node.id) sendOwnSys(engine, link, node.id, e.node.id)
        if (sysOn) publishMembers(engine, memberIds(), Date.now())
      })))
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        engine.subscriptions.routes = installed
        for (const key of engine.subscriptions.routeKeys()) installed.added(key)
        engine.remote = forwarder
        if (engine.joining !== null) Deferred.unsafeDone(engine.joining, Exit.void)
        engine.joining = null
        if (sysOn) {
          // The others get this node's figures now, not one interval after the join.
          publishSys(mqtt.context, Date.now())
          publishMembers(engine, memberIds(), Date.now())
        }
      }),
      () =>
        Effect.gen(function*() {
          // A clean stop: the sessions go to the other members while this node is still one.
          // Not between workers of one machine: they stop together, and each keeps its sessions on its data.
          const started = Date.now()
          const { moved, failed } = workerIndex() === null ? yield* sessions!.handOffAll() : { moved: 0, failed: 0 }
          if (moved + failed > 0) yield* Effect.logInfo(`cluster: handed ${moved} session(s) to other nodes in ${Date.now() - started} ms${failed > 0 ? `; ${failed} could not be handed over` : ""}`)
          // engine.remote stays until the process ends: without it a CONNECT would open a session
          // here unclaimed (it is refused with 0x88 now), and a publish from a client still here
          // would be acknowledged and reach no other node (measured: lost in a rolling restart).
          engine.subscriptions.routes = null
          yield* catchUp.save.pipe(Effect.catchAll((error) => Effect.logWarning("cluster: saving the link progress failed", error)))
          installed.close()
        })
    )
    yield* Effect.logInfo(`cluster: node link on ${config.mqtt.host}:${linkPort}${linkTls === null ? "" : " (mutual TLS)"}; ${node.members().length} member(s)`)
    return { routes, link, catchUp }
  })
)
