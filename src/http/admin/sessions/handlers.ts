/** The sessions routes over the engine: online and offline persistent sessions, and deleting one. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { ReasonCode } from "../../../../domain/ReasonCode.js"
import { expiresAt } from "../../../../domain/session/Session.js"
import type { Connection } from "../../../mqtt/Connection.js"
import type { LiveSession } from "../../../mqtt/engine/LiveSession.js"
import { MqttEngine } from "../../../mqtt/engine/MqttEngine.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { NotFound, ServerError } from "../errors.js"
import { pageByKey } from "../paging.js"
import { optionsOf } from "../subscriptions/handlers.js"
import { SessionDetail, SessionSummary } from "./api.js"

const iso = (ms: number | null): string | null => (ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString())

const summaryOf = (session: LiveSession): SessionSummary => {
  const inflight = session.inflight?.size ?? 0
  const online = session.conn !== null
  return new SessionSummary({
    clientId: session.clientId,
    state: online ? "online" : "offline",
    persistent: session.stored,
    expiryInterval: session.state.expiryInterval,
    disconnectedAt: online ? null : iso(session.state.disconnectedAt),
    expiresAt: online ? null : iso(expiresAt(session.state)),
    subscriptions: session.subscriptions.size,
    inflight,
    queued: session.backlog - inflight
  })
}

const noSession = (clientId: string) =>
  new NotFound({ message: `no session "${clientId}": GET /api/v1/sessions lists them (a clean session ends with its connection)` })

export const SessionsLive = HttpApiBuilder.group(BrokerApi, "sessions", (handlers) =>
  handlers
    .handle("list", ({ urlParams: q }) =>
      withBroker(Effect.map(MqttEngine, (engine) => {
        const page = pageByKey(engine.sessions.values(), (s) => s.clientId, {
          after: q.cursor,
          limit: q.limit,
          keep: (s) =>
            (q.prefix === undefined || s.clientId.startsWith(q.prefix)) &&
            (q.state === undefined || (q.state === "online") === (s.conn !== null))
        })
        return { items: page.items.map(summaryOf), next: page.next }
      })))
    .handle("show", ({ path }) =>
      withBroker(Effect.flatMap(MqttEngine, (engine) => {
        const session = engine.sessions.get(path.clientId)
        if (session === undefined) return Effect.fail(noSession(path.clientId))
        const will = session.pendingWill
        return Effect.succeed(new SessionDetail({
          ...summaryOf(session),
          subscriptionList: [...session.subscriptions.values()].map(optionsOf),
          pendingWill: will === null ? null : { topic: will.message.topic, due: new Date(will.due).toISOString() }
        }))
      })))
    .handle("delete", ({ path }) =>
      withBroker(Effect.gen(function*() {
        const engine = yield* MqttEngine
        const session = engine.sessions.get(path.clientId)
        if (session === undefined) return yield* Effect.fail(noSession(path.clientId))
        const conn = session.conn as Connection | null
        // Its client goes first (its close records the disconnect), then the session ends.
        if (conn !== null) conn.close(ReasonCode.AdministrativeAction)
        const persist = engine.deleteSession(path.clientId)
        if (persist) {
          yield* persist.pipe(Effect.catchAll((e) =>
            Effect.zipRight(Effect.logError(`admin: deleting session ${path.clientId} failed`, e), Effect.fail(new ServerError({ message: `storage failed while deleting the session: ${e.message}` })))
          ))
        }
        yield* Effect.logInfo(`admin: deleted session ${path.clientId}${conn !== null ? " (its client was kicked)" : ""}`)
        return { clientId: path.clientId, kicked: conn !== null }
      }))))
