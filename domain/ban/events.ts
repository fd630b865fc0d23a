/**
 * Ban events, Schema-encoded into the EventStore stream `bans`: an operator banned a client id,
 * a user name or an address range (BanAdded, which replaces an earlier ban of the same value),
 * or lifted one (BanRemoved). Times are absolute (epoch milliseconds), so a replay after a
 * restart knows which bans have run out meanwhile. Version 1 of each.
 */
import { Schema } from "effect"

export const BANS_STREAM = "bans"

/** What a ban names: an MQTT client id, a user name (MQTT and Kafka SASL), or an IP address / CIDR range. */
export const BanKind = Schema.Literal("clientid", "username", "ip")
export type BanKind = typeof BanKind.Type

export class BanAdded extends Schema.TaggedClass<BanAdded>()("BanAdded", {
  kind: BanKind,
  /** The client id or user name exactly; for `ip`, the range in its normal form (addressRange.ts). */
  value: Schema.String,
  /** When it was added. */
  at: Schema.Number,
  /** When it runs out; null: never. */
  until: Schema.NullOr(Schema.Number),
  reason: Schema.String,
  /** Who added it (an admin user or token name); "" when not known. */
  by: Schema.String
}) {}

export class BanRemoved extends Schema.TaggedClass<BanRemoved>()("BanRemoved", {
  kind: BanKind,
  value: Schema.String
}) {}

export const BanEvent = Schema.Union(BanAdded, BanRemoved)
export type BanEvent = typeof BanEvent.Type
