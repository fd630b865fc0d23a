/** The retained routes over the engine's retained set; a delete is an empty retained message, as MQTT has it. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { BrokerConfig } from "../../../../config/BrokerConfig.js"
import { matches } from "../../../../domain/topic/matches.js"
import { validateTopicFilter } from "../../../../domain/topic/TopicFilter.js"
import { Message } from "../../../mqtt/engine/Message.js"
import { MqttEngine } from "../../../mqtt/engine/MqttEngine.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { BadRequest, NotFound, ServerError } from "../errors.js"
import { pageByKey } from "../paging.js"
import { RetainedMessage, RetainedSummary } from "./api.js"

const summaryOf = (m: Message): RetainedSummary =>
  new RetainedSummary({
    topic: m.topic,
    qos: m.qos,
    bytes: m.payload.length,
    publishedAt: new Date(m.timestamp).toISOString(),
    expiresAt: m.expiresAt === 0 ? null : new Date(m.expiresAt).toISOString()
  })

const noRetained = (topic: string) => new NotFound({ message: `no retained message on "${topic}": GET /api/v1/retained lists them` })

export const RetainedLive = HttpApiBuilder.group(BrokerApi, "retained", (handlers) =>
  handlers
    .handle("list", ({ urlParams: q }) =>
      withBroker(Effect.gen(function*() {
        const { limits } = yield* BrokerConfig
        const engine = yield* MqttEngine
        const filter = q.filter
        if (filter !== undefined && validateTopicFilter(filter, limits.maxTopicLevels, limits.maxTopicLength) !== 0) {
          return yield* new BadRequest({ message: `"${filter}" is not a valid topic filter` })
        }
        const now = Date.now()
        const page = pageByKey(engine.retained.values(), (m) => m.topic, {
          after: q.cursor,
          limit: q.limit,
          keep: (m) => !m.isExpired(now) && (filter === undefined || matches(filter, m.topic))
        })
        return { items: page.items.map(summaryOf), next: page.next }
      })))
    .handle("show", ({ urlParams: { topic } }) =>
      withBroker(Effect.flatMap(MqttEngine, (engine) => {
        const m = engine.retained.get(topic)
        if (m === undefined || m.isExpired(Date.now())) return Effect.fail(noRetained(topic))
        const text = m.payload.toString("utf8")
        const utf8 = Buffer.byteLength(text) === m.payload.length && !text.includes("\uFFFD")
        return Effect.succeed(new RetainedMessage({
          ...summaryOf(m),
          payload: utf8 ? text : m.payload.toString("base64"),
          encoding: utf8 ? "plain" : "base64",
          contentType: m.properties?.contentType ?? null,
          userProperties: m.properties?.userProperties ?? []
        }))
      })))
    .handle("delete", ({ urlParams: { topic } }) =>
      withBroker(Effect.gen(function*() {
        const engine = yield* MqttEngine
        if (!engine.retained.has(topic)) return yield* Effect.fail(noRetained(topic))
        const now = Date.now()
        engine.setRetained(new Message(topic, Buffer.alloc(0), 0, true, null, 0, "", now), true)
        yield* Effect.orElseFail(engine.log.flush, () => new ServerError({ message: "the log could not store the deletion" }))
        yield* Effect.logInfo(`admin: deleted the retained message on ${topic}`)
        return { topic }
      }))))
