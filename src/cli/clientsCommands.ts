/** `robustmq clients list|show|kick` over /api/v1/clients. */
import { Args, Command } from "@effect/cli"
import { Console, Effect } from "effect"
import type { Client } from "../http/admin/clients/api.js"
import { callApi, connectionOptions } from "./AdminClient.js"
import { allFields, listCommand, pathParam, printJson, printObject } from "./apiCommand.js"
import { optionalChoice, optionalText } from "./flags.js"

const clientId = Args.text({ name: "CLIENT_ID" })

const list = listCommand({
  name: "list",
  description: "Connected MQTT clients, filtered on the server",
  filters: {
    prefix: optionalText("prefix", "TEXT", "client ids starting with TEXT"),
    username: optionalText("username", "USER", "clients of this user name"),
    ip: optionalText("ip", "ADDRESS", "clients from this remote address, exactly"),
    protocol: optionalChoice("protocol", ["3.1", "3.1.1", "5.0"], "MQTT protocol version"),
    listener: optionalChoice("listener", ["tcp", "tls", "ws", "wss"], "the listener they came in on")
  },
  call: (api, f, page) => api.clients.list({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "client id", value: (c: Client) => c.clientId },
    { header: "user", value: (c) => c.username },
    { header: "address", value: (c) => `${c.address}:${c.port}` },
    { header: "listener", value: (c) => c.listener },
    { header: "proto", value: (c) => c.protocol },
    { header: "connected at", value: (c) => c.connectedAt },
    { header: "subs", value: (c) => c.subscriptions, right: true },
    { header: "inflight", value: (c) => c.inflight, right: true },
    { header: "queued", value: (c) => c.queued, right: true }
  ],
  empty: "no clients connected"
})

const show = Command.make("show", { ...connectionOptions, clientId }, (flags) =>
  Effect.flatMap(
    callApi(flags, (api) => api.clients.show({ path: { clientId: pathParam(flags.clientId) } })),
    (client) => printObject(flags.output, client, allFields)
  )).pipe(Command.withDescription("One connected client: address, listener, protocol, keepalive, session expiry, counts"))

const kick = Command.make("kick", { ...connectionOptions, clientId }, (flags) =>
  Effect.flatMap(
    callApi(flags, (api) => api.clients.kick({ path: { clientId: pathParam(flags.clientId) } })),
    (kicked) =>
      flags.output === "json"
        ? printJson(kicked)
        : Console.log(`kicked ${kicked.clientId} (DISCONNECT reason 0x${kicked.reasonCode.toString(16)} to MQTT 5 clients)`)
  )).pipe(Command.withDescription("Disconnect a client now (MQTT 5 clients get DISCONNECT 0x98, Administrative action)"))

export const clients = Command.make("clients").pipe(
  Command.withDescription("Connected MQTT clients: list, show, kick"),
  Command.withSubcommands([list, show, kick])
)
