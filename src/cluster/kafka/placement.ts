/**
 * Pure placement rules for Kafka in a cluster: a member's Kafka node id (an int32 every node
 * computes the same way from the string node id, so no registry is needed), the preferred
 * leader of a partition and the preferred owner of a group slot among the live members (sorted
 * by id: every node that sees the same members picks the same one), and a group's slot.
 */

/** Group coordination slots: a group's coordinator is the owner of its slot. */
export const GROUP_SLOTS = 64

/** FNV-1a, 32 bits: stable across processes and versions (never change it: ids and slots follow it). */
export const fnv1a = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * A node's Kafka broker id: a numeric node id is used as it is ("3" -> 3, what operators
 * expect); any other is hashed into [1000, 2^31). Two names may collide (about one pair in a
 * million among 60 nodes): numeric node ids rule that out.
 */
export const kafkaNodeId = (id: string): number => {
  if (/^\d{1,9}$/.test(id)) return Number(id)
  return 1000 + (fnv1a(id) % (0x7fffffff - 1000))
}

/** The members that can take Kafka work (those with a Kafka listener), by id. */
export const kafkaMembers = (members: ReadonlyArray<{ readonly id: string; readonly kafkaPort: number }>): Array<string> =>
  members.flatMap((m) => (m.kafkaPort > 0 ? [m.id] : []))

/** The slot of a group id. */
export const groupSlot = (groupId: string): number => fnv1a(groupId) % GROUP_SLOTS

/** Partitions of a topic go round the members from a point that depends on the topic: even per topic and overall. */
export const preferredLeader = (members: ReadonlyArray<string>, topic: string, partition: number): string | undefined =>
  members.length === 0 ? undefined : members[(fnv1a(topic) + partition) % members.length]

export const preferredSlotOwner = (members: ReadonlyArray<string>, slot: number): string | undefined =>
  members.length === 0 ? undefined : members[slot % members.length]

/**
 * A partition served from another node's data (`--workers`: a worker serving a dead sibling's
 * store, StoreAdoption.ts) is led by `<node>@<home>`: the node serving it, and the node whose
 * data directory holds it. Node ids never contain `@`.
 */
const ADOPTED = "@"
export const adoptedOwner = (node: string, home: string): string => `${node}${ADOPTED}${home}`
/** The node serving a partition led by `owner`. */
export const servingNode = (owner: string): string => {
  const at = owner.indexOf(ADOPTED)
  return at < 0 ? owner : owner.slice(0, at)
}
/** The node whose data holds a partition led by `owner`. */
export const dataHome = (owner: string): string => {
  const at = owner.indexOf(ADOPTED)
  return at < 0 ? owner : owner.slice(at + 1)
}
