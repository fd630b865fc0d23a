/**
 * Bans of client ids, user names and IP ranges: the read model of the event stream `bans`,
 * replayed at boot, with add and remove decided by the pure decider (domain/ban), appended with
 * the expected version (one change at a time) and folded in (ControlStream). A new ban closes the
 * connections it covers through the enforcers the listeners register (MQTT, Kafka); in a cluster
 * the stream is shared, and a ban added on another node closes this node's connections too.
 *
 * `isBanned` and `isAddressBanned` answer from memory, once per MQTT CONNECT and Kafka accept:
 * with no bans they cost one size check per kind. Expired bans are inert at once and leave
 * memory with the next sweep. Nothing here runs per message.
 */
import { Context, Duration, Effect, Layer, type Scope, Schema } from "effect"
import { addressBan, type Ban, type BanCover, banKey, bannedBy, bansInForce, coverOf, emptyBanState, evolve, pruneExpired } from "../../domain/ban/BanState.js"
import { type AddBan, decideAddBan, decideRemoveBan } from "../../domain/ban/decide.js"
import { BanEvent, type BanKind, BANS_STREAM } from "../../domain/ban/events.js"
import type { StorageError, VersionConflict } from "../../services/errors.js"
import type { EventStore } from "../../services/EventStore.js"
import * as ControlStream from "../meta/ControlStream.js"
import { DEFAULT_LIMIT, MAX_LIMIT, pageByKey, type PageOf } from "../http/admin/paging.js"

const encodeEvent = Schema.encodeSync(BanEvent)
const decodeEvent = Schema.decodeUnknownSync(BanEvent)

/** A ban that cannot be stored (empty value, not an address, bad duration); the message says what to send. */
export class InvalidBan extends Schema.TaggedError<InvalidBan>()("InvalidBan", {
  message: Schema.String
}) {}

/** No ban of this kind and value is in force. */
export class BanNotFound extends Schema.TaggedError<BanNotFound>()("BanNotFound", {
  kind: Schema.String,
  value: Schema.String,
  message: Schema.String
}) {}

/**
 * A listener's part of a new ban: closes its connections that `covers` names (MQTT v5 clients
 * get DISCONNECT 0x98); returns how many.
 */
export type BanEnforcer = (ban: Ban, covers: BanCover) => number

export interface ListBans {
  /** A key from an earlier page's `next` (`kind:value`): the page starts after it. */
  readonly after?: string | undefined
  /** Default 100, at most 1000. */
  readonly limit?: number | undefined
  /** Only bans of this kind. */
  readonly kind?: BanKind | undefined
}

export interface BansService {
  /**
   * The ban in force on this client id, user name (null/undefined: none) or address ("" when
   * not read), or null. Once per CONNECT: a few Map lookups, a BlockList check when address bans exist.
   */
  readonly isBanned: (clientId: string, username: string | null | undefined, address: string) => Ban | null
  /** The address ban in force covering `address`, or null (Kafka accept). */
  readonly isAddressBanned: (address: string) => Ban | null
  /** Whether any address ban is stored: only then must a listener read a connection's address. */
  readonly hasAddressBans: () => boolean
  /** The bans in force, ordered by `kind:value`, paged (the admin API's cursor paging). */
  readonly list: (options?: ListBans) => Effect.Effect<PageOf<Ban>>
  /** Adds (or replaces) a ban and closes the connections it covers. */
  readonly add: (cmd: AddBan) => Effect.Effect<{ readonly ban: Ban; readonly disconnected: number }, InvalidBan | StorageError | VersionConflict>
  readonly remove: (kind: BanKind, value: string) => Effect.Effect<Ban, InvalidBan | BanNotFound | StorageError | VersionConflict>
  /** Registers a listener's enforcer for the scope's lifetime. */
  readonly enforce: (enforcer: BanEnforcer) => Effect.Effect<void, never, Scope.Scope>
}

export class Bans extends Context.Tag("broker/Bans")<Bans, BansService>() {}

/** Expired bans leave memory this often (they are inert from the moment they run out). */
const SWEEP_EVERY = Duration.seconds(10)

/** `ip "10.0.0.0/8" until 2026-…Z ("scanner") by ops`, for log lines. */
export const describeBan = (ban: Ban): string =>
  `${ban.kind} ${JSON.stringify(ban.value)} ${ban.until === null ? "for ever" : `until ${new Date(ban.until).toISOString()}`}${ban.reason === "" ? "" : ` (${JSON.stringify(ban.reason)})`}${ban.by === "" ? "" : ` by ${ban.by}`}`

export const make = Effect.gen(function*() {
  const clock = yield* Effect.clock
  const state = emptyBanState()
  const enforcers = new Set<BanEnforcer>()
  const enforce = (ban: Ban) => {
    const covers = coverOf(ban)
    let disconnected = 0
    for (const enforcer of enforcers) disconnected += enforcer(ban, covers)
    return disconnected
  }
  const stream = yield* ControlStream.make<BanEvent>({
    stream: BANS_STREAM,
    encode: encodeEvent,
    decode: decodeEvent,
    apply: (e, origin) => {
      evolve(state, e)
      // Another node's ban closes this node's connections it covers too.
      if (origin === "remote" && e._tag === "BanAdded") {
        const ban: Ban = { kind: e.kind, value: e.value, at: e.at, until: e.until, reason: e.reason, by: e.by }
        if (ban.until === null || ban.until > clock.unsafeCurrentTimeMillis()) enforce(ban)
      }
    }
  })
  pruneExpired(state, clock.unsafeCurrentTimeMillis())
  const inForce = state.clientIds.size + state.usernames.size + state.addresses.size
  if (inForce > 0) yield* Effect.log(`bans: ${inForce} in force`)

  const add: BansService["add"] = (cmd) =>
    Effect.gen(function*() {
      const ban = yield* stream.change(Effect.suspend(() => {
        const decided = decideAddBan(cmd, clock.unsafeCurrentTimeMillis())
        if ("_tag" in decided) return Effect.fail(new InvalidBan({ message: decided.message }))
        return Effect.succeed({ events: decided.events, result: decided.ban })
      }))
      const disconnected = enforce(ban)
      yield* Effect.log(`bans: ${describeBan(ban)} added${disconnected > 0 ? `, ${disconnected} connection(s) closed` : ""}`)
      return { ban, disconnected }
    })

  const remove: BansService["remove"] = (kind, value) =>
    Effect.gen(function*() {
      const ban = yield* stream.change(Effect.suspend((): Effect.Effect<ControlStream.Decided<BanEvent, Ban>, InvalidBan | BanNotFound> => {
        const decided = decideRemoveBan(state, kind, value, clock.unsafeCurrentTimeMillis())
        if ("_tag" in decided) {
          if (decided._tag === "BanRejected") return Effect.fail(new InvalidBan({ message: decided.message }))
          return Effect.fail(new BanNotFound({ kind, value, message: `no ${kind} ban of ${JSON.stringify(value)} is in force; list the bans to see their exact values` }))
        }
        return Effect.succeed({ events: decided.events, result: decided.ban })
      }))
      yield* Effect.log(`bans: ${ban.kind} ${JSON.stringify(ban.value)} removed`)
      return ban
    })

  yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(SWEEP_EVERY), Effect.sync(() => pruneExpired(state, clock.unsafeCurrentTimeMillis())))))

  return Bans.of({
    isBanned: (clientId, username, address) => bannedBy(state, clientId, username, address, clock.unsafeCurrentTimeMillis()),
    isAddressBanned: (address) => addressBan(state, address, clock.unsafeCurrentTimeMillis()),
    hasAddressBans: () => state.addresses.size > 0,
    list: (options = {}) =>
      Effect.sync(() =>
        pageByKey(bansInForce(state, clock.unsafeCurrentTimeMillis()), banKey, {
          after: options.after,
          limit: Math.min(MAX_LIMIT, Math.max(1, options.limit ?? DEFAULT_LIMIT)),
          ...(options.kind === undefined ? {} : { keep: (ban: Ban) => ban.kind === options.kind })
        })
      ),
    add,
    remove,
    enforce: (enforcer) => Effect.acquireRelease(Effect.sync(() => void enforcers.add(enforcer)), () => Effect.sync(() => void enforcers.delete(enforcer)))
  })
})

export const layer: Layer.Layer<Bans, StorageError, EventStore> = Layer.scoped(Bans, make)
