/**
 * The group decider: one entry point over the per-request deciders, `decide(state, command,
 * now)` giving events plus the reply. Pure: time and new member ids come in with the call.
 */
import type {
  CommitOffsets,
  DeleteGroup,
  DeleteOffsets,
  DeleteTopicOffsets,
  GroupCommand,
  Heartbeat,
  HeartbeatResponse,
  JoinGroup,
  LeaveGroup,
  LeaveGroupResponse,
  OffsetCommitResponse,
  OffsetDeleteResponse,
  SyncGroup,
  SyncGroupResponse,
  Tick
} from "./commands.js"
import type { Decision, JoinOutcome, SyncOutcome } from "./Decision.js"
import { decideCommitOffsets } from "./decideCommitOffsets.js"
import { decideDeleteGroup } from "./decideDeleteGroup.js"
import { decideDeleteOffsets } from "./decideDeleteOffsets.js"
import { decideDeleteTopicOffsets } from "./decideDeleteTopicOffsets.js"
import { decideHeartbeat } from "./decideHeartbeat.js"
import { decideJoinGroup } from "./decideJoinGroup.js"
import { decideLeaveGroup } from "./decideLeaveGroup.js"
import { decideSyncGroup } from "./decideSyncGroup.js"
import { decideTick } from "./decideTick.js"
import { defaultGroupPolicy, emptyGroup, type GroupPolicy, type GroupState } from "./Group.js"

export function decide(state: GroupState | undefined, command: JoinGroup, now: number, policy?: GroupPolicy): Decision<JoinOutcome>
export function decide(
  state: GroupState | undefined,
  command: SyncGroup,
  now: number,
  policy?: GroupPolicy
): Decision<SyncOutcome<SyncGroupResponse>>
export function decide(state: GroupState | undefined, command: Heartbeat, now: number, policy?: GroupPolicy): Decision<HeartbeatResponse>
export function decide(state: GroupState | undefined, command: LeaveGroup, now: number, policy?: GroupPolicy): Decision<LeaveGroupResponse>
export function decide(
  state: GroupState | undefined,
  command: CommitOffsets,
  now: number,
  policy?: GroupPolicy
): Decision<OffsetCommitResponse>
export function decide(state: GroupState | undefined, command: Tick, now: number, policy?: GroupPolicy): Decision<void>
export function decide(state: GroupState | undefined, command: DeleteTopicOffsets, now: number, policy?: GroupPolicy): Decision<void>
export function decide(state: GroupState | undefined, command: DeleteGroup, now: number, policy?: GroupPolicy): Decision<number>
export function decide(
  state: GroupState | undefined,
  command: DeleteOffsets,
  now: number,
  policy?: GroupPolicy
): Decision<OffsetDeleteResponse>
export function decide(state: GroupState | undefined, command: GroupCommand, now: number, policy?: GroupPolicy): Decision<unknown>
export function decide(
  state: GroupState | undefined,
  command: GroupCommand,
  now: number,
  policy: GroupPolicy = defaultGroupPolicy
): Decision<unknown> {
  switch (command._tag) {
    case "JoinGroup":
      return decideJoinGroup(state, command, now, policy)
    case "SyncGroup":
      return decideSyncGroup(state, command, now, policy)
    case "Heartbeat":
      return decideHeartbeat(state, command, now, policy)
    case "LeaveGroup":
      return decideLeaveGroup(state, command, now, policy)
    case "CommitOffsets":
      return decideCommitOffsets(state, command, now, policy)
    case "Tick":
      return decideTick(state ?? emptyGroup(command.groupId), now, policy)
    case "DeleteTopicOffsets":
      return decideDeleteTopicOffsets(state, command, now, policy)
    case "DeleteGroup":
      return decideDeleteGroup(state, command, now, policy)
    case "DeleteOffsets":
      return decideDeleteOffsets(state, command, now, policy)
  }
}
