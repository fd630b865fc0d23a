/**
 * Who leads each Kafka partition in a cluster: `leaders/<topic>/<partition>` owned in etcd, the
 * ownership epoch being the leader epoch. A partition nobody leads yet is claimed for its
 * preferred live member (placement.ts: spread evenly), by whichever node sees it first: the
 * claim compares the epoch, so exactly one leader wins. Leadership then stays put: storage is
 * per node (a SQLite file, segment files), so a dead leader's partitions are unavailable
 * (LEADER_NOT_AVAILABLE) until it comes back with its data, as Kafka with replication factor 1,
 * and are never moved to a node that lacks the data. A deleted topic's keys are released.
 * Under `--workers` a sibling worker that can open the dead one's store serves them from it
 * meanwhile, as `<node>@<home>` (StoreAdoption.ts), and hands them back.
 * The request path reads the view synchronously and never waits for etcd.
 */
import { Effect } from "effect"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import { isInternalTopic } from "../../../domain/meta/topics.js"
import type { CoordinationService, Ownership } from "../../../services/Coordination.js"
import type { TopicsService } from "../../meta/Topics.js"
import type { ClusterNodeService } from "../ClusterNode.js"
import { OwnershipView } from "./OwnershipView.js"
import { dataHome, kafkaMembers, preferredLeader, servingNode } from "./placement.js"

const PREFIX = "leaders/"
const leaderKey = (topic: string, partition: number) => `${PREFIX}${topic}/${partition}`

export class PartitionLeaders {
  readonly view = new OwnershipView(PREFIX)

  constructor(
    private readonly node: ClusterNodeService,
    private readonly coordination: CoordinationService,
    private readonly topics: TopicsService,
    /** Whether this node has `home`'s data directory open (StoreAdoption): then it serves what it leads as `<id>@<home>`. */
    private readonly servesStore: (home: string) => boolean = () => false
  ) {}

  /** The partition's leader, if claimed (alive or not). */
  leaderOf(topic: string, partition: number): Ownership | undefined {
    return this.view.get(`${topic}/${partition}`)
  }

  /**
   * Hot path. NONE when this node leads the partition; NOT_LEADER_OR_FOLLOWER when a live node
   * does (the client refreshes its metadata and goes there); LEADER_NOT_AVAILABLE when nobody
   * does yet, or its leader is down.
   */
  unsafeCheck(topic: string, partition: number): number {
    const o = this.view.get(`${topic}/${partition}`)
    if (o === undefined) return ErrorCode.LEADER_NOT_AVAILABLE
    if (o.owner === this.node.id) return this.node.membership() === null ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE
    const serving = servingNode(o.owner)
    if (serving !== this.node.id) return this.node.member(serving) === undefined ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NOT_LEADER_OR_FOLLOWER
    // Another node's data: served only while its store is open here (not after a hand-back, or a restart).
    return this.node.membership() !== null && this.servesStore(dataHome(o.owner)) ? ErrorCode.NONE : ErrorCode.LEADER_NOT_AVAILABLE
  }

  /** Takes the partition at `key` (`<topic>/<partition>`) for `owner` if it is still at `epoch`. */
  claim(key: string, owner: string, epoch: number): Effect.Effect<unknown, unknown> {
    return this.coordination.claim(PREFIX + key, owner, epoch)
  }

  /** Partitions led, by member id (the admin API). */
  countsByNode(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const o of this.view.owners.values()) {
      const node = servingNode(o.owner)
      counts.set(node, (counts.get(node) ?? 0) + 1)
    }
    return counts
  }

  /** By serving node: the other nodes whose data it serves partitions from (`<node>@<home>`, the admin API). */
  servedStores(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>()
    for (const o of this.view.owners.values()) {
      const node = servingNode(o.owner)
      if (node === o.owner) continue
      let homes = out.get(node)
      if (homes === undefined) out.set(node, (homes = new Set()))
      homes.add(dataHome(o.owner))
    }
    return out
  }

  /**
   * Claims every partition nobody leads for its preferred live member, and releases the keys of
   * deleted topics this node led. Safe to run any time, on any node, concurrently.
   */
  reconcile(): Effect.Effect<void> {
    return Effect.suspend(() => {
      // Not a member (yet, or fenced): the others decide; nothing listed yet: nothing known.
      if (this.node.membership() === null || !this.view.ready) return Effect.void
      const members = kafkaMembers(this.node.members())
      const work: Array<Effect.Effect<unknown, unknown>> = []
      const known = new Set<string>()
      for (const t of this.topics.list()) {
        if (isInternalTopic(t.name)) continue
        for (let p = 0; p < t.partitions; p++) {
          const key = `${t.name}/${p}`
          known.add(key)
          if (this.view.get(key) !== undefined) continue
          const owner = preferredLeader(members, t.name, p)
          if (owner === undefined) continue
          work.push(this.coordination.claim(leaderKey(t.name, p), owner, 0))
        }
      }
      for (const [key, o] of this.view.owners) {
        // Only the leader releases, and only a topic its own registry no longer has.
        if (o.owner !== this.node.id || known.has(key) || this.topics.get(key.slice(0, key.lastIndexOf("/"))) !== undefined) continue
        work.push(this.coordination.writeIfOwned(PREFIX + key, o, [], true))
      }
      if (work.length === 0) return Effect.void
      return Effect.forEach(work, (claim) => Effect.ignore(claim), { concurrency: 8, discard: true })
    })
  }
}
