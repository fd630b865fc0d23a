/**
 * OffsetDelete: the members' subscriptions read from their JoinGroup metadata (the bytes kafkajs
 * itself encodes), the decider (unknown -> GROUP_ID_NOT_FOUND; Empty -> deleted; a consumer
 * group with members -> GROUP_SUBSCRIBED_TO_TOPIC for its topics, deleted for the others; any
 * other group with members -> NON_EMPTY_GROUP), and GroupCoordinator.deleteOffsets (gone from
 * OffsetFetch once durable, and still gone after a rebuild).
 */
import { createRequire } from "node:module"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { DeleteOffsets } from "../../../domain/group/commands.js"
import { decideDeleteOffsets } from "../../../domain/group/decideDeleteOffsets.js"
import { GroupOffsetsCommitted, GroupPartitionOffsetsDeleted } from "../../../domain/group/events.js"
import { evolve } from "../../../domain/group/evolve.js"
import { defaultGroupPolicy, emptyGroup, type GroupState, type Member } from "../../../domain/group/Group.js"
import { subscribedTopics, subscriptionTopics } from "../../../domain/group/subscription.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import * as MemoryEventStore from "../../../layers/storage-memory/MemoryEventStore.js"
import { adminCommit, coordinator } from "./support.js"

const require = createRequire(import.meta.url)
const { MemberMetadata } = require("kafkajs/src/consumer/assignerProtocol.js") as {
  MemberMetadata: { encode: (m: { version: number; topics: Array<string>; userData?: Buffer }) => Buffer }
}

/** ConsumerProtocolSubscription bytes as kafkajs sends them in JoinGroup. */
const subscription = (...topics: Array<string>) => new Uint8Array(MemberMetadata.encode({ version: 1, topics, userData: Buffer.from("ud") }))

const member = (memberId: string, metadata: Uint8Array): Member => ({
  memberId,
  groupInstanceId: null,
  clientId: memberId,
  clientHost: "/127.0.0.1",
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 10_000,
  protocolType: "consumer",
  protocols: [{ name: "RoundRobinAssigner", metadata }],
  assignment: new Uint8Array(0),
  lastHeardAt: 0,
  isNew: false,
  awaitingJoin: false,
  awaitingSync: false
})

/** Offsets committed for t-0, t-1 and u-0. */
const withOffsets = (group: GroupState): GroupState =>
  evolve(group, new GroupOffsetsCommitted({
    groupId: "g",
    offsets: [["t", 0], ["t", 1], ["u", 0]].map(([topic, partition]) => ({ topic: topic as string, partition: partition as number, offset: 7, leaderEpoch: -1, metadata: "" })),
    at: 1
  }))

const stable = (protocolType: string, ...metadata: Array<Uint8Array>): GroupState => ({
  ...withOffsets(emptyGroup("g")),
  state: "Stable",
  generationId: 3,
  protocolType,
  protocolName: "RoundRobinAssigner",
  leaderId: "m0",
  members: new Map(metadata.map((m, i) => [`m${i}`, member(`m${i}`, m)]))
})

const cmd = (topics: Record<string, Array<number>>): DeleteOffsets => ({
  _tag: "DeleteOffsets",
  groupId: "g",
  topics: Object.entries(topics).map(([name, partitions]) => ({ name, partitions: partitions.map((partitionIndex) => ({ partitionIndex })) }))
})

const remaining = (group: GroupState) => [...group.offsets].flatMap(([topic, ps]) => [...ps.keys()].map((p) => `${topic}-${p}`)).sort()

describe("consumer subscriptions", () => {
  it("reads the topics of kafkajs's member metadata; garbage is unknown", () => {
    expect(subscriptionTopics(subscription("orders", "päyments"))).toEqual(["orders", "päyments"])
    expect(subscriptionTopics(subscription())).toEqual([])
    expect(subscriptionTopics(Uint8Array.from([0, 1, 0, 0, 0, 9, 0, 1]))).toBeUndefined()
    expect(subscriptionTopics(Uint8Array.from([0, 1]))).toBeUndefined()
    expect(subscribedTopics(stable("consumer", subscription("t"), subscription("v", "t")))).toEqual(new Set(["t", "v"]))
    expect(subscribedTopics(stable("consumer", subscription("t"), Uint8Array.from([9])))).toBeUndefined()
    expect(subscribedTopics(stable("connect", subscription("t")))).toBeUndefined()
  })
})

describe("decideDeleteOffsets", () => {
  const decide = (group: GroupState | undefined, topics: Record<string, Array<number>>) =>
    decideDeleteOffsets(group, cmd(topics), 5, defaultGroupPolicy)

  it("an unknown or deleted group is GROUP_ID_NOT_FOUND, with no partitions", () => {
    expect(decide(undefined, { t: [0] })).toMatchObject({ events: [], reply: { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: [] } })
    expect(decide({ ...emptyGroup("g"), state: "Dead" }, { t: [0] }).reply.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND)
  })

  it("an Empty group forgets every partition asked for; one without an offset is answered NONE too", () => {
    const d = decide(withOffsets(emptyGroup("g")), { t: [0, 5], u: [0] })
    expect(d.reply).toEqual({
      errorCode: ErrorCode.NONE,
      topics: [
        { name: "t", partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 5, errorCode: 0 }] },
        { name: "u", partitions: [{ partitionIndex: 0, errorCode: 0 }] }
      ]
    })
    expect(d.events).toEqual([
      new GroupPartitionOffsetsDeleted({ groupId: "g", partitions: [{ topic: "t", partition: 0 }, { topic: "u", partition: 0 }], at: 5 })
    ])
    expect(remaining(d.state)).toEqual(["t-1"])
    expect(decide(d.state, { t: [0] }).events).toEqual([])
  })

  it("a consumer group with members keeps the offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC)", () => {
    const d = decide(stable("consumer", subscription("t")), { t: [0, 1], u: [0] })
    expect(d.reply.topics).toEqual([
      { name: "t", partitions: [{ partitionIndex: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }, { partitionIndex: 1, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }] },
      { name: "u", partitions: [{ partitionIndex: 0, errorCode: 0 }] }
    ])
    expect(remaining(d.state)).toEqual(["t-0", "t-1"])
    // Subscriptions that cannot be read count as every topic.
    expect(decide(stable("consumer", Uint8Array.from([1])), { u: [0] }).reply.topics[0]!.partitions[0]!.errorCode).toBe(
      ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
    )
  })

  it("any other group with members is NON_EMPTY_GROUP", () => {
    expect(decide(stable("connect", subscription("t")), { u: [0] })).toMatchObject({
      events: [],
      reply: { errorCode: ErrorCode.NON_EMPTY_GROUP, topics: [] }
    })
  })
})

describe("GroupCoordinator.deleteOffsets", () => {
  it.scoped("forgets the partitions durably, including an offset committed just before; a rebuild keeps them gone", () =>
    Effect.gen(function*() {
      const store = yield* MemoryEventStore.make
      type Coordinator = Effect.Effect.Success<ReturnType<typeof coordinator>>
      const committed = (gc: Coordinator) =>
        Effect.map(gc.fetchOffsets({ groupId: "g", topics: null }), (r) =>
          r.topics.flatMap((t) => t.partitions.map((p) => `${t.name}-${p.partitionIndex}@${p.committedOffset}`)).sort())

      yield* Effect.scoped(Effect.gen(function*() {
        const gc = yield* coordinator(store)
        yield* gc.commitOffsets(adminCommit("g", [["t", 0, 4], ["t", 1, 6]]))
        // Decided and queued, not yet durable: the deletion must still see it.
        const late = yield* Effect.fork(gc.commitOffsets(adminCommit("g", [["u", 0, 9]])))
        yield* Effect.yieldNow()
        const reply = yield* gc.deleteOffsets({ groupId: "g", topics: [{ name: "t", partitions: [{ partitionIndex: 0 }] }, { name: "u", partitions: [{ partitionIndex: 0 }] }] })
        yield* late.await
        expect(reply.errorCode).toBe(ErrorCode.NONE)
        expect(yield* committed(gc)).toEqual(["t-1@6"])
        expect((yield* gc.deleteOffsets({ groupId: "nope", topics: [] })).errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND)
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const gc = yield* coordinator(store)
        expect(yield* committed(gc)).toEqual(["t-1@6"])
      }))
    }))
})
