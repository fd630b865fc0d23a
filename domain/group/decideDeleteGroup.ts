/**
 * DeleteGroups, one group: after Kafka's GroupCoordinator.handleDeleteGroups, an unknown (or
 * already deleted) group is GROUP_ID_NOT_FOUND, a group with members (any state but Empty) is
 * NON_EMPTY_GROUP, and an Empty group is deleted with its committed offsets. The reply is the
 * group's error code.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { DeleteGroup } from "./commands.js"
import { type Decision, Emitter } from "./Decision.js"
import { GroupDeleted } from "./events.js"
import { emptyGroup, type GroupPolicy, type GroupState } from "./Group.js"

export const decideDeleteGroup = (
  group: GroupState | undefined,
  cmd: DeleteGroup,
  now: number,
  policy: GroupPolicy
): Decision<number> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  if (group === undefined || group.state === "Dead") return em.decision(ErrorCode.GROUP_ID_NOT_FOUND)
  if (group.state !== "Empty") return em.decision(ErrorCode.NON_EMPTY_GROUP)
  em.emit(new GroupDeleted({ groupId: cmd.groupId, at: now }))
  return em.decision(ErrorCode.NONE)
}
