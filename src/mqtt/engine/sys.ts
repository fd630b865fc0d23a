/**
 * `$SYS/broker/...` topics, Mosquitto-style, published retained at `mqtt.sys_interval`: this
 * node's own figures. In a cluster the same figures also go out under `$SYS/brokers/<node id>/`
 * (EMQX's layout) to every other node, so a subscriber anywhere sees each node's (one link
 * frame per peer per interval). They live only in memory: never logged, never persisted.
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
  const clusterPrefix = engine.remote === null ? null : nodeSysPrefix(engine.remote.nodeId)
  for (const [name, value] of values) {
    const payload = Buffer.from(String(value))
    engine.publishSys(sysMessage(`$SYS/broker/${name}`, payload, now), false)
    if (clusterPrefix !== null) engine.publishSys(sysMessage(clusterPrefix + name, payload, now), true)
  }
}

/** Where node `id`'s figures are published in a cluster. */
export const nodeSysPrefix = (id: string): string => `$SYS/brokers/${id}/`

/** A `$SYS` message: QoS 0, retained. */
export const sysMessage = (topic: string, payload: Buffer, now: number): Message =>
  new Message(topic, payload, 0, true, null, 0, "", now)
