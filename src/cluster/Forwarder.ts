/**
 * The engine's cluster routing (RemoteRouting): a message published on this node goes once to
 * each other node whose route summary matches it (the receiver matches it against its own
 * sessions), and a retained one to every node, so each keeps the whole retained set. A share
 * group with members on several nodes gets each message once in total: this node picks one
 * node per message, round-robin over the nodes that hold the group (itself included), and the
 * pick travels with the message, and is logged with it for a catch-up (`mqtt.share-forward`).
 * A message logged into a partition another node leads for Kafka also goes to that leader
 * (KafkaBridge), in the same single send per node, so a Kafka reader there sees it.
 */
import type { Effect } from "effect"
import type { SessionEvent } from "../../domain/session/events.js"
import type { RemoteRouting } from "../mqtt/engine/Engine.js"
import type { LiveSession } from "../mqtt/engine/LiveSession.js"
import { type Message, SHARE_FORWARD_SEPARATOR } from "../mqtt/engine/Message.js"
import type { KafkaBridge } from "./kafka/KafkaBridge.js"
import type { Forwarded } from "./linkFrames.js"
import type { MovedRoutes } from "./MovedRoutes.js"
import type { NodeLink } from "./NodeLink.js"
import type { RouteSummary } from "./RouteSummary.js"
import type { RouteTable } from "./RouteTable.js"
import type { SessionOwnership } from "./SessionOwnership.js"

const HERE = ""
const shareForward = (node: string, groups: ReadonlyArray<string>): string =>
  groups.length === 1 ? node + SHARE_FORWARD_SEPARATOR + groups[0] : [node, ...groups].join(SHARE_FORWARD_SEPARATOR)
const NO_GROUPS: ReadonlyArray<string> = []

export class Forwarder implements RemoteRouting {
  /** Share group -> the node picked for the message being published (HERE: this node). */
  private readonly picked = new Map<string, string>()
  private readonly turns = new Map<string, number>()
  /** Node -> share groups picked there, for the message being forwarded. */
  private readonly targets = new Map<string, ReadonlyArray<string>>()

  constructor(
    readonly nodeId: string,
    private readonly routes: RouteTable,
    private readonly summary: RouteSummary,
    private readonly link: NodeLink,
    /** The other members now. */
    private readonly peers: () => ReadonlyArray<string>,
    private readonly sessions: SessionOwnership,
    private readonly moved: MovedRoutes,
    /** Null without a Kafka listener: nothing reads the log as Kafka, nothing goes to leaders. */
    private readonly bridge: KafkaBridge | null
  ) {}

  /**
   * Hot path: the other node leading the Kafka partition `msg` was logged into, or null. Before
   * the leader view is listed nobody is known: every link is told to start a new run, so each
   * peer asks for this range again, and the leader's catch-up covers the whole partition.
   */
  private bridgeTo(msg: Message): string | null {
    const bridge = this.bridge
    if (bridge === null || !msg.appended || msg.tp === null) return null
    if (!bridge.ready) {
      this.link.rewind()
      return null
    }
    return bridge.unsafeLeaderOf(msg.tp)
  }

  private turn(groupKey: string, of: number): number {
    const n = this.turns.get(groupKey) ?? 0
    this.turns.set(groupKey, n + 1)
    return n % of
  }

  sharedHere(groupKey: string): boolean {
    const remote = this.routes.groupNodes.get(groupKey)
    if (remote === undefined) return true
    const i = this.turn(groupKey, remote.length + 1)
    this.picked.set(groupKey, i === 0 ? HERE : remote[i - 1]!)
    return i === 0
  }

  forward(msg: Message): number {
    const sent = this.forwardByRoutes(msg)
    if (this.moved.size > 0) this.moved.follow({ msg, sender: this.nodeId, revision: this.routes.revision, tp: msg.tp, offset: msg.offset })
    return sent
  }

  /**
   * A message another node (`from`) forwarded here: on to the new holder of a session that left
   * this node, unless it got the message itself (MovedRoutes). `revision`: the sender's route
   * table revision, said with the batch (-1 for a replay).
   */
  relay(f: Forwarded, from: string, revision: number): void {
    if (this.moved.size === 0) return
    this.moved.follow({ msg: f.message, sender: from, revision, tp: f.tp, offset: f.offset })
  }

  private forwardByRoutes(msg: Message): number {
    const leader = this.bridgeTo(msg)
    const matched = this.routes.match(msg.topic)
    const n = matched.length
    // Counted as sent only for subscribers (as on a single node, a message nobody subscribes to counts as a drop, logged or not).
    if (n === 0 && !msg.retain) {
      if (leader !== null) this.link.send(leader, msg, NO_GROUPS)
      return 0
    }
    // The common case, one other node with plain subscribers: no allocation.
    if (n === 1 && matched[0]!.groupKey === null && !msg.retain) {
      const node = matched[0]!.node
      this.link.send(node, msg, NO_GROUPS)
      if (leader !== null && leader !== node) this.link.send(leader, msg, NO_GROUPS)
      return 1
    }
    const targets = this.targets
    for (let i = 0; i < n; i++) {
      const route = matched[i]!
      const groupKey = route.groupKey
      if (groupKey === null) {
        if (!targets.has(route.node)) targets.set(route.node, NO_GROUPS)
        continue
      }
      let node = this.picked.get(groupKey)
      if (node === undefined) {
        // No member here: one of the nodes that have members.
        const nodes = this.routes.groupNodes.get(groupKey)!
        node = nodes[this.turn(groupKey, nodes.length)]!
        this.picked.set(groupKey, node)
      }
      if (node !== route.node) continue
      const groups = targets.get(node)
      targets.set(node, groups === undefined || groups === NO_GROUPS ? [groupKey] : [...groups, groupKey])
    }
    if (msg.retain) for (const node of this.peers()) if (!targets.has(node)) targets.set(node, NO_GROUPS)
    const sent = targets.size
    // Only for the bridge: no share group of the leader's gets it (the receiver honours the groups sent).
    if (leader !== null && !targets.has(leader)) targets.set(leader, NO_GROUPS)
    for (const [node, groups] of targets) {
      this.link.send(node, msg, groups)
      // The pick goes into the log with the message (its headers are encoded when its batch is
      // sealed, after this), so a catch-up after a lost link can send it to that node again.
      if (groups !== NO_GROUPS && msg.appended) (msg.shareForwards ??= []).push(shareForward(node, groups))
    }
    targets.clear()
    if (this.picked.size > 0) this.picked.clear()
    return sent
  }

  hasRemoteRoutes(): boolean {
    return this.routes.size > 0
  }

  routesVisible(): Effect.Effect<void> | null {
    return this.summary.visible()
  }

  claimSession(clientId: string, cleanStart: boolean): Effect.Effect<boolean> {
    return this.sessions.claim(clientId, cleanStart)
  }

  sessionChanged(session: LiveSession, events: ReadonlyArray<SessionEvent>): void {
    this.sessions.directory.changed(session, events)
  }

  keepFrom(tp: string): number | undefined {
    return this.link.keepFrom(tp)
  }
}
