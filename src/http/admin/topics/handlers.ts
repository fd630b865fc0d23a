/** MQTT topics: one pass over the sessions' subscriptions and the retained set. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { MqttEngine } from "../../../mqtt/engine/MqttEngine.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { pageByKey } from "../paging.js"
import { MqttTopic } from "./api.js"

export const TopicsLive = HttpApiBuilder.group(BrokerApi, "topics", (handlers) =>
  handlers.handle("list", ({ urlParams: q }) =>
    withBroker(Effect.map(MqttEngine, (engine) => {
      const wanted = (topic: string) => (q.cursor === undefined || topic > q.cursor) && (q.prefix === undefined || topic.startsWith(q.prefix))
      const subscribers = new Map<string, number>()
      for (const session of engine.sessions.values()) {
        for (const sub of session.subscriptions.values()) {
          if (wanted(sub.filter)) subscribers.set(sub.filter, (subscribers.get(sub.filter) ?? 0) + 1)
        }
      }
      const now = Date.now()
      const names = new Set(subscribers.keys())
      for (const m of engine.retained.values()) if (!m.isExpired(now) && wanted(m.topic)) names.add(m.topic)
      const page = pageByKey(names, (t) => t, { after: q.cursor, limit: q.limit })
      return {
        items: page.items.map((topic) => new MqttTopic({ topic, subscribers: subscribers.get(topic) ?? 0, retained: engine.retained.has(topic) })),
        next: page.next
      }
    }))))
