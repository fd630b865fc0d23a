/**
 * Every admin route group's handlers, with the auth middleware they share. A new group: its
 * api.ts added to BrokerApi (src/http/Api.ts), its handlers here.
 */
import { Layer } from "effect"
import { authLayer } from "./AdminAuth.js"
import { ClientsLive } from "./clients/handlers.js"
import { LoginLive, LogoutLive } from "./login/handlers.js"

export const AdminLive = Layer.mergeAll(LoginLive, LogoutLive, ClientsLive).pipe(Layer.provide(authLayer))
