/** `robustmq sessions list|show|delete` and `robustmq subscriptions list`. */
import { Args, Command } from "@effect/cli"
import { Console, Effect } from "effect"
import type { SessionDetail, SessionSummary } from "../http/admin/sessions/api.js"
import type { SubscriptionEntry, SubscriptionOptions } from "../http/admin/subscriptions/api.js"
import { callApi, connectionOptions } from "./AdminClient.js"
import { listCommand, pathParam, printJson, printObject } from "./apiCommand.js"
import { optionalChoice, optionalText } from "./flags.js"
import { renderTable } from "./output.js"

const clientId = Args.text({ name: "CLIENT_ID" })

const subscriptionColumns = [
  { header: "filter", value: (s: SubscriptionOptions) => s.filter },
  { header: "qos", value: (s: SubscriptionOptions) => s.qos, right: true },
  { header: "no local", value: (s: SubscriptionOptions) => s.noLocal },
  { header: "retain as published", value: (s: SubscriptionOptions) => s.retainAsPublished },
  { header: "retain handling", value: (s: SubscriptionOptions) => s.retainHandling, right: true },
  { header: "sub id", value: (s: SubscriptionOptions) => s.subscriptionId || undefined, right: true }
]

const list = listCommand({
  name: "list",
  description: "MQTT sessions, online and offline, filtered on the server",
  filters: {
    prefix: optionalText("prefix", "TEXT", "client ids starting with TEXT"),
    state: optionalChoice("state", ["online", "offline"], "only online or only offline sessions")
  },
  call: (api, f, page) => api.sessions.list({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "client id", value: (s: SessionSummary) => s.clientId },
    { header: "state", value: (s) => s.state },
    { header: "persistent", value: (s) => s.persistent },
    { header: "expiry (s)", value: (s) => s.expiryInterval, right: true },
    { header: "expires at", value: (s) => s.expiresAt },
    { header: "subs", value: (s) => s.subscriptions, right: true },
    { header: "inflight", value: (s) => s.inflight, right: true },
    { header: "queued", value: (s) => s.queued, right: true }
  ],
  empty: "no sessions"
})

const detailFields = (s: SessionDetail): ReadonlyArray<readonly [string, unknown]> => [
  ["client id", s.clientId],
  ["state", s.state],
  ["persistent", s.persistent],
  ["expiry interval", `${s.expiryInterval} s`],
  ["disconnected at", s.disconnectedAt],
  ["expires at", s.expiresAt],
  ["inflight", s.inflight],
  ["queued", s.queued],
  ["pending will", s.pendingWill === null ? null : `${s.pendingWill.topic} at ${s.pendingWill.due}`],
  ["subscriptions", s.subscriptions]
]

const show = Command.make("show", { ...connectionOptions, clientId }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.sessions.show({ path: { clientId: pathParam(flags.clientId) } })), (s) =>
    flags.output === "json"
      ? printJson(s)
      : Effect.zipRight(
        printObject(flags.output, s, detailFields),
        s.subscriptionList.length === 0 ? Effect.void : Console.log(`\n${renderTable(subscriptionColumns, s.subscriptionList)}`)
      ))).pipe(Command.withDescription("One session: state, expiry, inflight and queued counts, pending will, subscriptions"))

const del = Command.make("delete", { ...connectionOptions, clientId }, (flags) =>
  Effect.flatMap(callApi(flags, (api) => api.sessions.delete({ path: { clientId: pathParam(flags.clientId) } })), (d) =>
    flags.output === "json"
      ? printJson(d)
      : Console.log(`deleted the session of ${d.clientId}${d.kicked ? " (its client was connected and got DISCONNECT 0x98)" : ""}`)
  )).pipe(Command.withDescription("End a session now: its subscriptions and queued messages go; a connected client is kicked (0x98)"))

export const sessions = Command.make("sessions").pipe(
  Command.withDescription("MQTT sessions: list, show, delete"),
  Command.withSubcommands([list, show, del])
)

const subscriptionsList = listCommand({
  name: "list",
  description: "Every session's subscriptions, by client, filter or share group",
  filters: {
    clientId: optionalText("client-id", "CLIENT_ID", "the subscriptions of this client"),
    filter: optionalText("filter", "FILTER", "subscriptions to this topic filter, exactly (without $share/<group>/)"),
    shareGroup: optionalText("share-group", "GROUP", "members of this shared-subscription group")
  },
  call: (api, f, page) => api.subscriptions.list({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "client id", value: (s: SubscriptionEntry) => s.clientId },
    { header: "online", value: (s) => s.online },
    ...subscriptionColumns,
    { header: "share group", value: (s) => s.shareGroup }
  ],
  empty: "no subscriptions"
})

export const subscriptions = Command.make("subscriptions").pipe(
  Command.withDescription("MQTT subscriptions: list"),
  Command.withSubcommands([subscriptionsList])
)
