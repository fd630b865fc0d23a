/**
 * What a group decider returns, and the scratch object deciders build it with. A decision is a
 * list of events plus the reply for the caller; `state` is the group after the events, so a
 * caller may use it instead of folding them again. Deciders emit through an `Emitter`, which
 * folds each event as it goes so later rules see earlier effects (a removal that completes the
 * rebalance, say). The emitter is local to one decision: nothing outside sees it change.
 */
import type { JoinGroupResponse } from "./commands.js"
import type { GroupEvent } from "./events.js"
import { evolve } from "./evolve.js"
import type { GroupPolicy, GroupState } from "./Group.js"

export interface Decision<R> {
  readonly events: ReadonlyArray<GroupEvent>
  /** The group after `events` (equal to folding them over the input state). */
  readonly state: GroupState
  readonly reply: R
}

/** A JoinGroup is answered now, or when its rebalance completes (or the member is removed). */
export type JoinOutcome =
  | { readonly _tag: "Reply"; readonly response: JoinGroupResponse }
  | { readonly _tag: "Await"; readonly memberId: string }

/** A SyncGroup is answered now, or when the leader's assignment arrives (or a rebalance starts). */
export type SyncOutcome<R> =
  | { readonly _tag: "Reply"; readonly response: R }
  | { readonly _tag: "Await"; readonly memberId: string }

export class Emitter {
  readonly events: Array<GroupEvent> = []
  constructor(public state: GroupState, readonly now: number, readonly policy: GroupPolicy) {}

  emit(event: GroupEvent): void {
    this.events.push(event)
    this.state = evolve(this.state, event)
  }

  decision<R>(reply: R): Decision<R> {
    return { events: this.events, state: this.state, reply }
  }
}
