/**
 * The Kafka consumer-group coordinator (classic protocol, pre-KIP-848): the service the
 * JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete,
 * DescribeGroups, ListGroups and DeleteGroups handlers call with plain request values, answering with plain responses that
 * carry Kafka error codes (protocol errors are never failures).
 *
 * It owns the read model of every group (domain/group: pure deciders and evolve), the requests
 * waiting on a rebalance (GroupRuntime), and the group events' way to the EventStore (stream
 * `group-<groupId>`, through GroupEventWriter). Membership changes take effect in memory at
 * once and are stored in order without waiting; an OffsetCommit is answered, and its offsets
 * become visible to OffsetFetch, only once its events are durable (and so do offsets forgotten
 * because their topic was deleted or by OffsetDelete, so they apply in stored order). A deleted group leaves the
 * read model at once (later requests under its id start a new group, whose events follow the
 * deletion in the stream) and DeleteGroups is answered once the deletion is durable. One sweep fiber checks
 * session, sync and rebalance deadlines; `tick` runs the same check for tests. At start every
 * group is rebuilt from the "kafka-groups" snapshot plus the events after it, and members get
 * a fresh session deadline from boot time. The snapshot is refreshed (and the events it covers
 * pruned) at start, periodically and at shutdown.
 */
import { randomUUID } from "node:crypto"
import { Context, Deferred, Effect, FiberId, Layer, Schema, type Scope } from "effect"
import type {
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsRequest,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  SyncGroupRequest,
  SyncGroupResponse
} from "../../../domain/group/commands.js"
import type { Decision } from "../../../domain/group/Decision.js"
import { decideCommitOffsets } from "../../../domain/group/decideCommitOffsets.js"
import { decideDeleteGroup } from "../../../domain/group/decideDeleteGroup.js"
import { decideDeleteOffsets } from "../../../domain/group/decideDeleteOffsets.js"
import { decideDeleteTopicOffsets } from "../../../domain/group/decideDeleteTopicOffsets.js"
import { decideHeartbeat } from "../../../domain/group/decideHeartbeat.js"
import { decideJoinGroup } from "../../../domain/group/decideJoinGroup.js"
import { decideLeaveGroup } from "../../../domain/group/decideLeaveGroup.js"
import { decideSyncGroup } from "../../../domain/group/decideSyncGroup.js"
import { decideTick, hasDueTimer } from "../../../domain/group/decideTick.js"
import { GroupEvent, groupStream, isDurable } from "../../../domain/group/events.js"
import { defaultGroupPolicy, emptyGroup, type GroupPolicy, type GroupState, resumed } from "../../../domain/group/Group.js"
import { describeGroup, fetchOffsets, listGroups } from "../../../domain/group/views.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import type { StorageError } from "../../../services/errors.js"
import { type EventData, EventStore } from "../../../services/EventStore.js"
import * as GroupEventWriter from "./GroupEventWriter.js"
import { GroupRuntime } from "./GroupRuntime.js"
import { snapshotGroups } from "./groupSnapshot.js"

export interface GroupCoordinatorOptions extends GroupPolicy {
  /** How often the sweep fiber checks deadlines (wall clock). */
  readonly sweepIntervalMs: number
  /** How often the groups snapshot is refreshed (and the events behind it pruned). */
  readonly snapshotIntervalMs: number
  /** The coordinator's clock (ms). */
  readonly now: () => number
  /** A new member's id: Kafka uses clientId + "-" + a UUID. */
  readonly generateMemberId: (clientId: string) => string
}

export const defaultOptions: GroupCoordinatorOptions = {
  ...defaultGroupPolicy,
  sweepIntervalMs: 100,
  snapshotIntervalMs: 60_000,
  now: () => Date.now(),
  generateMemberId: (clientId) => `${clientId}-${randomUUID()}`
}

export interface GroupCoordinatorService {
  readonly joinGroup: (request: JoinGroupRequest) => Effect.Effect<JoinGroupResponse>
  readonly syncGroup: (request: SyncGroupRequest) => Effect.Effect<SyncGroupResponse>
  readonly heartbeat: (request: HeartbeatRequest) => Effect.Effect<HeartbeatResponse>
  readonly leaveGroup: (request: LeaveGroupRequest) => Effect.Effect<LeaveGroupResponse>
  /** Answers once the commit is durable; a storage failure answers NOT_COORDINATOR (as Kafka maps it). */
  readonly commitOffsets: (request: OffsetCommitRequest) => Effect.Effect<OffsetCommitResponse>
  readonly fetchOffsets: (request: OffsetFetchRequest) => Effect.Effect<OffsetFetchResponse>
  readonly describeGroups: (request: DescribeGroupsRequest) => Effect.Effect<DescribeGroupsResponse>
  readonly listGroups: (request?: ListGroupsRequest) => Effect.Effect<ListGroupsResponse>
  /**
   * Every group forgets its committed offsets for `topics` (deleted ones); completes once that
   * is durable. Call it after the topics are gone from the registry, so that OffsetCommit
   * refuses them and no commit for them can land after.
   */
  readonly deleteTopicOffsets: (topics: ReadonlyArray<string>) => Effect.Effect<void>
  /**
   * Deletes empty groups with their committed offsets; answers per group, once durable:
   * NONE, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, or NOT_COORDINATOR when storing failed.
   */
  readonly deleteGroups: (groupIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<{ readonly groupId: string; readonly errorCode: number }>>
  /**
   * OffsetDelete for one group (its topics known to exist): answers once the deletion is
   * durable; a storage failure answers NOT_COORDINATOR for the group (the client retries).
   */
  readonly deleteOffsets: (request: OffsetDeleteRequest) => Effect.Effect<OffsetDeleteResponse>
  /** Runs every group's timers at `now` (default: the coordinator's clock). The sweep calls it. */
  readonly tick: (now?: number) => Effect.Effect<void>
  /** Refreshes the groups snapshot from storage and prunes the events it covers. */
  readonly snapshot: Effect.Effect<void, StorageError>
  /** Waits until every event decided so far is stored. */
  readonly flush: Effect.Effect<void>
  /**
   * Cluster: this node coordinates `groupId` from now on, with these committed offsets (read
   * from etcd); membership starts empty, as a Kafka coordinator that loads a group finds its
   * members rejoining. In memory only.
   */
  readonly adopt: (groupId: string, offsets: GroupState["offsets"]) => void
  /** Cluster: forgets the groups `which` selects (their coordination moved); waiting requests get NOT_COORDINATOR. In memory only. */
  readonly evict: (which: (groupId: string) => boolean) => void
  /** The read model of one group (for the admin API and tests). */
  readonly unsafeGroup: (groupId: string) => GroupState | undefined
  /** Every group's read model, for metrics at scrape time; do not mutate. */
  readonly unsafeGroups: () => Iterable<GroupState>
}

export class GroupCoordinator extends Context.Tag("broker/GroupCoordinator")<GroupCoordinator, GroupCoordinatorService>() {}

const encodeEvent = Schema.encodeSync(GroupEvent)
const toEventData = (e: GroupEvent): EventData => ({ type: e._tag, data: encodeEvent(e) })

const everyPartition = (request: OffsetCommitRequest, errorCode: number): OffsetCommitResponse => ({
  topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) }))
})

export const make = (
  overrides: Partial<GroupCoordinatorOptions> = {}
): Effect.Effect<GroupCoordinatorService, StorageError, EventStore | Scope.Scope> =>
  Effect.gen(function*() {
    const options: GroupCoordinatorOptions = { ...defaultOptions, ...overrides }
    const policy: GroupPolicy = options
    const store = yield* EventStore
    const writer = yield* GroupEventWriter.make

    // Rebuild: snapshot + events after it; every member starts a fresh session now.
    const boot = options.now()
    const runtimes = new Map<string, GroupRuntime>()
    for (const [groupId, group] of (yield* snapshotGroups(store)).groups) {
      runtimes.set(groupId, new GroupRuntime(resumed(group, boot)))
    }

    const runtimeFor = (groupId: string): GroupRuntime => {
      let rt = runtimes.get(groupId)
      if (rt === undefined) runtimes.set(groupId, (rt = new GroupRuntime(emptyGroup(groupId))))
      return rt
    }

    /**
     * Folds a decision's events into the read model (answering waiting requests as they go) and
     * queues the durable ones. Offset changes are folded only once stored, in decision order,
     * so OffsetFetch never shows an offset a crash could lose; `done` then runs with the outcome.
     */
    const commit = (groupId: string, decision: Decision<unknown>, done?: (error: StorageError | undefined) => void) => {
      if (decision.events.length === 0) return false
      const rt = runtimeFor(groupId)
      const durable: Array<EventData> = []
      const held: Array<GroupEvent> = []
      for (const e of decision.events) {
        if (e._tag === "GroupOffsetsCommitted" || e._tag === "GroupOffsetsDeleted" || e._tag === "GroupPartitionOffsetsDeleted") held.push(e)
        else rt.apply(e)
        if (isDurable(e)) durable.push(toEventData(e))
      }
      if (durable.length === 0) return false
      writer.unsafeAppend(groupStream(groupId), durable, (error) => {
        if (error === undefined) for (const e of held) rt.apply(e)
        done?.(error)
      })
      return true
    }

    /**
     * A join or sync answered now, or held until the rebalance completes. The waiter is
     * registered before the decision's events are folded: those events may complete it.
     */
    const replyOrWait = <R>(
      groupId: string,
      decision: Decision<{ readonly _tag: "Reply"; readonly response: R } | { readonly _tag: "Await"; readonly memberId: string }>,
      register: (rt: GroupRuntime, memberId: string) => Deferred.Deferred<R>
    ): Effect.Effect<R> => {
      const outcome = decision.reply
      if (outcome._tag === "Reply") {
        commit(groupId, decision)
        return Effect.succeed(outcome.response)
      }
      const waiter = register(runtimeFor(groupId), outcome.memberId)
      commit(groupId, decision)
      return Deferred.await(waiter)
    }

    const joinGroup = (request: JoinGroupRequest) =>
      Effect.suspend(() => {
        const cmd = { ...request, _tag: "JoinGroup" as const, newMemberId: options.generateMemberId(request.clientId) }
        const decision = decideJoinGroup(runtimes.get(request.groupId)?.state, cmd, options.now(), policy)
        return replyOrWait(request.groupId, decision, (rt, memberId) => rt.awaitJoin(memberId))
      })

    const syncGroup = (request: SyncGroupRequest) =>
      Effect.suspend(() => {
        const decision = decideSyncGroup(runtimes.get(request.groupId)?.state, { ...request, _tag: "SyncGroup" }, options.now(), policy)
        return replyOrWait(request.groupId, decision, (rt, memberId) => rt.awaitSync(memberId))
      })

    const heartbeat = (request: HeartbeatRequest) =>
      Effect.sync(() => {
        const decision = decideHeartbeat(runtimes.get(request.groupId)?.state, { ...request, _tag: "Heartbeat" }, options.now(), policy)
        commit(request.groupId, decision)
        return decision.reply
      })

    const leaveGroup = (request: LeaveGroupRequest) =>
      Effect.sync(() => {
        const decision = decideLeaveGroup(runtimes.get(request.groupId)?.state, { ...request, _tag: "LeaveGroup" }, options.now(), policy)
        commit(request.groupId, decision)
        return decision.reply
      })

    const commitOffsets = (request: OffsetCommitRequest) =>
      Effect.suspend(() => {
        const decision = decideCommitOffsets(
          runtimes.get(request.groupId)?.state,
          { ...request, _tag: "CommitOffsets" },
          options.now(),
          policy
        )
        const stored = Deferred.unsafeMake<OffsetCommitResponse>(FiberId.none)
        const queued = commit(request.groupId, decision, (error) =>
          Deferred.unsafeDone(
            stored,
            // Kafka answers a failed offsets write (KAFKA_STORAGE_ERROR) with NOT_COORDINATOR.
            Effect.succeed(error === undefined ? decision.reply : everyPartition(request, ErrorCode.NOT_COORDINATOR))
          ))
        return queued ? Deferred.await(stored) : Effect.succeed(decision.reply)
      })

    const fetchOffsetsOf = (request: OffsetFetchRequest) =>
      Effect.sync(() => fetchOffsets(runtimes.get(request.groupId)?.state, request))

    const describeGroups = (request: DescribeGroupsRequest) =>
      Effect.sync((): DescribeGroupsResponse => ({
        groups: request.groupIds.map((id) => describeGroup(runtimes.get(id)?.state, id, request.apiVersion))
      }))

    const listGroupsOf = (request: ListGroupsRequest = {}) =>
      Effect.sync(() => listGroups([...runtimes.values()].map((rt) => rt.state), request.statesFilter))

    const deleteTopicOffsets = (topics: ReadonlyArray<string>) =>
      // Commits decided before the call are stored (and folded) first, so none lands after.
      Effect.zipRight(
        writer.flush,
        Effect.suspend(() => {
          const now = options.now()
          const stored: Array<Effect.Effect<void>> = []
          for (const [groupId, rt] of runtimes) {
            const decision = decideDeleteTopicOffsets(rt.state, { _tag: "DeleteTopicOffsets", groupId, topics }, now, policy)
            const done = Deferred.unsafeMake<void>(FiberId.none)
            if (commit(groupId, decision, () => Deferred.unsafeDone(done, Effect.void))) stored.push(Deferred.await(done))
          }
          return Effect.all(stored, { discard: true })
        })
      )

    const deleteGroups = (groupIds: ReadonlyArray<string>) =>
      Effect.suspend(() => {
        const now = options.now()
        const results: Array<Effect.Effect<{ readonly groupId: string; readonly errorCode: number }>> = []
        for (const groupId of groupIds) {
          const rt = runtimes.get(groupId)
          const decision = decideDeleteGroup(rt?.state, { _tag: "DeleteGroup", groupId }, now, policy)
          if (decision.events.length === 0) {
            results.push(Effect.succeed({ groupId, errorCode: decision.reply }))
            continue
          }
          // Gone from the read model now, so no join can slip into it before the write lands.
          runtimes.delete(groupId)
          const stored = Deferred.unsafeMake<number>(FiberId.none)
          writer.unsafeAppend(groupStream(groupId), decision.events.map(toEventData), (error) =>
            Deferred.unsafeDone(stored, Effect.succeed(error === undefined ? decision.reply : ErrorCode.NOT_COORDINATOR)))
          results.push(Effect.map(Deferred.await(stored), (errorCode) => ({ groupId, errorCode })))
        }
        return Effect.all(results)
      })

    const deleteOffsets = (request: OffsetDeleteRequest) =>
      // Commits decided before are stored (and folded) first: the decision sees their offsets.
      Effect.zipRight(
        writer.flush,
        Effect.suspend(() => {
          const decision = decideDeleteOffsets(runtimes.get(request.groupId)?.state, { ...request, _tag: "DeleteOffsets" }, options.now(), policy)
          const stored = Deferred.unsafeMake<OffsetDeleteResponse>(FiberId.none)
          const queued = commit(request.groupId, decision, (error) =>
            Deferred.unsafeDone(
              stored,
              Effect.succeed(error === undefined ? decision.reply : { errorCode: ErrorCode.NOT_COORDINATOR, topics: [] })
            ))
          return queued ? Deferred.await(stored) : Effect.succeed(decision.reply)
        })
      )

    const tick = (now?: number) =>
      Effect.sync(() => {
        const at = now ?? options.now()
        for (const [groupId, rt] of runtimes) {
          if (hasDueTimer(rt.state, at, policy)) commit(groupId, decideTick(rt.state, at, policy))
        }
      })

    // One snapshot at a time: an older fold saved after a newer one's prune would lose events.
    const snapshotPermit = yield* Effect.makeSemaphore(1)
    const snapshot = snapshotPermit.withPermits(1)(Effect.asVoid(Effect.zipRight(writer.flush, snapshotGroups(store))))

    let lastSnapshot = options.now()
    const sweep = Effect.gen(function*() {
      yield* tick()
      const now = options.now()
      if (now - lastSnapshot >= options.snapshotIntervalMs) {
        lastSnapshot = now
        yield* snapshot.pipe(Effect.catchAll((e) => Effect.logError("groups snapshot failed", e)))
      }
    })
    const sweepSafely = Effect.catchAllCause(sweep, (cause) => Effect.logError("group sweep failed", cause))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(options.sweepIntervalMs), sweepSafely)))
    // Runs before the writer's own finalizer and fiber stop: everything decided is stored first.
    yield* Effect.addFinalizer(() => snapshot.pipe(Effect.catchAll((e) => Effect.logError("groups snapshot at shutdown failed", e))))

    return {
      joinGroup,
      syncGroup,
      heartbeat,
      leaveGroup,
      commitOffsets,
      fetchOffsets: fetchOffsetsOf,
      describeGroups,
      listGroups: listGroupsOf,
      deleteTopicOffsets,
      deleteGroups,
      deleteOffsets,
      tick,
      snapshot,
      flush: writer.flush,
      adopt: (groupId, offsets) => {
        runtimes.get(groupId)?.abandon()
        runtimes.set(groupId, new GroupRuntime({ ...emptyGroup(groupId), offsets }))
      },
      evict: (which) => {
        for (const [groupId, rt] of runtimes) {
          if (!which(groupId)) continue
          runtimes.delete(groupId)
          rt.abandon()
        }
      },
      unsafeGroup: (groupId) => runtimes.get(groupId)?.state,
      unsafeGroups: function*() {
        for (const rt of runtimes.values()) yield rt.state
      }
    } satisfies GroupCoordinatorService
  })

export const layer = (options: Partial<GroupCoordinatorOptions> = {}): Layer.Layer<GroupCoordinator, StorageError, EventStore> =>
  Layer.scoped(GroupCoordinator, make(options))
