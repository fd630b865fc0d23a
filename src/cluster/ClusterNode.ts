/**
 * This node's place in the cluster (issue 11): its id and addresses, the live member list
 * (folded from a watch on the coordination service), and its membership lease. Without
 * [cluster] (no etcd endpoints, no Coordination given) it is a single node: `enabled` is false,
 * the member list is this node alone, and nothing here runs.
 *
 * Two layers, because the node's ports are known only once its listeners are bound, and the
 * listeners' code (Kafka Metadata, the MQTT engine) wants the member list: `layer` sits under the
 * servers (coordination client, member view), `announce` above them (fills in the bound ports
 * and joins; leaving is the first thing a shutdown does, so the others stop sending to us before
 * our listeners close).
 */
import { Context, Deferred, Effect, FiberId, Layer, Option, PubSub, Schedule, type Scope, Stream } from "effect"
import { hostname } from "node:os"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { clusterEnabled } from "../../config/BrokerConfigShape.js"
import * as EtcdCoordination from "../../layers/coordination/etcd.js"
import { Coordination, type CoordinationService, type MemberInfo, type Membership } from "../../services/Coordination.js"
import { VERSION } from "../version.js"

/** A member as the others see it. Ports are -1 for listeners that are off. */
export interface NodeInfo {
  readonly id: string
  /** Where clients and other nodes reach it. */
  readonly host: string
  /** The node-to-node link. */
  readonly linkPort: number
  readonly mqttPort: number
  readonly kafkaPort: number
  /** The Kafka TLS listener (kafka.tls_port): what a client that reached any node over TLS is sent to. */
  readonly kafkaTlsPort: number
  readonly httpPort: number
  readonly pid: number
  /** Epoch ms the process started: tells a restarted node from the one before it. */
  readonly startedAt: number
  readonly version: string
}

export type MemberEvent =
  | { readonly _tag: "Joined"; readonly node: NodeInfo }
  | { readonly _tag: "Left"; readonly id: string }

export interface ClusterNodeService {
  /** False for a single node (no [cluster]): members() is this node alone and nothing is coordinated. */
  readonly enabled: boolean
  readonly id: string
  readonly self: () => NodeInfo
  /** The members now, by id: this node once it has joined, and every other node whose lease is live. */
  readonly members: () => ReadonlyArray<NodeInfo>
  readonly member: (id: string) => NodeInfo | undefined
  /** Each change of the member list, after members() shows it. */
  readonly changes: Stream.Stream<MemberEvent>
  /** The coordination service (null for a single node). */
  readonly coordination: CoordinationService | null
  /** This node's lease, once joined (null before, and for a single node). */
  readonly membership: () => Membership | null
  /** Completes when this node's lease is next lost: it must stop serving what it owned (it then joins again). */
  readonly fenced: Effect.Effect<void>
}

export class ClusterNode extends Context.Tag("broker/ClusterNode")<ClusterNode, ClusterNodeService>() {}

export const toMemberInfo = (node: NodeInfo): MemberInfo => ({
  id: node.id,
  address: `${node.host}:${node.linkPort}`,
  attributes: {
    host: node.host,
    link: node.linkPort,
    mqtt: node.mqttPort,
    kafka: node.kafkaPort,
    kafkaTls: node.kafkaTlsPort,
    http: node.httpPort,
    pid: node.pid,
    startedAt: node.startedAt,
    version: node.version
  }
})

const num = (v: string | number | undefined): number => (typeof v === "number" ? v : v === undefined ? -1 : Number(v))

export const fromMemberInfo = (m: MemberInfo): NodeInfo => {
  const a = m.attributes ?? {}
  const [host, link] = m.address.split(/:(?=\d+$)/)
  return {
    id: m.id,
    host: String(a.host ?? host ?? ""),
    linkPort: a.link !== undefined ? num(a.link) : Number(link ?? -1),
    mqttPort: num(a.mqtt),
    kafkaPort: num(a.kafka),
    kafkaTlsPort: num(a.kafkaTls),
    httpPort: num(a.http),
    pid: num(a.pid),
    startedAt: num(a.startedAt),
    version: String(a.version ?? "")
  }
}

/** A node of a cluster: the member view, and what `join` fills in (bound ports, the lease). */
class ClusterMember implements ClusterNodeService {
  readonly enabled = true
  readonly id: string
  current: Membership | null = null
  readonly view = new Map<string, NodeInfo>()
  constructor(
    public info: NodeInfo,
    readonly coordination: CoordinationService,
    readonly events: PubSub.PubSub<MemberEvent>,
    public fencedSignal: Deferred.Deferred<void>
  ) {
    this.id = info.id
  }
  self = () => this.info
  members = () => [...this.view.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  member = (id: string) => this.view.get(id)
  get changes() {
    return Stream.fromPubSub(this.events)
  }
  membership = () => this.current
  get fenced() {
    return Deferred.await(this.fencedSignal)
  }
}

const single = (self: NodeInfo): ClusterNodeService => ({
  enabled: false,
  id: self.id,
  self: () => self,
  members: () => [self],
  member: (id) => (id === self.id ? self : undefined),
  changes: Stream.empty,
  coordination: null,
  membership: () => null,
  fenced: Effect.never
})

/** The coordination service: the one in the context (tests share a memory one), else etcd's. */
const coordinationFor = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const given = yield* Effect.serviceOption(Coordination)
  if (Option.isSome(given)) return given.value
  if (!clusterEnabled(config.cluster)) return null
  return yield* EtcdCoordination.make({
    endpoints: config.cluster.etcdEndpoints,
    cluster: config.cluster.name,
    compactEveryMs: config.cluster.etcdCompactInterval * 1000
  })
})

export const layer: Layer.Layer<ClusterNode, never, BrokerConfig> = Layer.scoped(
  ClusterNode,
  Effect.gen(function*() {
    const config = yield* BrokerConfig
    const self: NodeInfo = {
      id: config.cluster.nodeId === "" ? hostname() : config.cluster.nodeId,
      host: config.cluster.advertiseHost === "" ? hostname() : config.cluster.advertiseHost,
      linkPort: -1,
      mqttPort: -1,
      kafkaPort: -1,
      kafkaTlsPort: -1,
      httpPort: -1,
      pid: process.pid,
      startedAt: Date.now(),
      version: VERSION
    }
    const coordination = yield* coordinationFor
    if (coordination === null) return single(self)

    const node = new ClusterMember(self, coordination, yield* PubSub.unbounded<MemberEvent>(), yield* Deferred.make<void>())
    const apply = (event: MemberEvent) => {
      if (event._tag === "Joined") node.view.set(event.node.id, event.node)
      else node.view.delete(event.id)
      return PubSub.publish(node.events, event)
    }
    // The member view: a listing, then every change after it; a broken watch lists again.
    const follow = Effect.gen(function*() {
      const { members, revision } = yield* coordination.members
      const current = new Set(members.map((m) => m.id))
      for (const id of [...node.view.keys()]) if (!current.has(id)) yield* apply({ _tag: "Left", id })
      for (const m of members) yield* apply({ _tag: "Joined", node: fromMemberInfo(m) })
      yield* Stream.runForEach(coordination.watchMembers(revision), (change) =>
        apply(change._tag === "Joined" ? { _tag: "Joined", node: fromMemberInfo(change.member) } : { _tag: "Left", id: change.id }))
    })
    yield* follow.pipe(
      Effect.tapError((e) => Effect.logWarning(`cluster: member watch broke (${e.message}); listing again`)),
      Effect.retry(Schedule.spaced("500 millis")),
      Effect.forkScoped
    )
    return ClusterNode.of(node)
  })
)

/** What the node does when its lease is lost, and once it is a member again. */
export interface MembershipHooks {
  /** Stop serving what it may no longer own (its clients go elsewhere or come back and claim again). */
  readonly fenced: Effect.Effect<void>
  /** A new lease: put back what lived on the old one (route summaries). */
  readonly rejoined: (membership: Membership) => Effect.Effect<void>
}

/**
 * Joins with this node's bound ports (`ports` reads them from the servers above which this is
 * built) and leaves when the scope closes. A lost lease (etcd unreachable past lease_ttl, or the
 * process paused that long) completes `fenced`, runs `hooks.fenced`, and the node joins again
 * with a new lease. Returns the first membership (null for a single node).
 */
export const join = <R>(ports: Effect.Effect<Pick<NodeInfo, "linkPort" | "mqttPort" | "kafkaPort" | "kafkaTlsPort" | "httpPort">, never, R>, hooks: MembershipHooks) =>
  Effect.gen(function*() {
    const node = yield* ClusterNode
    if (!(node instanceof ClusterMember)) return null
    const config = yield* BrokerConfig
    node.info = { ...node.info, ...(yield* ports) }
    const attempt = node.coordination.join(toMemberInfo(node.info), config.cluster.leaseTtl)
    const membership = yield* attempt.pipe(
      Effect.retry({ schedule: Schedule.spaced("1 second"), times: 10 }),
      Effect.orDieWith((e) => new Error(`${e.message} (tried for 10 s: check --cluster-etcd and that etcd is up)`))
    )
    node.current = membership
    yield* Effect.addFinalizer(() => Effect.sync(() => void (node.current = null)))
    const keep = (current: Membership): Effect.Effect<never, never, Scope.Scope> =>
      Effect.gen(function*() {
        yield* current.lost
        node.current = null
        yield* Effect.logError(`cluster: node ${node.id} lost its lease (etcd unreachable, or this process paused, for longer than lease_ttl ${config.cluster.leaseTtl} s): it stops serving what it owned and joins again`)
        const signal = node.fencedSignal
        node.fencedSignal = Deferred.unsafeMake<void>(FiberId.none)
        yield* Deferred.succeed(signal, undefined)
        yield* hooks.fenced
        const next = yield* attempt.pipe(
          Effect.tapError((e) => Effect.logWarning(`cluster: joining again failed (${e.message}); retrying`)),
          Effect.retry(Schedule.spaced("1 second")),
          Effect.orDie
        )
        node.current = next
        yield* hooks.rejoined(next)
        yield* Effect.logInfo(`cluster: node ${node.id} is a member again`)
        return yield* keep(next)
      })
    yield* Effect.forkScoped(keep(membership))
    yield* Effect.logInfo(`cluster: node ${node.id} joined ${config.cluster.name} at ${node.info.host} (link ${node.info.linkPort})`)
    return membership
  })
