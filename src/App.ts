/**
 * The whole broker as one layer: storage (chosen by BrokerConfig.storage), the message log
 * over it, and the protocol servers. Closing the layer's scope shuts everything down in
 * reverse order: listeners first, then the log's final flush, then storage.
 */
import { Effect, Layer } from "effect"
import { BrokerConfig } from "../config/BrokerConfig.js"
import * as MessageLogLive from "../layers/MessageLogLive.js"
import * as Storage from "../layers/Storage.js"
import * as Topics from "./meta/Topics.js"
import * as MqttServer from "./mqtt/MqttServer.js"

/** Storage plus the message log and the topic registry, for the configured kind and data dir. */
export const storage = Layer.unwrapEffect(
  Effect.map(BrokerConfig, (config) => {
    const drivers = Storage.layer(config.storage.kind, config.storage.dataDir, config.storage)
    const base = Layer.merge(MessageLogLive.layer.pipe(Layer.provide(drivers)), drivers)
    return Layer.provideMerge(Topics.layer, base)
  })
)

/** The MQTT server with its storage; tests use it to reach the bound port and the engine. */
export const mqtt = MqttServer.layer.pipe(Layer.provide(storage))

export const layer: Layer.Layer<never, Error, BrokerConfig> = Layer.discard(mqtt)
