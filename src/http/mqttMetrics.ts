/**
 * The MQTT listener's metrics, read at scrape time from what the engine and the connections
 * keep anyway (ServerContext.traffic, deliveryStats): a few passes over connections and
 * sessions per scrape, nothing per message beyond the counters' increments.
 */
import { Effect, Layer } from "effect"
import { MqttServer } from "../mqtt/MqttServer.js"
import type { ServerContext } from "../mqtt/ServerContext.js"
import { inputFaults } from "../net/inputFaults.js"
import { deliveryLatency, messageDrops, SAMPLE_EVERY } from "../mqtt/engine/deliveryStats.js"
import { PACKET_TYPES } from "../mqtt/MqttTraffic.js"
import type { RenderedFamily } from "./exposition.js"
import { type Metrics, registerRenderedScoped, registerScoped, scrapedCounter, scrapedGauge } from "./Metrics.js"

const PROTOCOL_NAMES = { 3: "3.1", 4: "3.1.1", 5: "5.0" } as const

/** inputFaults' camelCase keys as snake_case label values. */
const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** The publish-to-delivery histogram, kept as plain numbers by the delivery path (sampled). */
export const mqttRenderedFamilies: ReadonlyArray<RenderedFamily> = [{
  name: "robustmq_mqtt_delivery_latency_seconds",
  type: "histogram",
  help: `From a PUBLISH's arrival to its write toward a subscriber (1 delivery in ${SAMPLE_EVERY} is timed; millisecond clock)`,
  render: (out) => out.histogram("", deliveryLatency)
}]

export const mqttMetrics = (ctx: ServerContext) => {
  const engine = ctx.engine
  const traffic = ctx.traffic
  return [
    scrapedGauge("robustmq_mqtt_connections", "MQTT clients connected (past CONNACK), by listener and protocol version", ["listener", "protocol"], (put) => {
      // By listener, then by protocol level (3, 4, 5): no string made per connection.
      const counts = new Map<string, Array<number>>()
      for (const conn of ctx.connections) {
        if (conn.session === null || conn.closing) continue
        let byVersion = counts.get(conn.listener)
        if (byVersion === undefined) counts.set(conn.listener, (byVersion = [0, 0, 0, 0, 0, 0]))
        byVersion[conn.version]!++
      }
      for (const [listener, byVersion] of counts) {
        for (const version of [3, 4, 5] as const) if (byVersion[version]! > 0) put(byVersion[version]!, { listener, protocol: PROTOCOL_NAMES[version] })
      }
    }),
    scrapedGauge("robustmq_mqtt_sessions", "MQTT sessions: online (a client connected) and offline (persistent, waiting)", ["state"], (put) => {
      let online = 0
      for (const session of engine.sessions.values()) if (session.conn !== null) online++
      put(online, { state: "online" })
      put(engine.sessions.size - online, { state: "offline" })
    }),
    scrapedGauge("robustmq_mqtt_inflight_messages", "Outbound QoS 1/2 messages sent and not yet acknowledged, all sessions", [], (put) => {
      let n = 0
      for (const session of engine.sessions.values()) n += session.inflight?.size ?? 0
      put(n)
    }),
    scrapedGauge("robustmq_mqtt_queued_messages", "Messages queued in memory for sessions, behind their inflight window", [], (put) => {
      let n = 0
      for (const session of engine.sessions.values()) n += session.queue?.length ?? 0
      put(n)
    }),
    scrapedGauge("robustmq_mqtt_subscriptions", "MQTT subscriptions, shared ones included", [], (put) => put(engine.subscriptions.count)),
    scrapedGauge("robustmq_mqtt_retained_messages", "Retained messages, $SYS topics included", [], (put) => put(engine.retained.size)),
    scrapedCounter("robustmq_mqtt_messages_received_total", "PUBLISH messages received from MQTT clients", [], (put) => put(engine.stats.messagesReceived)),
    scrapedCounter("robustmq_mqtt_messages_sent_total", "PUBLISH messages sent to MQTT clients", [], (put) => put(engine.stats.messagesSent)),
    scrapedCounter(
      "robustmq_mqtt_messages_dropped_total",
      "Messages not delivered, by reason: queue_full (a clean session's queue), slow_socket (QoS 0 over limits.max_output_buffer), expired, no_subscribers, not_authorized (the publisher's ACL), too_large (the subscriber's Maximum Packet Size)",
      ["reason"],
      (put) => {
        for (const [key, value] of Object.entries(messageDrops)) put(value, { reason: snake(key) })
      }
    ),
    scrapedCounter("robustmq_mqtt_packets_received_total", "MQTT control packets received, by type", ["type"], (put) => {
      traffic.packetsReceived.forEach((n, type) => type > 0 && put(n, { type: PACKET_TYPES[type]! }))
    }),
    scrapedCounter("robustmq_mqtt_packets_sent_total", "MQTT control packets sent, by type", ["type"], (put) => {
      traffic.packetsSent.forEach((n, type) => type > 0 && put(n, { type: PACKET_TYPES[type]! }))
    }),
    scrapedCounter("robustmq_mqtt_received_bytes_total", "Bytes read from MQTT clients (TLS and WebSocket framing excluded)", [], (put) => put(traffic.bytesReceived)),
    scrapedCounter("robustmq_mqtt_sent_bytes_total", "Bytes written to MQTT clients (TLS and WebSocket framing excluded)", [], (put) => put(traffic.bytesSent)),
    scrapedCounter("robustmq_mqtt_authentications_total", "CONNECTs checked by [auth], by result (success, failure: bad credentials or not authorized) and mechanism (password, jwt, certificate, anonymous)", ["result", "mechanism"], (put) => {
      for (const [mechanism, n] of Object.entries(traffic.authSuccesses)) put(n, { result: "success", mechanism })
      for (const [mechanism, n] of Object.entries(traffic.authFailures)) put(n, { result: "failure", mechanism })
    }),
    scrapedCounter("robustmq_mqtt_stalled_disconnects_total", "Subscribers disconnected after limits.stall_timeout without progress", [], (put) => put(ctx.overload.stalledDisconnects)),
    scrapedCounter("robustmq_mqtt_subscriptions_refused_total", "Subscriptions refused with 0x97 (limits.max_subscriptions)", [], (put) => put(ctx.overload.subscriptionQuotaRefusals)),
    scrapedCounter("robustmq_mqtt_publish_throttles_total", "Times a client's reads paused for limits.max_publish_rate", [], (put) => put(ctx.overload.publishThrottles)),
    scrapedCounter("robustmq_mqtt_log_pauses_total", "Times a publisher's reads paused for limits.log_high_water", [], (put) => put(ctx.overload.logPauses)),
    scrapedCounter("robustmq_connections_refused_total", "Connections refused by the abuse limits, by reason", ["reason"], (put) => {
      const refused = ctx.admission.refused
      put(refused.perIp, { reason: "per_ip" })
      put(refused.rate, { reason: "rate" })
      put(refused.banned, { reason: "banned" })
    }),
    scrapedCounter("robustmq_input_faults_total", "Connections closed or paused for hostile or broken input, by kind", ["kind"], (put) => {
      for (const [key, value] of Object.entries(inputFaults)) put(value, { kind: snake(key) })
    })
  ]
}

/** Registers the MQTT metrics while the MQTT server runs (nothing when metrics are off). */
export const layer: Layer.Layer<never, never, MqttServer | Metrics> = Layer.scopedDiscard(
  Effect.flatMap(MqttServer, (server) =>
    Effect.zipRight(registerScoped(() => mqttMetrics(server.context)), registerRenderedScoped(() => mqttRenderedFamilies)))
)
