/**
 * Control-plane streams shared by two nodes in one process: each node has its own local event
 * store and a ClusterEventStore over one memory Coordination (the same contract as etcd's; the
 * process test, control-plane-etcd.test.ts, runs real etcd). A ban added on one node is in force
 * and enforced on the other; two nodes changing the same stream at once: one wins, the other
 * meets a version conflict, folds the winner's events and decides again.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as ClusterEventStore from "../../layers/coordination/ClusterEventStore.js"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import * as MemoryEventStore from "../../layers/storage-memory/MemoryEventStore.js"
import type { CoordinationService } from "../../services/Coordination.js"
import { EventStore } from "../../services/EventStore.js"
import { StreamFeed } from "../../services/StreamFeed.js"
import * as BansLive from "../../src/bans/Bans.js"
import { Bans } from "../../src/bans/Bans.js"
import { CLUSTER_STREAMS } from "../../src/cluster/controlPlane.js"
import * as ControlStream from "../../src/meta/ControlStream.js"
import * as TopicsLive from "../../src/meta/Topics.js"
import { Topics } from "../../src/meta/Topics.js"
import * as BrokerConfig from "../../config/BrokerConfig.js"
import { defaultConfig } from "../../config/BrokerConfigShape.js"
import * as TopicPolicies from "../../layers/TopicPolicies.js"

/** One node's storage: its own memory store, cluster streams through `coordination`. */
const nodeStorage = (coordination: CoordinationService, streams: ReadonlySet<string> = CLUSTER_STREAMS) =>
  Layer.effectContext(Effect.gen(function*() {
    const local = yield* MemoryEventStore.make
    const { feed, store } = ClusterEventStore.make(coordination, local, streams)
    return Context.make(EventStore, store).pipe(Context.add(StreamFeed, feed))
  }))

const eventually = <A>(what: string, read: () => A, ok: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const a = read()
      if (ok(a)) return a
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

class Noted extends Schema.TaggedClass<Noted>()("Noted", { text: Schema.String }) {}
const encode = Schema.encodeSync(Noted)
const decode = Schema.decodeUnknownSync(Noted)

/** A read model of a list of notes, as the real ones are built (ControlStream). */
const notes = Effect.gen(function*() {
  const seen: Array<string> = []
  const stream = yield* ControlStream.make<Noted>({ stream: "notes", encode, decode, apply: (e) => void seen.push(e.text) })
  return { seen, stream }
})

describe("control-plane streams shared by two nodes (memory coordination)", () => {
  it("a ban added on node A is in force on node B at once and closes B's connections it covers", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const coordination = (yield* MemoryCoordination.make).service
      const a = yield* Layer.build(BansLive.layer.pipe(Layer.provide(nodeStorage(coordination))))
      const b = yield* Layer.build(BansLive.layer.pipe(Layer.provide(nodeStorage(coordination))))
      const bansA = Context.get(a, Bans)
      const bansB = Context.get(b, Bans)
      const closedOnB: Array<string> = []
      yield* bansB.enforce((ban) => {
        closedOnB.push(`${ban.kind}:${ban.value}`)
        return 1
      })
      yield* bansA.add({ kind: "clientid", value: "intruder", reason: "test" })
      yield* eventually("node B to know the ban", () => bansB.isBanned("intruder", undefined, ""), (ban) => ban !== null)
      expect(closedOnB).toEqual(["clientid:intruder"])
      // And back: B lifts it, A lets the client in again.
      yield* bansB.remove("clientid", "intruder")
      yield* eventually("node A to see the ban lifted", () => bansA.isBanned("intruder", undefined, ""), (ban) => ban === null)
      // A node that starts later replays the stream from the coordination service.
      const c = yield* Layer.build(BansLive.layer.pipe(Layer.provide(nodeStorage(coordination))))
      yield* Context.get(a, Bans).add({ kind: "username", value: "mallory" })
      yield* eventually("node C to know the later ban", () => Context.get(c, Bans).isBanned("x", "mallory", ""), (ban) => ban !== null)
    }))))

  it("two nodes appending to one stream at once: one wins, the other gets a version conflict, folds the winner's event and decides again", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const coordination = (yield* MemoryCoordination.make).service
      const streams = new Set(["notes"])
      const a = yield* Effect.provide(notes, nodeStorage(coordination, streams))
      const b = yield* Effect.provide(notes, nodeStorage(coordination, streams))
      // B decides on version 0; before it appends, A's append lands (as if on another machine).
      let decisions = 0
      const states: Array<ReadonlyArray<string>> = []
      yield* b.stream.change(Effect.gen(function*() {
        decisions++
        states.push([...b.seen])
        if (decisions === 1) yield* a.stream.change(Effect.succeed({ events: [new Noted({ text: "from A" })], result: undefined }))
        return { events: [new Noted({ text: `from B after ${b.seen.length}` })], result: undefined }
      }))
      expect(decisions).toBe(2) // the first append met A's and was decided again
      expect(states).toEqual([[], ["from A"]])
      expect(b.seen).toEqual(["from A", "from B after 1"])
      yield* eventually("node A to fold B's note", () => a.seen.length, (n) => n === 2)
      expect(a.seen).toEqual(["from A", "from B after 1"])
      expect(a.stream.version()).toBe(2)
      // The store itself refuses a stale expected version with VersionConflict.
      const store = yield* Effect.provide(EventStore, nodeStorage(coordination, streams))
      const stale = yield* Effect.flip(store.append("notes", [{ type: "Noted", data: encode(new Noted({ text: "late" })) }], 1))
      expect(stale).toMatchObject({ _tag: "VersionConflict", stream: "notes", expected: 1, actual: 2 })
      expect((yield* store.readStream("notes")).map((r) => r.version)).toEqual([1, 2])
    }))))

  it("many changes from two nodes at once all land, each once, in one order both nodes agree on", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const coordination = (yield* MemoryCoordination.make).service
      const streams = new Set(["notes"])
      const a = yield* Effect.provide(notes, nodeStorage(coordination, streams))
      const b = yield* Effect.provide(notes, nodeStorage(coordination, streams))
      const note = (node: typeof a, text: string) =>
        Effect.zipRight(Effect.yieldNow(), node.stream.change(Effect.sync(() => ({ events: [new Noted({ text })], result: undefined }))))
      yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => note(i % 2 === 0 ? a : b, `n${i}`)),
        { concurrency: "unbounded" }
      )
      yield* eventually("both nodes to fold 20 notes", () => [a.seen.length, b.seen.length], ([x, y]) => x === 20 && y === 20)
      expect(a.seen).toEqual(b.seen)
      expect([...a.seen].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`).sort())
    }))))

  it("nodes starting at once each make sure of the MQTT topic: created once, and none of them fails", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const memory = (yield* MemoryCoordination.make).service
      // Appends take a round trip, as to etcd: every node decides before any append lands.
      const coordination: CoordinationService = {
        ...memory,
        appendIfVersion: (stream, expected, values) => Effect.zipRight(Effect.sleep("20 millis"), memory.appendIfVersion(stream, expected, values))
      }
      const config = { ...defaultConfig, storage: { ...defaultConfig.storage, partitions: 4 } }
      const node = TopicsLive.layer.pipe(
        Layer.provide(nodeStorage(coordination)),
        Layer.provide(BrokerConfig.layer(config)),
        Layer.provide(TopicPolicies.layer(TopicPolicies.defaultsFrom({ ...config.storage, kind: "memory" })))
      )
      const started = yield* Effect.all([Layer.build(node), Layer.build(node), Layer.build(node)], { concurrency: "unbounded" })
      for (const ctx of started) expect(Context.get(ctx, Topics).get(config.kafka.mqttTopic)?.partitions).toBe(4)
      const store = yield* Effect.provide(EventStore, nodeStorage(coordination))
      expect((yield* store.readStream(TopicsLive.TOPICS_STREAM)).map((r) => r.type)).toEqual(["TopicCreated"])
    }))))
})
