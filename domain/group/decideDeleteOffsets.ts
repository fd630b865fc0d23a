/**
 * OffsetDelete for one group, after Kafka's GroupCoordinator.handleDeleteOffsets (classic
 * groups): an unknown or deleted group is GROUP_ID_NOT_FOUND; an Empty group forgets every
 * partition asked for; a consumer group with members forgets only partitions of topics no
 * member subscribes to, the others are GROUP_SUBSCRIBED_TO_TOPIC (when the subscriptions cannot
 * be read, every topic counts as subscribed); any other group with members is NON_EMPTY_GROUP.
 * A partition without a committed offset is answered NONE too. With a group error the reply
 * has no partitions, as Kafka's.
 */
import { ErrorCode } from "../kafka/ErrorCode.js"
import type { DeleteOffsets, OffsetDeleteResponse } from "./commands.js"
import { type Decision, Emitter } from "./Decision.js"
import { GroupPartitionOffsetsDeleted } from "./events.js"
import { emptyGroup, type GroupPolicy, type GroupState } from "./Group.js"
import { subscribedTopics } from "./subscription.js"

const groupError = (em: Emitter, errorCode: number): Decision<OffsetDeleteResponse> => em.decision({ errorCode, topics: [] })

export const decideDeleteOffsets = (
  group: GroupState | undefined,
  cmd: DeleteOffsets,
  now: number,
  policy: GroupPolicy
): Decision<OffsetDeleteResponse> => {
  const em = new Emitter(group ?? emptyGroup(cmd.groupId), now, policy)
  if (group === undefined || group.state === "Dead") return groupError(em, ErrorCode.GROUP_ID_NOT_FOUND)
  let subscribed: ReadonlySet<string> | undefined
  if (group.state !== "Empty") {
    if (group.protocolType !== "consumer") return groupError(em, ErrorCode.NON_EMPTY_GROUP)
    subscribed = subscribedTopics(group)
  }
  const isSubscribed = (topic: string) => group.state !== "Empty" && (subscribed === undefined || subscribed.has(topic))
  const deleted: Array<{ topic: string; partition: number }> = []
  const topics = cmd.topics.map((t) => {
    const consumed = isSubscribed(t.name)
    const committed = group.offsets.get(t.name)
    return {
      name: t.name,
      partitions: t.partitions.map((p) => {
        if (consumed) return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }
        if (committed?.has(p.partitionIndex) === true) deleted.push({ topic: t.name, partition: p.partitionIndex })
        return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE }
      })
    }
  })
  if (deleted.length > 0) em.emit(new GroupPartitionOffsetsDeleted({ groupId: cmd.groupId, partitions: deleted, at: now }))
  return em.decision({ errorCode: ErrorCode.NONE, topics })
}
