/** Users and ACL from the auth read model; a reload re-reads the files as SIGHUP does. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { BrokerConfig } from "../../../../config/BrokerConfig.js"
import { Auth } from "../../../auth/Auth.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { BadRequest } from "../errors.js"
import { pageByKey } from "../paging.js"
import { AclView, User } from "./api.js"

export const AccessLive = HttpApiBuilder.group(BrokerApi, "access", (handlers) =>
  handlers
    .handle("users", ({ urlParams: q }) =>
      withBroker(Effect.gen(function*() {
        const auth = yield* Auth
        const { auth: config } = yield* BrokerConfig
        const page = pageByKey(auth.state.users.keys(), (name) => name, {
          after: q.cursor,
          limit: q.limit,
          keep: (name) => q.prefix === undefined || name.startsWith(q.prefix)
        })
        const scramOf = (name: string) => [...auth.state.scram].filter(([, users]) => users.has(name)).map(([mechanism]) => mechanism)
        return {
          items: page.items.map((username) => new User({ username, superuser: config.superusers.includes(username), scram: scramOf(username) })),
          next: page.next
        }
      })))
    .handle("acl", () =>
      withBroker(Effect.map(Auth, (auth) => new AclView({ configured: auth.state.acl !== null, rules: auth.state.acl ?? [] }))))
    .handle("reload", () =>
      withBroker(Effect.gen(function*() {
        const auth = yield* Auth
        const changes = yield* auth.reload.pipe(
          Effect.mapError((e) => new BadRequest({ message: `reload refused, the old files stay in force: ${e.message}` }))
        )
        yield* Effect.logInfo(`admin: auth files reloaded (acl ${changes.acl}, ${changes.kicked} kicked)`)
        return {
          usersAdded: changes.usersAdded,
          passwordsChanged: changes.passwordsChanged,
          usersRemoved: changes.usersRemoved,
          acl: changes.acl,
          kicked: changes.kicked,
          subscriptionsRemoved: changes.subscriptionsRemoved
        }
      }))))
