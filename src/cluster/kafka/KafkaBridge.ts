/**
 * MQTT to Kafka across nodes: each node logs the MQTT publishes it accepts into its own log, but
 * Kafka reads a partition only from its leader (PartitionLeaders). So a message logged into a
 * partition another live member leads goes to that leader over the node link too (Forwarder),
 * and a catch-up asked by a leader replays the whole partition it leads (LinkCatchUp). This
 * answers "who leads this log partition" from a cache (tp -> leader id), cleared whenever the
 * leader view changes: the hot path does a Map lookup and allocates nothing. Never waits for etcd.
 */
import { Effect } from "effect"
import { partitionOf, streamOf, type TopicPartition } from "../../../domain/ids.js"
import { isInternalTopic } from "../../../domain/meta/topics.js"
import type { ClusterNodeService } from "../ClusterNode.js"
import type { PartitionLeaders } from "./PartitionLeaders.js"
import { dataHome } from "./placement.js"

/** Cached "nobody else to send to": this node leads it, nobody does yet, it is internal, or served from a dead node's data. */
const NONE = ""
/** How long a catch-up answer waits for the leader view's first listing (a node just started). */
const READY_WAIT_MS = 10_000

export class KafkaBridge {
  /** Log partition -> the member leading it (NONE: nobody to send to). */
  private readonly leaderByTp = new Map<string, string>()

  constructor(
    private readonly node: ClusterNodeService,
    private readonly leaders: PartitionLeaders
  ) {
    leaders.view.onChange(() => this.leaderByTp.clear())
  }

  /** Whether the leader view has been listed: until then nobody is known to lead anything. */
  get ready(): boolean {
    return this.leaders.view.ready
  }

  /**
   * Hot path: the other live member leading log partition `tp`, or null (this node leads it,
   * nobody does, it is internal, or its leader is down: it asks for the gap when it is back).
   */
  unsafeLeaderOf(tp: TopicPartition): string | null {
    let leader = this.leaderByTp.get(tp)
    if (leader === undefined) {
      leader = this.lookUp(tp)
      this.leaderByTp.set(tp, leader)
    }
    return leader === NONE || this.node.member(leader) === undefined ? null : leader
  }

  /**
   * Whether `node` holds the data of log partition `tp` that Kafka reads: it leads it, or a
   * sibling serves it from `node`'s store while `node` was down (`--workers`), to hand it back.
   * A catch-up it asks for then covers the whole range.
   */
  leads(node: string, tp: TopicPartition): boolean {
    const stream = streamOf(tp)
    if (isInternalTopic(stream)) return false
    const owner = this.leaders.leaderOf(stream, partitionOf(tp))?.owner
    return owner !== undefined && dataHome(owner) === node
  }

  /** Waits (bounded) for the leader view's first listing: a node answering a catch-up just after its start needs it. */
  get awaitReady(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const deadline = Date.now() + READY_WAIT_MS
      while (!this.ready && Date.now() < deadline) yield* Effect.sleep("50 millis")
    })
  }

  private lookUp(tp: TopicPartition): string {
    const stream = streamOf(tp)
    if (isInternalTopic(stream)) return NONE
    const owner = this.leaders.leaderOf(stream, partitionOf(tp))?.owner
    // `<node>@<home>`: served from a dead node's store; a message sent to the server would go to
    // its own log, not that store. The home, back, asks for the gap (`leads`).
    if (owner === undefined || owner === this.node.id || dataHome(owner) !== owner) return NONE
    return owner
  }
}
