/** The clients routes over the MQTT listeners' live connections. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { ReasonCode } from "../../../../domain/ReasonCode.js"
import type { Connection } from "../../../mqtt/Connection.js"
import { MqttServer } from "../../../mqtt/MqttServer.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { NotFound } from "../errors.js"
import { pageByKey } from "../paging.js"
import { Client } from "./api.js"

const PROTOCOLS = { 3: "3.1", 4: "3.1.1", 5: "5.0" } as const

export const clientOf = (conn: Connection): Client => {
  const session = conn.session
  const inflight = session?.inflight?.size ?? 0
  return new Client({
    clientId: conn.clientId,
    username: conn.username,
    address: conn.remote.address,
    port: conn.remote.port,
    listener: conn.listener,
    protocol: PROTOCOLS[conn.version as 3 | 4 | 5] ?? "3.1.1",
    connectedAt: new Date(conn.openedAt).toISOString(),
    keepalive: conn.keepaliveMs / 1000,
    sessionExpiry: conn.expiryInterval,
    subscriptions: session?.subscriptions.size ?? 0,
    inflight,
    queued: (session?.backlog ?? 0) - inflight
  })
}

/** The connection that holds `clientId`'s session now (past CONNACK), if any. */
const connectionOf = (clientId: string) =>
  Effect.map(MqttServer, (server): Connection | undefined => {
    const session = server.engine.sessions.get(clientId)
    const conn = session?.conn as Connection | null | undefined
    return conn ?? undefined
  })

const noClient = (clientId: string) =>
  new NotFound({ message: `no connected client "${clientId}": GET /api/v1/clients lists them (an offline session is under /api/v1/sessions)` })

export const ClientsLive = HttpApiBuilder.group(BrokerApi, "clients", (handlers) =>
  handlers
    .handle("list", ({ urlParams: q }) =>
      withBroker(Effect.map(MqttServer, (server) => {
        const page = pageByKey(server.context.connections, (c) => c.clientId, {
          after: q.cursor,
          limit: q.limit,
          keep: (c) =>
            c.session !== null && !c.closing &&
            (q.prefix === undefined || c.clientId.startsWith(q.prefix)) &&
            (q.username === undefined || c.username === q.username) &&
            (q.listener === undefined || c.listener === q.listener) &&
            (q.protocol === undefined || PROTOCOLS[c.version as 3 | 4 | 5] === q.protocol) &&
            (q.ip === undefined || c.remote.address === q.ip)
        })
        return { items: page.items.map(clientOf), next: page.next }
      })))
    .handle("show", ({ path }) =>
      withBroker(Effect.flatMap(connectionOf(path.clientId), (conn) => conn === undefined ? Effect.fail(noClient(path.clientId)) : Effect.succeed(clientOf(conn)))))
    .handle("kick", ({ path }) =>
      withBroker(Effect.flatMap(connectionOf(path.clientId), (conn) => {
        if (conn === undefined) return Effect.fail(noClient(path.clientId))
        conn.close(ReasonCode.AdministrativeAction)
        return Effect.as(Effect.logInfo(`admin: kicked client ${path.clientId}`), { clientId: path.clientId, reasonCode: ReasonCode.AdministrativeAction })
      }))))
