/**
 * The layer above the servers that makes this node a member: it joins with the bound ports
 * (MQTT, Kafka, HTTP, node link) and, being above them, leaves before they close on shutdown.
 */
import { Effect, Layer, Option } from "effect"
import type { BrokerConfig } from "../../config/BrokerConfig.js"
import { HttpListener } from "../http/HttpListener.js"
import { KafkaServer } from "../kafka/KafkaServer.js"
import { MqttServer } from "../mqtt/MqttServer.js"
import { ClusterNode, join } from "./ClusterNode.js"

export const layer: Layer.Layer<never, never, BrokerConfig | ClusterNode | MqttServer | HttpListener> = Layer.scopedDiscard(
  join(Effect.gen(function*() {
    const mqtt = yield* MqttServer
    const kafka = yield* Effect.serviceOption(KafkaServer)
    const http = yield* HttpListener
    return { linkPort: -1, mqttPort: mqtt.port, kafkaPort: Option.match(kafka, { onNone: () => -1, onSome: (k) => k.port }), httpPort: http.port }
  }))
)
