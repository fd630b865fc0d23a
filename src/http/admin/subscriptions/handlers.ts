/** The subscriptions route over the engine's sessions (offline persistent ones included). */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { parseShared } from "../../../../domain/topic/TopicFilter.js"
import type { LiveSession } from "../../../mqtt/engine/LiveSession.js"
import { MqttEngine } from "../../../mqtt/engine/MqttEngine.js"
import type { Subscription } from "../../../mqtt/engine/Subscriptions.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { pageByKey } from "../paging.js"
import { SubscriptionEntry, SubscriptionOptions } from "./api.js"

const shareGroupOf = (sub: Subscription): string | null => {
  const shared = parseShared(sub.raw)
  return shared !== null && typeof shared === "object" ? shared.group : null
}

export const optionsOf = (sub: Subscription): SubscriptionOptions =>
  new SubscriptionOptions({
    filter: sub.raw,
    qos: sub.options.qos,
    noLocal: sub.options.noLocal,
    retainAsPublished: sub.options.retainAsPublished,
    retainHandling: sub.options.retainHandling,
    subscriptionId: sub.options.subscriptionId,
    shareGroup: shareGroupOf(sub)
  })

/** Every subscription of `sessions`, lazily: a page reads only what it keeps. */
function* subscriptionsOf(sessions: Iterable<LiveSession>): Generator<Subscription> {
  for (const session of sessions) yield* session.subscriptions.values()
}

// Ordered by client id, then filter; "\n" cannot appear in a client id's UTF-8 in practice and sorts first.
const keyOf = (sub: Subscription) => `${sub.session.clientId}\n${sub.raw}`

export const SubscriptionsLive = HttpApiBuilder.group(BrokerApi, "subscriptions", (handlers) =>
  handlers.handle("list", ({ urlParams: q }) =>
    withBroker(Effect.map(MqttEngine, (engine) => {
      const one = q.clientId === undefined ? undefined : engine.sessions.get(q.clientId)
      const sessions = q.clientId === undefined ? engine.sessions.values() : one === undefined ? [] : [one]
      const page = pageByKey(subscriptionsOf(sessions), keyOf, {
        after: q.cursor,
        limit: q.limit,
        keep: (sub) => (q.filter === undefined || sub.filter === q.filter) && (q.shareGroup === undefined || shareGroupOf(sub) === q.shareGroup)
      })
      return {
        items: page.items.map((sub) => new SubscriptionEntry({ clientId: sub.session.clientId, online: sub.session.conn !== null, ...optionsOf(sub) })),
        next: page.next
      }
    }))))
