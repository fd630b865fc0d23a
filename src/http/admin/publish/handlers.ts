/**
 * The HTTP publish: validated like a client's PUBLISH, routed by the engine like one, and for
 * QoS 1/2 (or retained) answered only once the log holds it, as a PUBACK would be.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { BrokerConfig } from "../../../../config/BrokerConfig.js"
import type { TopicPartition } from "../../../../domain/ids.js"
import { validateTopicName } from "../../../../domain/topic/TopicName.js"
import type { MessageLog } from "../../../../services/MessageLog.js"
import { PublishProps } from "../../../mqtt/codec/packets.js"
import { Message } from "../../../mqtt/engine/Message.js"
import { MqttEngine } from "../../../mqtt/engine/MqttEngine.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { BadRequest, ServerError } from "../errors.js"
import type { PublishRequest } from "./api.js"

const propertiesOf = (p: PublishRequest["properties"]): PublishProps | null => {
  if (p === undefined) return null
  const props = new PublishProps()
  props.contentType = p.contentType
  props.responseTopic = p.responseTopic
  props.correlationData = p.correlationData === undefined ? undefined : Buffer.from(p.correlationData, "base64")
  props.messageExpiryInterval = p.messageExpiryInterval
  props.payloadFormatIndicator = p.payloadFormatIndicator
  props.userProperties = p.userProperties === undefined ? undefined : Object.entries(p.userProperties)
  return props
}

/** Done when the log has `tp`@`offset` on disk (per storage.fsync), as a client's PUBACK waits. */
const durable = (log: MessageLog["Type"], tp: TopicPartition, offset: number) =>
  Effect.async<void, ServerError>((resume) =>
    log.unsafeOnDurable(tp, offset, (error) =>
      resume(error === undefined ? Effect.void : Effect.fail(new ServerError({ message: `the log could not store the message: ${String(error)}` })))
    )
  )

export const PublishLive = HttpApiBuilder.group(BrokerApi, "publish", (handlers) =>
  handlers.handle("publish", ({ payload: req }) =>
    withBroker(Effect.gen(function*() {
      const { limits } = yield* BrokerConfig
      const engine = yield* MqttEngine
      if (validateTopicName(req.topic, limits.maxTopicLevels, limits.maxTopicLength) !== 0) {
        return yield* new BadRequest({ message: `"${req.topic}" is not a valid topic name: no wildcards (+ #), not empty, at most ${limits.maxTopicLevels} levels and ${limits.maxTopicLength} bytes` })
      }
      if (req.topic.startsWith("$")) return yield* new BadRequest({ message: `topics starting with $ are the broker's ($SYS): pick another name` })
      const payload = req.encoding === "base64" ? Buffer.from(req.payload, "base64") : Buffer.from(req.payload, "utf8")
      if (payload.length > limits.maxPacketSize) return yield* new BadRequest({ message: `the payload is ${payload.length} bytes, over limits.max_packet_size (${limits.maxPacketSize})` })
      const props = propertiesOf(req.properties)
      const now = Date.now()
      const expiry = props?.messageExpiryInterval
      const msg = new Message(req.topic, payload, req.qos, req.retain, props, expiry === undefined ? 0 : now + expiry * 1000, "", now)
      const subscribers = engine.publish(msg)
      if (msg.tp !== null && msg.appended) yield* durable(engine.log, msg.tp, msg.offset)
      if (req.retain) yield* Effect.orElseFail(engine.log.flush, () => new ServerError({ message: "the log could not store the retained message" }))
      return { topic: req.topic, subscribers, durable: msg.appended || req.retain }
    }))))
