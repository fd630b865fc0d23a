/**
 * A topic was deleted: every group forgets the offsets it committed for it, after Kafka's
 * GroupCoordinator.handleDeletedPartitions. Without this a topic recreated under the same name
 * would be read from the old offsets, silently skipping its first records.
 */
import type { DeleteTopicOffsets } from "./commands.js"
import { type Decision, Emitter } from "./Decision.js"
import { GroupOffsetsDeleted } from "./events.js"
import { emptyGroup, type GroupPolicy, type GroupState } from "./Group.js"

export const decideDeleteTopicOffsets = (
  group: GroupState | undefined,
  cmd: DeleteTopicOffsets,
  now: number,
  policy: GroupPolicy
): Decision<void> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  const topics = cmd.topics.filter((t) => em.state.offsets.has(t))
  if (topics.length > 0) em.emit(new GroupOffsetsDeleted({ groupId: cmd.groupId, topics, at: now }))
  return em.decision(undefined)
}
