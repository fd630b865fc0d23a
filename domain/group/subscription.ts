/**
 * The topics a classic consumer group's members subscribe to, read from their JoinGroup
 * metadata for the chosen protocol (ConsumerProtocolSubscription: int16 version, then the topic
 * names as an int32-counted array of int16-length strings; the fields after them, user data and
 * owned partitions, are not needed). After Kafka's GroupMetadata.computeSubscribedTopics:
 * undefined when it cannot be known (not a "consumer" group, no chosen protocol, no members,
 * metadata that does not parse), which callers treat as "subscribed to everything".
 */
import { type GroupState, metadataFor } from "./Group.js"

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The topic names of one ConsumerProtocolSubscription, or undefined when it does not parse. */
export const subscriptionTopics = (metadata: Uint8Array): ReadonlyArray<string> | undefined => {
  if (metadata.length < 6) return undefined
  const view = new DataView(metadata.buffer, metadata.byteOffset, metadata.byteLength)
  if (view.getInt16(0) < 0) return undefined
  const count = view.getInt32(2)
  if (count < 0 || count > metadata.length) return undefined
  const topics: Array<string> = []
  let at = 6
  for (let i = 0; i < count; i++) {
    if (at + 2 > metadata.length) return undefined
    const length = view.getInt16(at)
    at += 2
    if (length < 0 || at + length > metadata.length) return undefined
    try {
      topics.push(utf8.decode(metadata.subarray(at, at + length)))
    } catch {
      return undefined
    }
    at += length
  }
  return topics
}

/** Every topic some member of `group` subscribes to, or undefined when that cannot be known. */
export const subscribedTopics = (group: GroupState): ReadonlySet<string> | undefined => {
  if (group.protocolType !== "consumer" || group.protocolName === null || group.members.size === 0) return undefined
  const topics = new Set<string>()
  for (const member of group.members.values()) {
    const names = subscriptionTopics(metadataFor(member, group.protocolName))
    if (names === undefined) return undefined
    for (const name of names) topics.add(name)
  }
  return topics
}
