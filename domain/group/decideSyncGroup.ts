/**
 * SyncGroup, after Kafka's GroupCoordinator.handleSyncGroup: the leader's assignment ends the
 * rebalance (Stable) and answers every member waiting for it; followers that sync first wait.
 * In a Stable group any member gets its current assignment back.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { SyncGroup, SyncGroupResponse } from "./commands.js"
import { type Decision, Emitter, type SyncOutcome } from "./Decision.js"
import { GroupAssignmentsSynced, MemberSyncReceived } from "./events.js"
import { EMPTY_BYTES, emptyGroup, type GroupPolicy, type GroupState } from "./Group.js"
import { validateCurrentMember } from "./rebalance.js"
import { syncAssignment, syncError } from "./views.js"

type Outcome = SyncOutcome<SyncGroupResponse>
const reply = (response: SyncGroupResponse): Outcome => ({ _tag: "Reply", response })

const validate = (group: GroupState | undefined, cmd: SyncGroup): number => {
  if (cmd.groupId.length === 0) return ErrorCode.INVALID_GROUP_ID
  if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
  if (group.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE
  const error = validateCurrentMember(group, cmd.memberId, cmd.groupInstanceId)
  if (error !== ErrorCode.NONE) return error
  if (cmd.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION
  if (cmd.protocolType !== null && cmd.protocolType !== group.protocolType) return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
  if (cmd.protocolName !== null && cmd.protocolName !== group.protocolName) return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
  return ErrorCode.NONE
}

export const decideSyncGroup = (
  group: GroupState | undefined,
  cmd: SyncGroup,
  now: number,
  policy: GroupPolicy
): Decision<Outcome> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  const error = validate(group, cmd)
  if (error !== ErrorCode.NONE) return em.decision(reply(syncError(error)))
  switch (em.state.state) {
    case "Empty":
    case "Dead":
      return em.decision(reply(syncError(ErrorCode.UNKNOWN_MEMBER_ID)))
    case "PreparingRebalance":
      return em.decision(reply(syncError(ErrorCode.REBALANCE_IN_PROGRESS)))
    case "CompletingRebalance": {
      em.emit(new MemberSyncReceived({ groupId: cmd.groupId, memberId: cmd.memberId, at: now }))
      if (em.state.leaderId === cmd.memberId) {
        // Members the leader left out get an empty assignment; unknown ids are ignored.
        const given = new Map(cmd.assignments.map((a) => [a.memberId, a.assignment] as const))
        em.emit(
          new GroupAssignmentsSynced({
            groupId: cmd.groupId,
            generationId: em.state.generationId,
            assignments: [...em.state.members.keys()].map((memberId) => ({
              memberId,
              assignment: given.get(memberId) ?? EMPTY_BYTES
            })),
            at: now
          })
        )
      }
      return em.decision<Outcome>({ _tag: "Await", memberId: cmd.memberId })
    }
    case "Stable":
      em.emit(new MemberSyncReceived({ groupId: cmd.groupId, memberId: cmd.memberId, at: now }))
      return em.decision(reply(syncAssignment(em.state, cmd.memberId)))
  }
}
