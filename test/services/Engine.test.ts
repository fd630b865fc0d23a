/**
 * The MQTT engine as a service over injected memory storage layers: routing rules and the
 * event-sourced rebuild (a second Engine over the same storage replays the first one's
 * events and log). The outlet stands in for a socket and records the frames it is handed.
 */
import { expect, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as mqttPacket from "mqtt-packet"
import { defaultConfig } from "../../config/BrokerConfigShape.js"
import * as MessageLogLive from "../../layers/MessageLogLive.js"
import * as Storage from "../../layers/Storage.js"
import { EventStore } from "../../services/EventStore.js"
import { MessageLog } from "../../services/MessageLog.js"
import { StreamMapping } from "../../domain/topic/StreamMapping.js"
import { makeEngine, shutdownEngine } from "../../src/mqtt/engine/MqttEngine.js"
import { applyRetention } from "../../src/mqtt/engine/retention.js"
import type { Outlet } from "../../src/mqtt/engine/LiveSession.js"
import { Message } from "../../src/mqtt/engine/Message.js"

class RecordingOutlet implements Outlet {
  readonly frames: Array<Buffer> = []
  readonly topicAliasMaximum = 0
  topicAlias() {
    return 0
  }
  forgetNewestTopicAlias() {}
  constructor(readonly version: number, readonly sendQuota = 10, readonly clientMaxPacketSize = 0) {}
  writeFrame(frame: Buffer) {
    this.frames.push(frame)
  }
  canWriteQos0() {
    return true
  }
  packets(): Array<mqttPacket.IPublishPacket> {
    const out: Array<mqttPacket.IPublishPacket> = []
    const parser = mqttPacket.parser({ protocolVersion: this.version as 4 | 5 })
    parser.on("packet", (p) => out.push(p as mqttPacket.IPublishPacket))
    for (const f of this.frames) parser.parse(f)
    return out
  }
}

/** Waits (bounded) until the outlet has been handed `n` PUBLISH packets; reads behind a cursor run in the background. */
const awaitPackets = (outlet: RecordingOutlet, n: number) =>
  Effect.gen(function*() {
    // Real time: it.effect runs a TestClock, under which Effect.sleep would never return.
    for (let i = 0; i < 200 && outlet.packets().length < n; i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
    return outlet.packets()
  })

const storage = MessageLogLive.layer.pipe(Layer.provideMerge(Storage.layer("memory", "")))
const freshEngine = Effect.gen(function*() {
  const mapping = new StreamMapping(defaultConfig.kafka.mqttTopic, [], () => 1)
  return yield* makeEngine(defaultConfig, yield* MessageLog, yield* EventStore, mapping)
})
const message = (topic: string, payload: string, qos: 0 | 1 | 2, origin = "pub") =>
  new Message(topic, Buffer.from(payload), qos, false, null, 0, origin, Date.now())
const sub = (filter: string, qos: number, extra: Partial<{ noLocal: boolean; subscriptionId: number }> = {}) => ({
  filter,
  qos,
  noLocal: extra.noLocal ?? false,
  retainAsPublished: false,
  retainHandling: 0
})

layer(storage)("Engine over memory storage", (it) => {
  it.effect("delivers one copy at the highest QoS with every subscription id for overlapping subscriptions [MQTT-3.3.4-2]", () =>
    Effect.gen(function*() {
      const engine = yield* freshEngine
      const { session } = engine.openSession("overlap", true, 0, null, () => {})
      const outlet = new RecordingOutlet(5)
      session.resume(outlet)
      engine.subscribe(session, 7, [sub("a/+", 0)])
      engine.subscribe(session, 9, [sub("a/#", 1)])
      expect(engine.publish(message("a/b", "x", 2))).toBe(1)
      const [p, ...rest] = outlet.packets()
      expect(rest).toHaveLength(0)
      expect(p!.qos).toBe(1)
      expect([...(p!.properties?.subscriptionIdentifier as Array<number>)].sort()).toEqual([7, 9])
    }))

  it.effect("no-local keeps a client's own messages from it [MQTT-3.8.3-3]", () =>
    Effect.gen(function*() {
      const engine = yield* freshEngine
      const { session } = engine.openSession("me", true, 0, null, () => {})
      const outlet = new RecordingOutlet(5)
      session.resume(outlet)
      engine.subscribe(session, 0, [sub("n/l", 1, { noLocal: true })])
      engine.publish(message("n/l", "mine", 1, "me"))
      engine.publish(message("n/l", "theirs", 1, "other"))
      expect(outlet.packets().map((p) => p.payload.toString())).toEqual(["theirs"])
    }))

  it.effect("holds QoS 1 beyond the send window until acknowledgements open it", () =>
    Effect.gen(function*() {
      const engine = yield* freshEngine
      const { session } = engine.openSession("window", true, 0, null, () => {})
      const outlet = new RecordingOutlet(4, 2)
      session.resume(outlet)
      engine.subscribe(session, 0, [sub("w", 1)])
      for (let i = 0; i < 5; i++) engine.publish(message("w", `m${i}`, 1))
      expect(outlet.packets().map((p) => p.payload.toString())).toEqual(["m0", "m1"])
      session.complete(outlet.packets()[0]!.messageId!)
      expect(outlet.packets().map((p) => p.payload.toString())).toEqual(["m0", "m1", "m2"])
    }))

  it.effect("a second engine over the same storage rebuilds a persistent session and its backlog", () =>
    Effect.gen(function*() {
      const first = yield* freshEngine
      const opened = first.openSession("durable", false, 3600, null, () => {})
      yield* opened.persist!
      const outlet = new RecordingOutlet(4)
      opened.session.resume(outlet)
      yield* first.subscribe(opened.session, 0, [sub("d/#", 1)]).persist!
      yield* first.closeSession(opened.session, outlet, null, 3600)!
      first.publish(message("d/1", "one", 1))
      first.publish(message("d/2", "two", 1))
      yield* (yield* MessageLog).flush
      yield* shutdownEngine(first)

      const second = yield* freshEngine
      const restored = second.sessions.get("durable")!
      expect(restored.subscriptions.has("d/#")).toBe(true)
      // Offline: its backlog stays in the log, behind a cursor, until the client is back.
      expect(restored.queue).toBe(null)
      expect(restored.cursor).not.toBe(null)
      const again = new RecordingOutlet(4)
      yield* second.openSession("durable", false, 3600, null, () => {}).persist!
      restored.resume(again)
      const packets = yield* awaitPackets(again, 2)
      expect(packets.map((p) => [p.topic, p.payload.toString(), p.qos])).toEqual([["d/1", "one", 1], ["d/2", "two", 1]])
    }))})

// Its own storage: sessions stored by the tests above would hold the log back.
it.scoped("retention deletes log records no persistent session needs and keeps a session's backlog (Kafka disabled)", () =>
  Effect.gen(function*() {
    const log = yield* MessageLog
    const config = { ...defaultConfig, kafka: { ...defaultConfig.kafka, enabled: false } }
    const mapping = new StreamMapping(config.kafka.mqttTopic, [], () => 1)
    const engine = yield* makeEngine(config, log, yield* EventStore, mapping)
    const tp = engine.partitionFor("r/x")
    const start = log.unsafeEndOffset(tp)
    for (let i = 0; i < 5; i++) engine.publish(message("r/x", `old${i}`, 1)) // nobody needs these
    yield* log.flush
    const opened = engine.openSession("keeper", false, 3600, null, () => {})
    yield* opened.persist!
    const outlet = new RecordingOutlet(4)
    opened.session.resume(outlet)
    yield* engine.subscribe(opened.session, 0, [sub("r/#", 1)]).persist!
    yield* engine.closeSession(opened.session, outlet, null, 3600)!
    for (let i = 0; i < 3; i++) {
      engine.publish(message("r/x", `kept${i}`, 1))
      yield* log.flush // one batch each, so retention can cut between them
    }
    yield* shutdownEngine(engine) // checkpoint, snapshot, retention
    const left = yield* log.read(tp, start, 1 << 20)
    expect(left.map((r) => Buffer.from(r.value!).toString())).toEqual(["kept0", "kept1", "kept2"])
  }).pipe(Effect.provide(storage)))

// Its own storage, for the same reason.
it.scoped("retention frees what a checkpoint covers only once that checkpoint is written (a crash restarts from the one before)", () =>
  Effect.gen(function*() {
    const log = yield* MessageLog
    const config = { ...defaultConfig, kafka: { ...defaultConfig.kafka, enabled: false } }
    const mapping = new StreamMapping(config.kafka.mqttTopic, [], () => 1)
    const engine = yield* makeEngine(config, log, yield* EventStore, mapping)
    const tp = engine.partitionFor("w/x")
    const start = log.unsafeEndOffset(tp)
    const opened = engine.openSession("writer", false, 3600, null, () => {})
    yield* opened.persist!
    const outlet = new RecordingOutlet(4)
    opened.session.resume(outlet)
    yield* engine.subscribe(opened.session, 0, [sub("w/#", 1)]).persist!
    for (let i = 0; i < 3; i++) {
      engine.publish(message("w/x", `m${i}`, 1))
      yield* log.flush
    }
    for (const p of outlet.packets()) opened.session.complete(p.messageId!) // all acknowledged
    const checkpoint = engine.sweep(Date.now(), true) // taken, its append not run yet
    expect(checkpoint.length).toBe(1)
    yield* applyRetention(engine)
    const kept = yield* log.read(tp, start, 1 << 20)
    expect(kept.map((r) => Buffer.from(r.value!).toString())).toEqual(["m0", "m1", "m2"])
    yield* Effect.all(checkpoint)
    yield* applyRetention(engine)
    const left = (yield* log.read(tp, start, 1 << 20)).map((r) => Buffer.from(r.value!).toString())
    expect(left).not.toContain("m0") // freed now (a driver may keep its last batch)
    expect(left).not.toContain("m1")
  }).pipe(Effect.provide(storage)))

// Its own storage, for the same reason.
it.scoped("after a crash (no shutdown), a new engine keeps a persistent session's whole backlog", () =>
  Effect.gen(function*() {
    const log = yield* MessageLog
    const first = yield* freshEngine
    const opened = first.openSession("crashy", false, 3600, null, () => {})
    yield* opened.persist!
    const outlet = new RecordingOutlet(4)
    opened.session.resume(outlet)
    yield* first.subscribe(opened.session, 0, [sub("c/#", 1)]).persist!
    yield* first.closeSession(opened.session, outlet, null, 3600)!
    for (let i = 0; i < 5; i++) {
      first.publish(message("c/x", `m${i}`, 1))
      yield* log.flush // one batch each: retention could cut between them
    }
    // No shutdown: the process died. A new engine boots over the same storage.
    const second = yield* freshEngine
    const again = new RecordingOutlet(4, 10)
    yield* second.openSession("crashy", false, 3600, null, () => {}).persist!
    second.sessions.get("crashy")!.resume(again)
    const packets = yield* awaitPackets(again, 5)
    expect(packets.map((p) => p.payload.toString())).toEqual(["m0", "m1", "m2", "m3", "m4"])
  }).pipe(Effect.provide(storage)))
