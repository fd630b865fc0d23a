/** `robustmq bans list|add|delete`: client ids, user names and IP addresses or CIDR ranges, over /api/v1/bans. */
import { Args, Command, HelpDoc } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import type { BanView } from "../http/admin/bans/api.js"
import { callApi, connectionOptions } from "./AdminClient.js"
import { listCommand, pathParam, printJson } from "./apiCommand.js"
import { optionalChoice, optionalText, wholeNumber } from "./flags.js"

const KINDS = ["clientid", "username", "ip"] as const
type Kind = typeof KINDS[number]

/** KIND as an argument, checked like a choice flag: one line naming what was wrong. */
const kind = Args.text({ name: "KIND" }).pipe(
  Args.withDescription("clientid, username or ip"),
  Args.mapEffect((value) =>
    (KINDS as ReadonlyArray<string>).includes(value)
      ? Effect.succeed(value as Kind)
      : Effect.fail(HelpDoc.p(`KIND must be clientid, username or ip, got ${JSON.stringify(value)}`)))
)
const value = Args.text({ name: "VALUE" }).pipe(Args.withDescription("the client id or user name exactly, or an IP address or CIDR range (203.0.113.0/24)"))

const list = listCommand({
  name: "list",
  description: "Bans in force",
  filters: { kind: optionalChoice("kind", KINDS, "only bans of this kind") },
  call: (api, f, page) => api.bans.list({ urlParams: { ...page, ...f } }),
  columns: [
    { header: "kind", value: (b: BanView) => b.kind },
    { header: "value", value: (b) => b.value },
    { header: "added at", value: (b) => b.addedAt },
    { header: "until", value: (b) => b.until ?? "for ever" },
    { header: "reason", value: (b) => b.reason },
    { header: "by", value: (b) => b.by }
  ],
  empty: "no bans"
})

const duration = optionalText("duration", "SECONDS", "how long it lasts; default: until deleted")
const reason = optionalText("reason", "TEXT", "why, for the record")

const add = Command.make("add", { ...connectionOptions, kind, value, duration, reason }, (flags) =>
  Effect.gen(function*() {
    const seconds = Option.isSome(flags.duration) ? yield* wholeNumber("duration", flags.duration.value) : undefined
    const added = yield* callApi(flags, (api) =>
      api.bans.add({
        payload: {
          kind: flags.kind,
          value: flags.value,
          by: "robustmq CLI",
          ...(seconds === undefined ? {} : { durationSeconds: seconds }),
          ...(Option.isSome(flags.reason) ? { reason: flags.reason.value } : {})
        }
      }))
    if (flags.output === "json") return yield* printJson(added)
    const b = added.ban
    yield* Console.log(`banned ${b.kind} ${b.value} ${b.until === null ? "until deleted" : `until ${b.until}`}; ${added.disconnected} connection(s) closed`)
  })).pipe(Command.withDescription("Ban a client id, user name or IP/CIDR (its connections close; new CONNECTs are refused with 0x8A / v3 code 5)"))

const del = Command.make("delete", { ...connectionOptions, kind, value }, (flags) =>
  Effect.flatMap(
    callApi(flags, (api) => api.bans.remove({ path: { kind: flags.kind, value: pathParam(flags.value) } })),
    (b) => flags.output === "json" ? printJson(b) : Console.log(`lifted the ban of ${b.kind} ${b.value}`)
  )).pipe(Command.withDescription("Lift a ban"))

export const bans = Command.make("bans").pipe(
  Command.withDescription("Bans of client ids, user names and IP addresses or ranges: list, add, delete"),
  Command.withSubcommands([list, add, del])
)
