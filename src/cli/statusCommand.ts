/** `robustmq status`: the broker's overview (version, uptime, listeners, counts, current rates). */
import { Command } from "@effect/cli"
import { Effect } from "effect"
import type { Overview } from "../http/admin/overview/api.js"
import { callApi, connectionOptions } from "./AdminClient.js"
import { printObject } from "./apiCommand.js"

/** 3725 -> "1h 2m 5s". */
export const formatDuration = (seconds: number): string => {
  const s = Math.floor(seconds)
  const parts: Array<string> = []
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d > 0) parts.push(`${d}d`)
  if (d > 0 || h > 0) parts.push(`${h}h`)
  if (d > 0 || h > 0 || m > 0) parts.push(`${m}m`)
  parts.push(`${s % 60}s`)
  return parts.join(" ")
}

const rate = (perSecond: number, total: number) => `${Math.round(perSecond * 10) / 10}/s (${total} in all)`

const overviewFields = (o: Overview): ReadonlyArray<readonly [string, unknown]> => [
  ["version", o.version],
  ["uptime", `${formatDuration(o.uptimeSeconds)} (since ${o.startedAt})`],
  ["storage", o.storage],
  ["listeners", o.listeners.map((l) => `${l.name} ${l.host}:${l.port}`).join(", ")],
  ["connections", `${o.counts.connections} MQTT, ${o.counts.kafkaConnections} Kafka`],
  ["sessions", `${o.counts.sessions} (${o.counts.offlineSessions} offline)`],
  ["subscriptions", o.counts.subscriptions],
  ["retained", o.counts.retained],
  ["kafka", `${o.counts.kafkaTopics} topics, ${o.counts.kafkaGroups} groups`],
  ["messages in", rate(o.rates.messagesIn, o.totals.messagesIn)],
  ["messages out", rate(o.rates.messagesOut, o.totals.messagesOut)],
  ["kafka produce", rate(o.rates.kafkaProduceRequests, o.totals.kafkaProduceRequests)],
  ["kafka fetch", rate(o.rates.kafkaFetchRequests, o.totals.kafkaFetchRequests)]
]

export const status = Command.make("status", connectionOptions, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.overview.overview()), (o) => printObject(flags.output, o, overviewFields))
).pipe(Command.withDescription("The broker at --url: version, uptime, listeners, counts and current message rates"))
