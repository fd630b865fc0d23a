/**
 * One group as the coordinator holds it: the read model (folded state) plus the requests
 * waiting on it, a JoinGroup until its generation completes and a SyncGroup until the leader's
 * assignment arrives. Applying an event folds it and answers whoever it concerns, so every
 * answer follows from an event: a completed generation answers the joins, an assignment the
 * syncs, a new rebalance sends the syncs back to rejoin, a removal or a fenced static member
 * answers that member's own requests. Plain synchronous code.
 */
import { Deferred, Effect, FiberId } from "effect"
import type { JoinGroupResponse, SyncGroupResponse } from "../../../domain/group/commands.js"
import type { GroupEvent } from "../../../domain/group/events.js"
import { evolve } from "../../../domain/group/evolve.js"
import type { GroupState } from "../../../domain/group/Group.js"
import { generationJoinResponse, joinError, syncAssignment, syncError } from "../../../domain/group/views.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"

const answer = <A>(d: Deferred.Deferred<A>, value: A): void => Deferred.unsafeDone(d, Effect.succeed(value))

export class GroupRuntime {
  readonly joins = new Map<string, Deferred.Deferred<JoinGroupResponse>>()
  readonly syncs = new Map<string, Deferred.Deferred<SyncGroupResponse>>()

  constructor(public state: GroupState) {}

  /** Registers a JoinGroup waiting for `memberId`; a request it replaces is told to rejoin. */
  awaitJoin(memberId: string): Deferred.Deferred<JoinGroupResponse> {
    const old = this.joins.get(memberId)
    if (old !== undefined) answer(old, joinError(memberId, ErrorCode.REBALANCE_IN_PROGRESS))
    const d = Deferred.unsafeMake<JoinGroupResponse>(FiberId.none)
    this.joins.set(memberId, d)
    return d
  }

  awaitSync(memberId: string): Deferred.Deferred<SyncGroupResponse> {
    const old = this.syncs.get(memberId)
    if (old !== undefined) answer(old, syncError(ErrorCode.REBALANCE_IN_PROGRESS))
    const d = Deferred.unsafeMake<SyncGroupResponse>(FiberId.none)
    this.syncs.set(memberId, d)
    return d
  }

  apply(event: GroupEvent): void {
    this.state = evolve(this.state, event)
    switch (event._tag) {
      case "GroupGenerationCompleted":
        for (const [memberId, d] of this.joins) {
          answer(d, this.state.members.has(memberId) ? generationJoinResponse(this.state, memberId) : joinError("", ErrorCode.UNKNOWN_MEMBER_ID))
        }
        this.joins.clear()
        return
      case "MemberRemoved":
        // Answered so the client rejoins (Kafka answers a removed member's join the same way).
        this.answerJoin(event.memberId, joinError("", ErrorCode.UNKNOWN_MEMBER_ID))
        this.answerSync(event.memberId, syncError(ErrorCode.UNKNOWN_MEMBER_ID))
        return
      case "StaticMemberReplaced":
        this.answerJoin(event.oldMemberId, joinError(event.oldMemberId, ErrorCode.FENCED_INSTANCE_ID))
        this.answerSync(event.oldMemberId, syncError(ErrorCode.FENCED_INSTANCE_ID))
        return
      case "GroupRebalanceStarted":
        for (const d of this.syncs.values()) answer(d, syncError(ErrorCode.REBALANCE_IN_PROGRESS))
        this.syncs.clear()
        return
      case "GroupAssignmentsSynced":
        for (const [memberId, d] of this.syncs) answer(d, syncAssignment(this.state, memberId))
        this.syncs.clear()
        return
      default:
        return
    }
  }

  /** The group leaves this coordinator (cluster: its slot moved): whoever waits is told to look again. */
  abandon(): void {
    for (const [memberId, d] of this.joins) answer(d, joinError(memberId, ErrorCode.NOT_COORDINATOR))
    for (const d of this.syncs.values()) answer(d, syncError(ErrorCode.NOT_COORDINATOR))
    this.joins.clear()
    this.syncs.clear()
  }

  private answerJoin(memberId: string, response: JoinGroupResponse): void {
    const d = this.joins.get(memberId)
    if (d === undefined) return
    this.joins.delete(memberId)
    answer(d, response)
  }

  private answerSync(memberId: string, response: SyncGroupResponse): void {
    const d = this.syncs.get(memberId)
    if (d === undefined) return
    this.syncs.delete(memberId)
    answer(d, response)
  }
}
