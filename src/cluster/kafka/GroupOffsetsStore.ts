/**
 * Committed offsets of clustered consumer groups live in etcd, so whichever node owns a group's
 * slot next can read them (a node's own EventStore dies with the node): one key per group and
 * topic, `goffsets/<slot>/<group, URI-encoded>/<topic>`, holding that topic's partitions as JSON,
 * written only through Coordination.writeIfOwned guarded by the slot's ownership, so a node that
 * lost the slot writes nothing. One key per topic rather than per partition keeps a commit of
 * many partitions to a few operations (an etcd transaction holds at most 128). Writes of one
 * slot take turns and each writes what the coordinator holds when its turn comes, so a later
 * write never carries older offsets than an earlier one.
 */
import { Effect } from "effect"
import type { CommittedOffset, GroupState } from "../../../domain/group/Group.js"
import type { CoordinationError, CoordinationService, KeyWrite, Ownership } from "../../../services/Coordination.js"
import type { GroupCoordinatorService } from "../../kafka/groups/GroupCoordinator.js"
import { slotKey } from "./GroupSlots.js"
import { GROUP_SLOTS, groupSlot } from "./placement.js"

/** Operations per transaction (etcd's default limit is 128). */
const MAX_OPS = 100

export const slotOffsetsPrefix = (slot: number) => `goffsets/${slot}/`
export const groupOffsetsPrefix = (groupId: string) => `${slotOffsetsPrefix(groupSlot(groupId))}${encodeURIComponent(groupId)}/`

type Row = readonly [partition: number, offset: number, leaderEpoch: number, metadata: string, commitTimestamp: number]

const encode = (partitions: ReadonlyMap<number, CommittedOffset>): string =>
  JSON.stringify([...partitions].map(([p, o]): Row => [p, o.offset, o.leaderEpoch, o.metadata, o.commitTimestamp]))

const decode = (value: string): Map<number, CommittedOffset> =>
  new Map((JSON.parse(value) as ReadonlyArray<Row>).map(([p, offset, leaderEpoch, metadata, commitTimestamp]) => [p, { offset, leaderEpoch, metadata, commitTimestamp }]))

export class GroupOffsetsStore {
  private readonly turns = Array.from({ length: GROUP_SLOTS }, () => Effect.unsafeMakeSemaphore(1))

  constructor(private readonly coordination: CoordinationService, private readonly local: GroupCoordinatorService) {}

  /** Every group of `slot` with its committed offsets, as etcd holds them. */
  load(slot: number): Effect.Effect<Map<string, GroupState["offsets"]>, CoordinationError> {
    const prefix = slotOffsetsPrefix(slot)
    return Effect.map(this.coordination.list(prefix), ({ entries }) => {
      const groups = new Map<string, Map<string, Map<number, CommittedOffset>>>()
      for (const e of entries) {
        const rest = e.key.slice(prefix.length)
        const cut = rest.indexOf("/")
        const groupId = decodeURIComponent(rest.slice(0, cut))
        let topics = groups.get(groupId)
        if (topics === undefined) groups.set(groupId, (topics = new Map()))
        topics.set(rest.slice(cut + 1), decode(e.value))
      }
      return groups
    })
  }

  /**
   * Writes the group's offsets for `topics` as the local coordinator holds them now (a topic
   * with none is deleted). False when the slot is no longer owned as `ownership` says.
   */
  write(groupId: string, ownership: Ownership, topics: Iterable<string>): Effect.Effect<boolean, CoordinationError> {
    const slot = groupSlot(groupId)
    return this.turns[slot]!.withPermits(1)(Effect.suspend(() => {
      const offsets = this.local.unsafeGroup(groupId)?.offsets
      const prefix = groupOffsetsPrefix(groupId)
      const batch: Array<KeyWrite> = []
      for (const topic of new Set(topics)) {
        const partitions = offsets?.get(topic)
        batch.push({ key: prefix + topic, value: partitions === undefined || partitions.size === 0 ? null : encode(partitions) })
      }
      return this.writeAll(slot, ownership, batch)
    }))
  }

  /** Deletes every stored offset of the group (DeleteGroups). */
  remove(groupId: string, ownership: Ownership): Effect.Effect<boolean, CoordinationError> {
    const slot = groupSlot(groupId)
    return this.turns[slot]!.withPermits(1)(Effect.flatMap(this.coordination.list(groupOffsetsPrefix(groupId)), ({ entries }) =>
      this.writeAll(slot, ownership, entries.map((e) => ({ key: e.key, value: null })))))
  }

  private writeAll(slot: number, ownership: Ownership, batch: ReadonlyArray<KeyWrite>): Effect.Effect<boolean, CoordinationError> {
    return Effect.gen(this, function*() {
      for (let at = 0; at < batch.length; at += MAX_OPS) {
        if (!(yield* this.coordination.writeIfOwned(slotKey(slot), ownership, batch.slice(at, at + MAX_OPS)))) return false
      }
      return true
    })
  }
}
