/** GET /api/v1/clients (paged, filtered), GET /api/v1/clients/{clientId}, DELETE (kick). */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { AdminAuth } from "../AdminAuth.js"
import { NotFound, Unavailable } from "../errors.js"
import { Page, PageParams } from "../paging.js"

export const ProtocolName = Schema.Literal("3.1", "3.1.1", "5.0")
export const ListenerName = Schema.Literal("tcp", "tls", "ws", "wss")

export class Client extends Schema.Class<Client>("Client")({
  clientId: Schema.String,
  username: Schema.NullOr(Schema.String),
  address: Schema.String,
  port: Schema.Number,
  listener: ListenerName,
  protocol: ProtocolName,
  connectedAt: Schema.String.annotations({ description: "ISO 8601" }),
  keepalive: Schema.Number.annotations({ description: "seconds, 0: none" }),
  sessionExpiry: Schema.Number.annotations({ description: "seconds the session outlives the connection" }),
  subscriptions: Schema.Number,
  inflight: Schema.Number,
  queued: Schema.Number
}) {}

export const ClientPage = Page(Client)

export class Kicked extends Schema.Class<Kicked>("Kicked")({ clientId: Schema.String, reasonCode: Schema.Number }) {}

const clientId = HttpApiEndpoint.get("show", "/api/v1/clients/:clientId")
  .setPath(Schema.Struct({ clientId: Schema.String }))

export class ClientsApi extends HttpApiGroup.make("clients")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/clients")
      .setUrlParams(Schema.Struct({
        ...PageParams,
        prefix: Schema.optional(Schema.String).annotations({ description: "client id prefix" }),
        username: Schema.optional(Schema.String),
        ip: Schema.optional(Schema.String).annotations({ description: "remote address, exactly" }),
        protocol: Schema.optional(ProtocolName),
        listener: Schema.optional(ListenerName)
      }))
      .addSuccess(ClientPage)
  )
  .add(clientId.addSuccess(Client).addError(NotFound))
  .add(
    HttpApiEndpoint.del("kick", "/api/v1/clients/:clientId")
      .setPath(Schema.Struct({ clientId: Schema.String }))
      .addSuccess(Kicked)
      .addError(NotFound)
  )
  .addError(Unavailable)
  .middleware(AdminAuth)
{}
