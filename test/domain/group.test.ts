/** Consumer-group decider: given a group, when a request (or time passes), then events and a reply. Pure. */
import { describe, expect, it } from "@effect/vitest"
import type { JoinGroup, JoinGroupResponse } from "../../domain/group/commands.js"
import type { Decision, JoinOutcome } from "../../domain/group/Decision.js"
import { decide } from "../../domain/group/decide.js"
import { isDurable } from "../../domain/group/events.js"
import { evolveAll } from "../../domain/group/evolve.js"
import { defaultGroupPolicy, type GroupPolicy, type GroupState, resumed } from "../../domain/group/Group.js"
import { decodeGroups, encodeGroups } from "../../domain/group/snapshot.js"
import { describeGroup, fetchOffsets, generationJoinResponse, listGroups } from "../../domain/group/views.js"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"

const policy: GroupPolicy = { ...defaultGroupPolicy, initialRebalanceDelayMs: 0 }
const bytes = (...b: Array<number>) => Uint8Array.from(b)
const proto = (name: string, ...metadata: Array<number>) => ({ name, metadata: bytes(...(metadata.length ? metadata : [1])) })

const joinCmd = (over: Partial<JoinGroup> = {}): JoinGroup => ({
  _tag: "JoinGroup",
  groupId: "g",
  memberId: "",
  groupInstanceId: null,
  clientId: "c",
  clientHost: "/127.0.0.1",
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 30_000,
  protocolType: "consumer",
  protocols: [proto("range")],
  apiVersion: 3,
  newMemberId: "m",
  ...over
})
const tags = (d: Decision<unknown>) => d.events.map((e) => e._tag)
const replied = (outcome: JoinOutcome): JoinGroupResponse => {
  if (outcome._tag !== "Reply") throw new Error(`expected a reply, got ${outcome._tag}`)
  return outcome.response
}

/** A group driven through real decisions, so every spec starts from a reachable state. */
class Scenario {
  group: GroupState | undefined = undefined
  constructor(readonly p: GroupPolicy = policy) {}
  run<R>(d: Decision<R>): Decision<R> {
    this.group = d.state
    return d
  }
  join(memberId: string, at: number, over: Partial<JoinGroup> = {}) {
    return this.run(decide(this.group, joinCmd({ memberId, newMemberId: memberId || "new", ...over }), at, this.p))
  }
  /** A v3 join of a new member that gets `id`. */
  add(id: string, at: number, over: Partial<JoinGroup> = {}) {
    return this.join("", at, { newMemberId: id, clientId: id, ...over })
  }
  sync(memberId: string, at: number, assignments: Array<[string, Array<number>]> = [], generationId = this.group!.generationId) {
    return this.run(
      decide(this.group, {
        _tag: "SyncGroup",
        groupId: "g",
        generationId,
        memberId,
        groupInstanceId: null,
        protocolType: null,
        protocolName: null,
        assignments: assignments.map(([m, a]) => ({ memberId: m, assignment: bytes(...a) }))
      }, at, this.p)
    )
  }
  heartbeat(memberId: string, at: number, generationId = this.group?.generationId ?? 0, groupInstanceId: string | null = null) {
    return this.run(decide(this.group, { _tag: "Heartbeat", groupId: "g", generationId, memberId, groupInstanceId }, at, this.p))
  }
  leave(members: Array<[string, string | null]>, at: number, apiVersion = 3) {
    return this.run(
      decide(this.group, {
        _tag: "LeaveGroup",
        groupId: "g",
        members: members.map(([memberId, groupInstanceId]) => ({ memberId, groupInstanceId })),
        apiVersion
      }, at, this.p)
    )
  }
  commit(memberId: string, generationId: number, at: number, offset = 42, metadata: string | null = "meta") {
    return this.run(
      decide(this.group, {
        _tag: "CommitOffsets",
        groupId: "g",
        generationId,
        memberId,
        groupInstanceId: null,
        topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: 3, committedMetadata: metadata }] }]
      }, at, this.p)
    )
  }
  tick(at: number) {
    return this.run(decide(this.group, { _tag: "Tick", groupId: "g" }, at, this.p))
  }
  get state() {
    return this.group!
  }
}

/** Stable group of `ids` (first is the leader) at generation `ids.length`, everyone synced at `at`. */
const stableGroup = (ids: Array<string>, at = 0): Scenario => {
  const s = new Scenario()
  for (const id of ids) {
    s.add(id, at)
    for (const other of ids) if (other !== id && s.state.members.has(other)) s.join(other, at)
  }
  s.sync(ids[0]!, at, ids.map((id, i) => [id, [i]]))
  for (const id of ids.slice(1)) s.sync(id, at)
  return s
}

const commitError = (d: Decision<unknown>) => (d.reply as { topics: Array<{ partitions: Array<{ errorCode: number }> }> }).topics[0]!.partitions[0]!.errorCode

describe("JoinGroup", () => {
  it("gives a v4+ member without an id a new id with MEMBER_ID_REQUIRED and holds it as pending (KIP-394)", () => {
    const s = new Scenario()
    const d = s.join("", 0, { apiVersion: 4, newMemberId: "c-1" })
    expect(replied(d.reply)).toMatchObject({ errorCode: ErrorCode.MEMBER_ID_REQUIRED, memberId: "c-1", generationId: -1 })
    expect(tags(d)).toEqual(["PendingMemberAdded"])
    expect(s.state.members.size).toBe(0)
    expect([...s.state.pendingMembers.keys()]).toEqual(["c-1"])

    const again = s.join("c-1", 10, { apiVersion: 4 })
    expect(tags(again)).toEqual(["MemberJoined", "GroupRebalanceStarted", "GroupGenerationCompleted"])
    expect(again.reply).toEqual({ _tag: "Await", memberId: "c-1" })
    expect(s.state).toMatchObject({ state: "CompletingRebalance", generationId: 1, leaderId: "c-1", protocolName: "range" })
    expect(s.state.pendingMembers.size).toBe(0)
  })

  it("creates a v0-v3 member at once", () => {
    const s = new Scenario()
    const d = s.add("a", 0)
    expect(tags(d)).toEqual(["MemberJoined", "GroupRebalanceStarted", "GroupGenerationCompleted"])
    expect(d.reply).toEqual({ _tag: "Await", memberId: "a" })
    const answer = generationJoinResponse(s.state, "a")
    expect(answer).toMatchObject({ errorCode: 0, generationId: 1, leader: "a", protocolName: "range", protocolType: "consumer" })
    expect(answer.members).toEqual([{ memberId: "a", groupInstanceId: null, metadata: bytes(1) }])
  })

  it("refuses a session timeout outside the configured bounds", () => {
    const s = new Scenario()
    expect(replied(s.add("a", 0, { sessionTimeoutMs: 5_999 }).reply).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT)
    expect(replied(s.add("a", 0, { sessionTimeoutMs: 1_800_001 }).reply).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT)
    expect(s.group?.members.size ?? 0).toBe(0)
  })

  it("refuses an empty group id and a member id the group does not know", () => {
    const s = new Scenario()
    expect(replied(s.join("", 0, { groupId: "" }).reply).errorCode).toBe(ErrorCode.INVALID_GROUP_ID)
    expect(replied(new Scenario().join("ghost", 0).reply).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
    const stable = stableGroup(["a"])
    expect(replied(stable.join("ghost", 0).reply).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
  })

  it("a second member joining a Stable group starts a rebalance that completes when the first rejoins", () => {
    const s = stableGroup(["a"])
    const d = s.add("b", 100)
    expect(tags(d)).toEqual(["MemberJoined", "GroupRebalanceStarted"])
    expect(d.reply).toEqual({ _tag: "Await", memberId: "b" })
    expect(s.state.state).toBe("PreparingRebalance")
    // The first member learns of it from its heartbeat, then rejoins.
    expect(s.heartbeat("a", 200).reply.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS)
    const rejoin = s.join("a", 300)
    expect(tags(rejoin)).toEqual(["MemberJoined", "GroupGenerationCompleted"])
    expect(s.state).toMatchObject({ state: "CompletingRebalance", generationId: 2, leaderId: "a" })
    expect(generationJoinResponse(s.state, "a").members.map((m) => m.memberId)).toEqual(["a", "b"])
    expect(generationJoinResponse(s.state, "b")).toMatchObject({ leader: "a", generationId: 2, members: [] })
  })

  it("keeps the leader across generations while it stays, and hands it on when it leaves", () => {
    const s = stableGroup(["a", "b", "c"])
    expect(s.state.leaderId).toBe("a")
    s.add("d", 10)
    for (const id of ["c", "b", "a"]) s.join(id, 20)
    expect(s.state).toMatchObject({ generationId: 4, leaderId: "a" })
    s.leave([["a", null]], 30)
    expect(s.state.leaderId).toBe("b")
  })

  it("answers a follower that rejoins a Stable group unchanged with the current generation, without a rebalance", () => {
    const s = stableGroup(["a", "b"])
    const d = s.join("b", 10)
    expect(d.events).toEqual([])
    expect(replied(d.reply)).toMatchObject({ errorCode: 0, generationId: 2, leader: "a", memberId: "b", members: [] })
    // The leader rejoining, or a member with new metadata, forces one.
    expect(tags(s.join("a", 20))).toEqual(["MemberJoined", "GroupRebalanceStarted"])
  })

  it("rebalances when a member rejoins with changed metadata", () => {
    const s = stableGroup(["a", "b"])
    expect(tags(s.join("b", 10, { protocols: [proto("range", 9)] }))).toEqual(["MemberJoined", "GroupRebalanceStarted"])
  })

  it("waits group.initial.rebalance.delay.ms for more members before the first generation", () => {
    const s = new Scenario({ ...policy, initialRebalanceDelayMs: 3_000 })
    expect(tags(s.add("a", 0))).toEqual(["MemberJoined", "GroupRebalanceStarted"])
    expect(tags(s.add("b", 1_000))).toEqual(["MemberJoined"])
    expect(s.tick(2_999).events).toEqual([])
    // b joined during the delay: one more delay (Kafka's InitialDelayedJoin).
    expect(tags(s.tick(3_000))).toEqual(["GroupRebalanceTimerRearmed"])
    expect(tags(s.tick(6_000))).toEqual(["GroupGenerationCompleted"])
    expect(s.state).toMatchObject({ generationId: 1, leaderId: "a" })
    expect([...s.state.members.keys()]).toEqual(["a", "b"])
  })
})

describe("protocol selection", () => {
  it("chooses a protocol every member supports, by vote", () => {
    const s = new Scenario({ ...policy, initialRebalanceDelayMs: 10 })
    s.add("a", 0, { protocols: [proto("range"), proto("roundrobin")] })
    s.add("b", 1, { protocols: [proto("roundrobin"), proto("range")] })
    s.add("c", 2, { protocols: [proto("range"), proto("roundrobin"), proto("sticky")] })
    s.tick(100)
    s.tick(200)
    expect(s.state).toMatchObject({ state: "CompletingRebalance", protocolName: "range" })
  })

  it("only counts protocols all members support, and breaks a tie by the leader's preference", () => {
    const s = new Scenario({ ...policy, initialRebalanceDelayMs: 10 })
    s.add("a", 0, { protocols: [proto("sticky"), proto("range"), proto("roundrobin")] })
    s.add("b", 1, { protocols: [proto("roundrobin"), proto("range")] })
    s.tick(100)
    s.tick(200)
    // sticky is a's first choice but b lacks it; range and roundrobin tie 1-1; a prefers range.
    expect(s.state.protocolName).toBe("range")
  })

  it("refuses a member that shares no protocol, or has another protocol type, with INCONSISTENT_GROUP_PROTOCOL", () => {
    const s = stableGroup(["a"])
    expect(replied(s.add("b", 10, { protocols: [proto("roundrobin")] }).reply).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    expect(replied(s.add("b", 10, { protocolType: "connect" }).reply).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    expect(replied(s.join("a", 10, { protocols: [proto("roundrobin")] }).reply).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    expect(replied(new Scenario().add("x", 0, { protocols: [] }).reply).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
    expect(s.state.members.size).toBe(1)
  })
})

describe("SyncGroup", () => {
  it("the leader's assignment completes the generation: Stable, each member's part stored", () => {
    const s = new Scenario()
    s.add("a", 0)
    s.add("b", 0)
    s.join("a", 0)
    const d = s.sync("a", 5, [["a", [1, 1]], ["b", [2, 2]]])
    expect(tags(d)).toEqual(["MemberSyncReceived", "GroupAssignmentsSynced"])
    expect(d.reply).toEqual({ _tag: "Await", memberId: "a" })
    expect(s.state.state).toBe("Stable")
    expect(s.state.members.get("b")!.assignment).toEqual(bytes(2, 2))
  })

  it("a follower that syncs before the leader waits; the leader's sync gives it its assignment", () => {
    const s = new Scenario()
    s.add("a", 0)
    s.add("b", 0)
    s.join("a", 0)
    const follower = s.sync("b", 1)
    expect(follower.reply).toEqual({ _tag: "Await", memberId: "b" })
    expect(tags(follower)).toEqual(["MemberSyncReceived"])
    expect(s.state.members.get("b")!.awaitingSync).toBe(true)
    s.sync("a", 2, [["b", [7]]])
    expect(s.state.members.get("b")).toMatchObject({ assignment: bytes(7), awaitingSync: false })
    expect(s.state.members.get("a")!.assignment).toEqual(new Uint8Array(0)) // left out: empty
  })

  it("answers a sync in a Stable group with the member's assignment", () => {
    const s = stableGroup(["a", "b"])
    const d = s.sync("b", 10)
    expect(d.reply).toEqual({ _tag: "Reply", response: { errorCode: 0, protocolType: "consumer", protocolName: "range", assignment: bytes(1) } })
  })

  it("refuses unknown members, old generations and syncs during PreparingRebalance", () => {
    const s = stableGroup(["a"])
    const err = (d: Decision<unknown>) => (d.reply as { response: { errorCode: number } }).response.errorCode
    expect(err(s.sync("ghost", 1))).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
    expect(err(s.sync("a", 1, [], 0))).toBe(ErrorCode.ILLEGAL_GENERATION)
    s.add("b", 2)
    expect(err(s.sync("a", 3))).toBe(ErrorCode.REBALANCE_IN_PROGRESS)
    expect(err(new Scenario().sync("a", 0, [], 0))).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
  })

  it("a rebalance starting in CompletingRebalance voids handed-out assignments", () => {
    const s = new Scenario()
    s.add("a", 0)
    s.sync("a", 1, [["a", [1]]])
    s.add("b", 2)
    s.join("a", 2)
    expect(s.state.state).toBe("CompletingRebalance")
    s.sync("b", 3)
    s.add("c", 4)
    expect(s.state.state).toBe("PreparingRebalance")
    expect(s.state.members.get("b")).toMatchObject({ awaitingSync: false, assignment: new Uint8Array(0) })
  })
})

describe("Heartbeat", () => {
  it("is NONE when Stable or CompletingRebalance, REBALANCE_IN_PROGRESS while preparing one", () => {
    const s = stableGroup(["a"])
    expect(s.heartbeat("a", 1).reply.errorCode).toBe(ErrorCode.NONE)
    s.add("b", 2)
    expect(s.heartbeat("a", 3).reply.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS)
    s.join("a", 4)
    expect(s.state.state).toBe("CompletingRebalance")
    expect(s.heartbeat("a", 5).reply.errorCode).toBe(ErrorCode.NONE)
  })

  it("reports unknown members and old generations, and counts as being heard from", () => {
    const s = stableGroup(["a"])
    expect(s.heartbeat("ghost", 1).reply.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
    expect(s.heartbeat("a", 1, 0).reply.errorCode).toBe(ErrorCode.ILLEGAL_GENERATION)
    expect(new Scenario().heartbeat("a", 1, 1).reply.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
    s.heartbeat("a", 7_000)
    expect(s.state.members.get("a")!.lastHeardAt).toBe(7_000)
  })
})

describe("timeouts", () => {
  it("removes a member not heard from within its session timeout and rebalances the rest", () => {
    const s = stableGroup(["a", "b"])
    s.heartbeat("b", 5_000)
    expect(s.tick(9_999).events).toEqual([])
    const d = s.tick(10_000)
    expect(d.events.map((e) => [e._tag, (e as { reason?: string }).reason])).toEqual([
      ["MemberRemoved", "session-timeout"],
      ["GroupRebalanceStarted", undefined]
    ])
    expect([...s.state.members.keys()]).toEqual(["b"])
    expect(s.state.leaderId).toBe("b")
  })

  it("a group whose last member times out becomes Empty with a new generation", () => {
    const s = stableGroup(["a"])
    expect(tags(s.tick(10_000))).toEqual(["MemberRemoved", "GroupRebalanceStarted", "GroupGenerationCompleted"])
    expect(s.state).toMatchObject({ state: "Empty", generationId: 2, leaderId: null, protocolName: null, protocolType: "consumer" })
  })

  it("removes members that did not rejoin by the rebalance timeout and completes with the rest", () => {
    const s = stableGroup(["a", "b"])
    s.add("c", 1_000) // rebalance timeout 30 s: deadline 31 000
    s.join("a", 2_000)
    // b keeps heartbeating (so its session holds) but never rejoins.
    for (let t = 5_000; t <= 30_000; t += 5_000) s.heartbeat("b", t)
    expect(s.tick(30_999).events).toEqual([])
    const d = s.tick(31_000)
    expect(d.events.map((e) => [e._tag, (e as { reason?: string }).reason ?? null])).toEqual([
      ["MemberRemoved", "rebalance-timeout"],
      ["GroupGenerationCompleted", null]
    ])
    expect(s.state).toMatchObject({ state: "CompletingRebalance", generationId: 3, leaderId: "a" })
    expect([...s.state.members.keys()]).toEqual(["a", "c"])
  })

  it("keeps members waiting for their JoinGroup answer alive past their session timeout", () => {
    const s = stableGroup(["a", "b"])
    s.add("c", 0)
    s.join("a", 0)
    s.heartbeat("b", 9_000)
    // a and c wait on the rebalance; only the rebalance timeout can drop them now.
    expect(s.tick(15_000).events).toEqual([])
    expect(s.state.members.size).toBe(3)
  })

  it("forgets a pending member id that is not used within the session timeout", () => {
    const s = stableGroup(["a"])
    s.join("", 0, { apiVersion: 4, newMemberId: "p" })
    s.heartbeat("a", 9_000)
    expect(tags(s.tick(10_000))).toEqual(["PendingMemberRemoved"])
    expect(s.state.pendingMembers.size).toBe(0)
  })

  it("removes members that never send SyncGroup within the rebalance timeout", () => {
    const s = new Scenario()
    s.add("a", 0)
    s.add("b", 0)
    s.join("a", 0)
    s.sync("a", 1, [["a", [1]], ["b", [2]]])
    for (let t = 5_000; t < 30_000; t += 5_000) { s.heartbeat("a", t); s.heartbeat("b", t) }
    const d = s.tick(30_000)
    expect(d.events.map((e) => [e._tag, (e as { reason?: string }).reason ?? null])).toEqual([
      ["MemberRemoved", "sync-timeout"],
      ["GroupRebalanceStarted", null]
    ])
    expect([...s.state.members.keys()]).toEqual(["a"])
  })

  it("a restart gives every member a fresh session from boot and clears what waited on old connections", () => {
    const s = stableGroup(["a", "b"])
    s.add("c", 100)
    const after = resumed(s.state, 50_000)
    expect([...after.members.values()].map((m) => [m.lastHeardAt, m.awaitingJoin, m.isNew])).toEqual([
      [50_000, false, false],
      [50_000, false, false],
      [50_000, false, false]
    ])
    expect(after.rebalance!.deadline).toBe(80_000)
  })
})

describe("LeaveGroup", () => {
  it("removes the member and rebalances the others", () => {
    const s = stableGroup(["a", "b"])
    const d = s.leave([["b", null]], 10)
    expect(tags(d)).toEqual(["MemberRemoved", "GroupRebalanceStarted"])
    expect(d.reply).toEqual({ errorCode: 0, members: [{ memberId: "b", groupInstanceId: null, errorCode: 0 }] })
    expect(tags(s.join("a", 20))).toEqual(["MemberJoined", "GroupGenerationCompleted"])
  })

  it("the last member leaving empties the group", () => {
    const s = stableGroup(["a"])
    s.leave([["a", null]], 10)
    expect(s.state).toMatchObject({ state: "Empty", generationId: 2 })
  })

  it("reports unknown members per member (v3+) or as the top-level error (v0-v2)", () => {
    const s = stableGroup(["a"])
    expect(s.leave([["ghost", null]], 1, 1).reply).toMatchObject({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID })
    expect(s.leave([["ghost", null], ["a", null]], 1, 3).reply).toEqual({
      errorCode: 0,
      members: [
        { memberId: "ghost", groupInstanceId: null, errorCode: ErrorCode.UNKNOWN_MEMBER_ID },
        { memberId: "a", groupInstanceId: null, errorCode: 0 }
      ]
    })
    expect(new Scenario().leave([["a", null]], 1, 0).reply.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
  })

  it("removes a static member named by its group.instance.id alone (v3+)", () => {
    const s = new Scenario()
    s.add("s1", 0, { groupInstanceId: "i1", apiVersion: 5 })
    expect(s.leave([["", "i1"]], 1).reply.members[0]!.errorCode).toBe(0)
    expect(s.state.members.size).toBe(0)
  })
})

describe("static membership (KIP-345)", () => {
  it("a static member that rejoins a Stable group without its id replaces the old one without a rebalance", () => {
    const s = new Scenario()
    s.add("s1", 0, { groupInstanceId: "i1", apiVersion: 5 })
    s.sync("s1", 1, [["s1", [5]]])
    const d = s.join("", 10, { groupInstanceId: "i1", apiVersion: 5, newMemberId: "s2" })
    expect(tags(d)).toEqual(["StaticMemberReplaced"])
    expect(replied(d.reply)).toMatchObject({ errorCode: 0, memberId: "s2", generationId: 1, leader: "s1", members: [] })
    expect(s.state.members.get("s2")!.assignment).toEqual(bytes(5))
    // The old id is fenced.
    expect(s.heartbeat("s1", 11, 1, "i1").reply.errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID)
    expect(s.heartbeat("s2", 11, 1, "i1").reply.errorCode).toBe(ErrorCode.NONE)
  })
})

describe("OffsetCommit", () => {
  it("accepts a commit from outside group management (generation -1, no member) for an unknown or empty group", () => {
    const s = new Scenario()
    const d = s.commit("", -1, 5)
    expect(commitError(d)).toBe(ErrorCode.NONE)
    expect(tags(d)).toEqual(["GroupOffsetsCommitted"])
    expect(s.state.offsets.get("t")!.get(0)).toEqual({ offset: 42, leaderEpoch: 3, metadata: "meta", commitTimestamp: 5 })
  })

  it("refuses a standalone commit while the group has members, and validates member and generation", () => {
    const s = stableGroup(["a"])
    expect(commitError(s.commit("", -1, 1))).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
    expect(commitError(s.commit("ghost", 1, 1))).toBe(ErrorCode.UNKNOWN_MEMBER_ID)
    expect(commitError(s.commit("a", 0, 1))).toBe(ErrorCode.ILLEGAL_GENERATION)
    expect(commitError(s.commit("a", 1, 1))).toBe(ErrorCode.NONE)
    expect(commitError(new Scenario().commit("a", 3, 1))).toBe(ErrorCode.ILLEGAL_GENERATION)
  })

  it("accepts a current member's commit during PreparingRebalance and refuses it during CompletingRebalance", () => {
    const s = stableGroup(["a"])
    s.add("b", 1)
    expect(commitError(s.commit("a", 1, 2, 7))).toBe(ErrorCode.NONE)
    s.join("a", 3)
    expect(s.state.state).toBe("CompletingRebalance")
    const d = s.commit("a", 2, 4, 8)
    expect(commitError(d)).toBe(ErrorCode.REBALANCE_IN_PROGRESS)
    expect(d.events).toEqual([])
    expect(s.state.offsets.get("t")!.get(0)!.offset).toBe(7)
  })

  it("refuses metadata longer than offset.metadata.max.bytes, and stores null metadata as empty", () => {
    const s = new Scenario()
    expect(commitError(s.commit("", -1, 1, 1, "x".repeat(4097)))).toBe(ErrorCode.OFFSET_METADATA_TOO_LARGE)
    expect(s.group?.offsets.size ?? 0).toBe(0)
    s.commit("", -1, 1, 1, null)
    expect(s.state.offsets.get("t")!.get(0)!.metadata).toBe("")
  })
})

describe("replay and views", () => {
  it("folding only the stored events rebuilds the group; the snapshot round-trips it", () => {
    const s = new Scenario()
    const all = [
      ...s.add("a", 0).events,
      ...s.add("b", 0).events,
      ...s.join("a", 0).events,
      ...s.sync("b", 1).events,
      ...s.sync("a", 2, [["a", [1]], ["b", [2]]]).events,
      ...s.heartbeat("a", 3).events,
      ...s.commit("a", 2, 4).events
    ]
    const replayed = evolveAll(undefined, all.filter(isDurable))!
    const durable = (g: GroupState) => ({
      state: g.state,
      generationId: g.generationId,
      leaderId: g.leaderId,
      protocolName: g.protocolName,
      members: [...g.members.values()].map((m) => [m.memberId, m.assignment, m.protocols]),
      offsets: [...g.offsets].map(([t, p]) => [t, [...p]])
    })
    expect(durable(replayed)).toEqual(durable(s.state))
    const restored = decodeGroups(JSON.parse(JSON.stringify(encodeGroups([s.state])))).get("g")!
    expect(durable(restored)).toEqual(durable(s.state))
  })

  it("fetches committed offsets (-1 where none, all of them for null topics)", () => {
    const s = new Scenario()
    s.commit("", -1, 1, 9)
    expect(fetchOffsets(s.state, { groupId: "g", topics: [{ name: "t", partitionIndexes: [0, 1] }] }).topics[0]!.partitions).toEqual([
      { partitionIndex: 0, committedOffset: 9, committedLeaderEpoch: 3, metadata: "meta", errorCode: 0 },
      { partitionIndex: 1, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: 0 }
    ])
    expect(fetchOffsets(s.state, { groupId: "g", topics: null }).topics.map((t) => t.name)).toEqual(["t"])
    expect(fetchOffsets(undefined, { groupId: "x", topics: null }).topics).toEqual([])
  })

  it("describes groups as Kafka does (metadata and assignment only when Stable, unknown is Dead) and lists them", () => {
    const s = stableGroup(["a"])
    expect(describeGroup(s.state, "g", 5)).toMatchObject({
      groupState: "Stable",
      protocolType: "consumer",
      protocolData: "range",
      members: [{ memberId: "a", clientId: "a", clientHost: "/127.0.0.1", memberMetadata: bytes(1), memberAssignment: bytes(0) }]
    })
    expect(describeGroup(undefined, "nope", 5)).toEqual({
      errorCode: 0,
      groupId: "nope",
      groupState: "Dead",
      protocolType: "",
      protocolData: "",
      members: []
    })
    s.add("b", 1)
    expect(describeGroup(s.state, "g", 5)).toMatchObject({ groupState: "PreparingRebalance", protocolData: "" })
    expect(listGroups([s.state])).toEqual({ errorCode: 0, groups: [{ groupId: "g", protocolType: "consumer", groupState: "PreparingRebalance" }] })
    expect(listGroups([s.state], ["stable"]).groups).toEqual([])
  })
})
