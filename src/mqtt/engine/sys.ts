/**
 * `$SYS/broker/...` topics, Mosquitto-style, published retained at `mqtt.sys_interval`.
 * They live only in memory: never logged, never persisted.
 */
import type { ServerContext } from "../ServerContext.js"
import { VERSION } from "../../version.js"
import { Message } from "./Message.js"

export const BROKER_VERSION = `robustmq-ts ${VERSION}`

export const publishSys = (ctx: ServerContext, now: number): void => {
  const engine = ctx.engine
  const stats = engine.stats
  let dropped = stats.droppedByEndedSessions
  for (const s of engine.sessions.values()) dropped += s.dropped
  const values: ReadonlyArray<readonly [string, string | number]> = [
    ["version", BROKER_VERSION],
    ["uptime", `${Math.floor((now - ctx.startedAt) / 1000)} seconds`],
    ["clients/connected", ctx.connected],
    ["clients/total", engine.sessions.size],
    ["messages/received", stats.messagesReceived],
    ["messages/sent", stats.messagesSent],
    // Messages sessions could not take: queue full (max_queued_messages) or QoS 0 to a slow socket.
    ["messages/dropped", dropped],
    ["subscriptions/count", engine.subscriptions.count],
    ["retained messages/count", engine.retained.size],
    // Overload protection (limits.*): what it refused, paused or cut off since start.
    ["clients/stalled", ctx.overload.stalledDisconnects],
    ["subscriptions/refused-quota", ctx.overload.subscriptionQuotaRefusals],
    ["load/publish-throttled", ctx.overload.publishThrottles],
    ["load/log-paused", ctx.overload.logPauses],
    // Abuse limits: CONNECTs refused per address, over the rate, from an address refused for failed logins.
    ["clients/refused-per-ip", ctx.admission.refused.perIp],
    ["clients/refused-rate", ctx.admission.refused.rate],
    ["clients/refused-banned", ctx.admission.refused.banned]
  ]
  for (const [name, value] of values) {
    const msg = new Message(`$SYS/broker/${name}`, Buffer.from(String(value)), 0, true, null, 0, "", now)
    engine.setRetained(msg, false)
    engine.route(msg)
  }
}
