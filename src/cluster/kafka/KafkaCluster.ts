/**
 * Kafka on a cluster member (issue 11 item 5): partition leaders (PartitionLeaders), group
 * coordination slots (GroupSlots) and the group coordinator that honours them
 * (ClusteredGroups), kept in line with etcd and the live members by one fiber, woken by any
 * change of either and every two seconds. The handlers ask it synchronously: who leads a
 * partition, who coordinates a group, which brokers exist. A single node has none of it
 * (KafkaContext.cluster is null) and behaves as before.
 */
import { Effect, type Scope, Stream } from "effect"
import type { CoordinationService } from "../../../services/Coordination.js"
import type { GroupCoordinatorService } from "../../kafka/groups/GroupCoordinator.js"
import type { TopicsService } from "../../meta/Topics.js"
import type { ClusterNodeService, NodeInfo } from "../ClusterNode.js"
import { clusteredGroups, slotHooks } from "./ClusteredGroups.js"
import { GroupOffsetsStore } from "./GroupOffsetsStore.js"
import { GroupSlots } from "./GroupSlots.js"
import { PartitionLeaders } from "./PartitionLeaders.js"
import { kafkaNodeId } from "./placement.js"

/** How often the leaders and slots are checked even when nothing was heard to change. */
const RECHECK_MS = 2000

export class KafkaCluster {
  readonly leaders: PartitionLeaders
  readonly slots: GroupSlots
  /** The coordinator the handlers use: the local one, answering only for served slots. */
  readonly groups: GroupCoordinatorService

  constructor(
    readonly node: ClusterNodeService,
    readonly coordination: CoordinationService,
    topics: TopicsService,
    local: GroupCoordinatorService,
    /** Whether this node has a sibling worker's data directory open (StoreAdoption). */
    servesStore: (home: string) => boolean = () => false
  ) {
    this.leaders = new PartitionLeaders(node, coordination, topics, servesStore)
    const store = new GroupOffsetsStore(coordination, local)
    this.slots = new GroupSlots(node, coordination, slotHooks(local, store))
    this.groups = clusteredGroups(local, this.slots, store)
    // Nothing is served before this node has claimed and loaded it (not what the EventStore rebuilt).
    local.evict(() => true)
  }

  /** Live members with a Kafka listener: the brokers Metadata lists. */
  brokers(): ReadonlyArray<NodeInfo> {
    return this.node.members().filter((m) => m.kafkaPort > 0)
  }

  /** The live member coordinating `groupId`, if any. */
  coordinatorOf(groupId: string): NodeInfo | undefined {
    const id = this.slots.coordinatorOf(groupId)
    return id === undefined ? undefined : this.node.member(id)
  }

  /** The Kafka controller id reported: the first live member's (any stable choice will do). */
  controllerId(): number {
    const first = this.node.members()[0]
    return first === undefined ? -1 : kafkaNodeId(first.id)
  }

  /** Follows etcd and the members, and reconciles; runs until the scope closes (fork it). */
  run(topicChanges: (listener: () => void) => void): Effect.Effect<never, never, Scope.Scope> {
    return Effect.gen(this, function*() {
      const wake = yield* Effect.makeLatch(false)
      const poke = () => wake.unsafeOpen()
      this.leaders.view.onChange(poke)
      this.slots.view.onChange(poke)
      topicChanges(poke)
      yield* Effect.forkScoped(this.leaders.view.follow(this.coordination))
      yield* Effect.forkScoped(this.slots.view.follow(this.coordination))
      yield* Effect.forkScoped(Stream.runForEach(this.node.changes, () => Effect.sync(poke)))
      // A lost lease: stop coordinating at once (the others take the slots once it expires).
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.suspend(() => this.node.fenced), Effect.sync(() => {
        this.slots.dropAll()
        poke()
      }))))
      return yield* Effect.forever(Effect.gen(this, function*() {
        yield* Effect.timeout(wake.await, RECHECK_MS).pipe(Effect.ignore)
        wake.unsafeClose()
        yield* this.leaders.reconcile()
        yield* this.slots.reconcile()
      }))
    }).pipe(Effect.catchAllCause((cause) => Effect.zipRight(Effect.logError("cluster: Kafka leadership loop failed", cause), Effect.never)))
  }
}
