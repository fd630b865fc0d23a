/**
 * The overview: counts read from the engine and Kafka services, and rates from counter samples
 * taken when the overview is asked for (at most one a second, kept 10 s), so nothing runs for
 * it between requests.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { BrokerConfig } from "../../../../config/BrokerConfig.js"
import type { BrokerConfigShape } from "../../../../config/BrokerConfigShape.js"
import { KafkaServer } from "../../../kafka/KafkaServer.js"
import { Topics } from "../../../meta/Topics.js"
import { MqttListeners } from "../../../mqtt/MqttListeners.js"
import { MqttServer } from "../../../mqtt/MqttServer.js"
import { VERSION } from "../../../version.js"
import { BrokerApi } from "../../Api.js"
import { HttpListener } from "../../HttpListener.js"
import { withBroker } from "../BrokerHandle.js"
import { ListenerInfo, Overview } from "./api.js"

const PRODUCE = 0
const FETCH = 1
const WINDOW_MS = 10_000

interface Sample {
  readonly at: number
  readonly totals: Overview["totals"]
}

/** The effective configuration, without what would let a reader in: tokens and JWT secrets. */
export const redactedConfig = (config: BrokerConfigShape): unknown => ({
  ...config,
  auth: { ...config.auth, jwt: { ...config.auth.jwt, secret: config.auth.jwt.secret === "" ? "" : "<redacted>" } },
  http: { ...config.http, adminTokens: config.http.adminTokens.map(() => "<redacted>") }
})

export const OverviewLive = HttpApiBuilder.group(BrokerApi, "overview", (handlers) => {
  const samples: Array<Sample> = []
  const rateOf = (now: Sample) => {
    const last = samples[samples.length - 1]
    if (last === undefined || now.at - last.at >= 1000) samples.push(now)
    while (samples.length > 1 && now.at - samples[0]!.at > WINDOW_MS) samples.shift()
    const first = samples[0]!
    const seconds = (now.at - first.at) / 1000
    const per = (k: keyof Sample["totals"]) => (seconds === 0 ? 0 : Math.round((now.totals[k] - first.totals[k]) / seconds * 10) / 10)
    return {
      messagesIn: per("messagesIn"),
      messagesOut: per("messagesOut"),
      kafkaProduceRequests: per("kafkaProduceRequests"),
      kafkaFetchRequests: per("kafkaFetchRequests"),
      windowSeconds: Math.round(seconds * 10) / 10
    }
  }
  return handlers
    .handle("overview", () =>
      withBroker(Effect.gen(function*() {
        const config = yield* BrokerConfig
        const server = yield* MqttServer
        const engine = server.engine
        const topics = yield* Topics
        const extra = yield* Effect.serviceOption(MqttListeners)
        const kafka = yield* Effect.serviceOption(KafkaServer)
        const http = yield* Effect.serviceOption(HttpListener)
        const listeners: Array<ListenerInfo> = [new ListenerInfo({ name: "mqtt", host: server.host, port: server.port })]
        const add = (name: string, host: string, port: number) => {
          if (port >= 0) listeners.push(new ListenerInfo({ name, host, port }))
        }
        if (extra._tag === "Some") {
          add("mqtt-tls", server.host, extra.value.tlsPort)
          add("mqtt-ws", server.host, extra.value.wsPort)
          add("mqtt-wss", server.host, extra.value.wssPort)
        }
        if (kafka._tag === "Some") {
          add("kafka", kafka.value.host, kafka.value.port)
          add("kafka-tls", kafka.value.host, kafka.value.tlsPort)
        }
        if (http._tag === "Some") add("http", http.value.host, http.value.port)
        let offline = 0
        let subscriptions = 0
        for (const s of engine.sessions.values()) {
          if (s.conn === null) offline++
          subscriptions += s.subscriptions.size
        }
        let groupCount = 0
        // The coordinator lives inside the Kafka listener's layer: reached through its context.
        if (kafka._tag === "Some") for (const _ of kafka.value.context.groups.unsafeGroups()) groupCount++
        const requests = kafka._tag === "Some" ? kafka.value.context.requests : null
        const now = Date.now()
        const totals = {
          messagesIn: engine.stats.messagesReceived,
          messagesOut: engine.stats.messagesSent,
          kafkaProduceRequests: requests?.[PRODUCE] ?? 0,
          kafkaFetchRequests: requests?.[FETCH] ?? 0
        }
        const startedAt = server.context.startedAt
        return new Overview({
          version: VERSION,
          startedAt: new Date(startedAt).toISOString(),
          uptimeSeconds: Math.round((now - startedAt) / 1000),
          storage: config.storage.kind,
          listeners,
          counts: {
            connections: server.context.connected,
            sessions: engine.sessions.size,
            offlineSessions: offline,
            subscriptions,
            retained: engine.retained.size,
            kafkaTopics: topics.list().length,
            kafkaGroups: groupCount,
            kafkaConnections: kafka._tag === "Some" ? kafka.value.openConnections() : 0
          },
          totals,
          rates: rateOf({ at: now, totals })
        })
      })))
    .handle("config", () => withBroker(Effect.map(BrokerConfig, redactedConfig)))
})
