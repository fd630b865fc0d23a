/**
 * The groups snapshot: the durable part of every group (members and their protocols,
 * generation, state, leader, assignments, committed offsets) as one Schema-encoded value, so
 * boot reads the snapshot plus the events after it instead of every commit ever made. Soft
 * state is not stored: `resumed` rebuilds it after a restart. Version 1.
 */
import { Schema } from "effect"
import { StoredProtocol } from "./events.js"
import { type CommittedOffset, EMPTY_BYTES, emptyGroup, type GroupState, type Member } from "./Group.js"

const StoredMember = Schema.Struct({
  memberId: Schema.String,
  groupInstanceId: Schema.NullOr(Schema.String),
  clientId: Schema.String,
  clientHost: Schema.String,
  sessionTimeoutMs: Schema.Number,
  rebalanceTimeoutMs: Schema.Number,
  protocolType: Schema.String,
  protocols: Schema.Array(StoredProtocol),
  assignment: Schema.Uint8ArrayFromBase64,
  /** Rejoined in the rebalance in progress when the snapshot was taken. */
  awaitingJoin: Schema.Boolean
})

const StoredGroup = Schema.Struct({
  groupId: Schema.String,
  state: Schema.Literal("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"),
  generationId: Schema.Number,
  protocolType: Schema.NullOr(Schema.String),
  protocolName: Schema.NullOr(Schema.String),
  leaderId: Schema.NullOr(Schema.String),
  members: Schema.Array(StoredMember),
  /** [topic, partition, offset, leaderEpoch, metadata, commitTimestamp]: compact, offsets are many. */
  offsets: Schema.Array(Schema.Tuple(Schema.String, Schema.Number, Schema.Number, Schema.Number, Schema.String, Schema.Number))
})

export const GroupsSnapshot = Schema.Struct({ version: Schema.Literal(1), groups: Schema.Array(StoredGroup) })
export type GroupsSnapshot = typeof GroupsSnapshot.Type

const encode = Schema.encodeSync(GroupsSnapshot)
const decode = Schema.decodeUnknownSync(GroupsSnapshot)

export const encodeGroups = (groups: Iterable<GroupState>): unknown => {
  const stored: Array<typeof StoredGroup.Type> = []
  for (const g of groups) {
    const offsets: Array<readonly [string, number, number, number, string, number]> = []
    for (const [topic, partitions] of g.offsets) {
      for (const [partition, o] of partitions) offsets.push([topic, partition, o.offset, o.leaderEpoch, o.metadata, o.commitTimestamp])
    }
    stored.push({
      groupId: g.groupId,
      state: g.state,
      generationId: g.generationId,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      leaderId: g.leaderId,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        protocolType: m.protocolType,
        protocols: m.protocols,
        assignment: m.assignment,
        awaitingJoin: m.awaitingJoin
      })),
      offsets
    })
  }
  return encode({ version: 1, groups: stored })
}

/** Throws (a ParseError) on data that is not a version-1 groups snapshot. */
export const decodeGroups = (data: unknown): Map<string, GroupState> => {
  const out = new Map<string, GroupState>()
  for (const g of decode(data).groups) {
    const members = new Map<string, Member>()
    for (const m of g.members) {
      members.set(m.memberId, { ...m, assignment: m.assignment.length === 0 ? EMPTY_BYTES : m.assignment, lastHeardAt: 0, isNew: false, awaitingSync: false })
    }
    const offsets = new Map<string, Map<number, CommittedOffset>>()
    for (const [topic, partition, offset, leaderEpoch, metadata, commitTimestamp] of g.offsets) {
      let partitions = offsets.get(topic)
      if (partitions === undefined) offsets.set(topic, (partitions = new Map()))
      partitions.set(partition, { offset, leaderEpoch, metadata, commitTimestamp })
    }
    out.set(g.groupId, {
      ...emptyGroup(g.groupId),
      state: g.state,
      generationId: g.generationId,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      leaderId: g.leaderId,
      members,
      offsets
    })
  }
  return out
}
