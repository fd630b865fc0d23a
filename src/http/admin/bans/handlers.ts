/** The bans routes over the Bans service: the decider's refusals as 400, an absent ban as 404. */
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import type { Ban } from "../../../../domain/ban/BanState.js"
import { Bans } from "../../../bans/Bans.js"
import { BrokerApi } from "../../Api.js"
import { withBroker } from "../BrokerHandle.js"
import { BadRequest, NotFound, ServerError } from "../errors.js"
import { BanView } from "./api.js"

export const banView = (ban: Ban): BanView =>
  new BanView({
    kind: ban.kind,
    value: ban.value,
    addedAt: new Date(ban.at).toISOString(),
    until: ban.until === null ? null : new Date(ban.until).toISOString(),
    reason: ban.reason,
    by: ban.by
  })

const storageFailed = (error: { readonly _tag: string }) =>
  Effect.zipRight(
    Effect.logError("admin: a ban could not be stored", error),
    Effect.fail(new ServerError({ message: "the ban could not be stored (storage failed); the broker log has the details" }))
  )

export const BansLive = HttpApiBuilder.group(BrokerApi, "bans", (handlers) =>
  handlers
    .handle("list", ({ urlParams: q }) =>
      withBroker(Effect.flatMap(Bans, (bans) =>
        Effect.map(bans.list({ after: q.cursor, limit: q.limit, kind: q.kind }), (page) => ({ items: page.items.map(banView), next: page.next })))))
    .handle("add", ({ payload }) =>
      withBroker(Effect.flatMap(Bans, (bans) => bans.add(payload)).pipe(
        Effect.map(({ ban, disconnected }) => ({ ban: banView(ban), disconnected })),
        Effect.catchTags({
          InvalidBan: (e) => Effect.fail(new BadRequest({ message: e.message })),
          StorageError: storageFailed,
          VersionConflict: storageFailed
        })
      )))
    .handle("remove", ({ path }) =>
      withBroker(Effect.flatMap(Bans, (bans) => bans.remove(path.kind, path.value)).pipe(
        Effect.map(banView),
        Effect.catchTags({
          InvalidBan: (e) => Effect.fail(new BadRequest({ message: e.message })),
          BanNotFound: (e) => Effect.fail(new NotFound({ message: e.message })),
          StorageError: storageFailed,
          VersionConflict: storageFailed
        })
      ))))
