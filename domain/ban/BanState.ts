/**
 * The ban read model: the bans by kind, built by folding the `bans` stream with `evolve`, in
 * place. A ban past its `until` is inert: matching and listing take `now` and skip it, and
 * `pruneExpired` drops it from memory (no event: the stream already says when it ends).
 *
 * Matching is what every MQTT CONNECT and Kafka accept asks, so it is a few Map lookups and, only
 * while address bans exist, one BlockList check over all of them (`anyAddress`); the per-ban
 * matchers are walked only on a hit, to find the ban and its expiry.
 */
import { type AddressMatcher, addressMatcher, parseAddressRange, type AddressRange } from "./addressRange.js"
import type { BanEvent, BanKind } from "./events.js"

export interface Ban {
  readonly kind: BanKind
  readonly value: string
  readonly at: number
  /** Epoch ms; null: never runs out. */
  readonly until: number | null
  readonly reason: string
  readonly by: string
}

interface AddressBan {
  readonly ban: Ban
  readonly range: AddressRange
  readonly matches: AddressMatcher
}

export interface BanState {
  readonly clientIds: Map<string, Ban>
  readonly usernames: Map<string, Ban>
  readonly addresses: Map<string, AddressBan>
  /** Every address ban, expired or not, in one matcher (rebuilt when they change). */
  anyAddress: AddressMatcher
}

export const emptyBanState = (): BanState => ({
  clientIds: new Map(),
  usernames: new Map(),
  addresses: new Map(),
  anyAddress: addressMatcher([])
})

export const isActive = (ban: Ban, now: number): boolean => ban.until === null || ban.until > now

const rebuildAddresses = (state: BanState): void => {
  state.anyAddress = addressMatcher([...state.addresses.values()].map((a) => a.range))
}

export const evolve = (state: BanState, event: BanEvent): BanState => {
  switch (event._tag) {
    case "BanAdded": {
      const ban: Ban = { kind: event.kind, value: event.value, at: event.at, until: event.until, reason: event.reason, by: event.by }
      if (ban.kind === "clientid") state.clientIds.set(ban.value, ban)
      else if (ban.kind === "username") state.usernames.set(ban.value, ban)
      else {
        // Stored in normal form by the decider, so it parses.
        const range = parseAddressRange(ban.value) as AddressRange
        state.addresses.set(ban.value, { ban, range, matches: addressMatcher([range]) })
        rebuildAddresses(state)
      }
      break
    }
    case "BanRemoved":
      if (event.kind === "clientid") state.clientIds.delete(event.value)
      else if (event.kind === "username") state.usernames.delete(event.value)
      else if (state.addresses.delete(event.value)) rebuildAddresses(state)
      break
  }
  return state
}

/** The ban of exactly this kind and value, if it is in force. */
export const findBan = (state: BanState, kind: BanKind, value: string, now: number): Ban | null => {
  const ban = kind === "clientid" ? state.clientIds.get(value) : kind === "username" ? state.usernames.get(value) : state.addresses.get(value)?.ban
  return ban !== undefined && isActive(ban, now) ? ban : null
}

/** The address ban in force that covers `address`, if any. */
export const addressBan = (state: BanState, address: string, now: number): Ban | null => {
  if (state.addresses.size === 0 || address === "" || !state.anyAddress(address)) return null
  for (const a of state.addresses.values()) if (isActive(a.ban, now) && a.matches(address)) return a.ban
  return null
}

/**
 * The ban in force on this client id, user name or address, if any (client id first, then user,
 * then address). `address` "" or `username` null/undefined: not checked.
 */
export const bannedBy = (state: BanState, clientId: string, username: string | null | undefined, address: string, now: number): Ban | null => {
  if (state.clientIds.size > 0) {
    const ban = state.clientIds.get(clientId)
    if (ban !== undefined && isActive(ban, now)) return ban
  }
  if (username != null && state.usernames.size > 0) {
    const ban = state.usernames.get(username)
    if (ban !== undefined && isActive(ban, now)) return ban
  }
  return addressBan(state, address, now)
}

/** Whether a connection is one `ban` names (for closing those a new ban covers); the address is read only for an IP ban. */
export type BanCover = (clientId: string, username: string | null | undefined, address: () => string) => boolean

export const coverOf = (ban: Ban): BanCover => {
  switch (ban.kind) {
    case "clientid":
      return (clientId) => clientId === ban.value
    case "username":
      return (_clientId, username) => username === ban.value
    case "ip": {
      const matches = addressMatcher([parseAddressRange(ban.value) as AddressRange])
      return (_clientId, _username, address) => matches(address())
    }
  }
}

/** Drops the bans that ran out; returns how many. */
export const pruneExpired = (state: BanState, now: number): number => {
  let n = 0
  for (const map of [state.clientIds, state.usernames]) {
    for (const [value, ban] of map) {
      if (!isActive(ban, now)) {
        map.delete(value)
        n++
      }
    }
  }
  let addresses = 0
  for (const [value, a] of state.addresses) {
    if (!isActive(a.ban, now)) {
      state.addresses.delete(value)
      addresses++
    }
  }
  if (addresses > 0) rebuildAddresses(state)
  return n + addresses
}

/** A ban's key in listings and cursors: `kind:value` (a kind has no colon). */
export const banKey = (ban: Pick<Ban, "kind" | "value">): string => `${ban.kind}:${ban.value}`

/** Every ban in force, in no particular order (the admin API pages them by `banKey`). */
export function* bansInForce(state: BanState, now: number): Generator<Ban> {
  for (const ban of state.clientIds.values()) if (isActive(ban, now)) yield ban
  for (const ban of state.usernames.values()) if (isActive(ban, now)) yield ban
  for (const a of state.addresses.values()) if (isActive(a.ban, now)) yield a.ban
}
