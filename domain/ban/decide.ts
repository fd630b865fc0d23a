/**
 * The ban decider. Adding a ban of a value already banned replaces it (new expiry, reason and
 * author): operators extend or shorten a ban by adding it again. Removing a ban that is not in
 * force (never added, removed, or run out) is refused as not found. Pure: state and the time in,
 * events or a refusal out.
 */
import { parseAddressRange } from "./addressRange.js"
import { type Ban, type BanState, findBan } from "./BanState.js"
import { BanAdded, type BanKind, BanRemoved } from "./events.js"

export interface AddBan {
  readonly kind: BanKind
  readonly value: string
  /** Omitted: for ever. */
  readonly durationSeconds?: number | undefined
  readonly reason?: string | undefined
  readonly by?: string | undefined
}

/** The input cannot be a ban (the message says what to send instead). */
export interface BanRejected {
  readonly _tag: "BanRejected"
  readonly message: string
}

export interface BanAbsent {
  readonly _tag: "BanAbsent"
}

/** MQTT allows client ids and user names of up to 65535 bytes. */
const MAX_VALUE = 65_535
const MAX_REASON = 1024
const MAX_BY = 256

const rejected = (message: string): BanRejected => ({ _tag: "BanRejected", message })

/** The value in the form it is stored and matched under, or why it cannot be banned. */
export const normalBanValue = (kind: BanKind, value: string): string | BanRejected => {
  if (kind === "ip") {
    const range = parseAddressRange(value)
    return typeof range === "string" ? rejected(range) : range.value
  }
  const what = kind === "clientid" ? "client id" : "user name"
  if (value.length === 0) return rejected(`the ${what} to ban is empty`)
  if (value.length > MAX_VALUE) return rejected(`the ${what} is longer than ${MAX_VALUE} characters, longer than MQTT allows`)
  return value
}

/** No state: a valid ban is accepted whatever is stored, and replaces it. */
export const decideAddBan = (cmd: AddBan, now: number): { readonly events: ReadonlyArray<BanAdded>; readonly ban: Ban } | BanRejected => {
  const value = normalBanValue(cmd.kind, cmd.value)
  if (typeof value !== "string") return value
  const duration = cmd.durationSeconds
  if (duration !== undefined && !(Number.isSafeInteger(duration) && duration > 0)) {
    return rejected(`durationSeconds must be a whole number of seconds above 0 (got ${duration}); leave it out for a ban without end`)
  }
  const reason = cmd.reason ?? ""
  if (reason.length > MAX_REASON) return rejected(`the reason is longer than ${MAX_REASON} characters; shorten it`)
  const by = cmd.by ?? ""
  if (by.length > MAX_BY) return rejected(`"by" is longer than ${MAX_BY} characters`)
  const event = new BanAdded({ kind: cmd.kind, value, at: now, until: duration === undefined ? null : now + duration * 1000, reason, by })
  const ban: Ban = { kind: event.kind, value: event.value, at: event.at, until: event.until, reason: event.reason, by: event.by }
  return { events: [event], ban }
}

export const decideRemoveBan = (
  state: BanState,
  kind: BanKind,
  value: string,
  now: number
): { readonly events: ReadonlyArray<BanRemoved>; readonly ban: Ban } | BanRejected | BanAbsent => {
  const normal = normalBanValue(kind, value)
  if (typeof normal !== "string") return normal
  const ban = findBan(state, kind, normal, now)
  if (ban === null) return { _tag: "BanAbsent" }
  return { events: [new BanRemoved({ kind, value: normal })], ban }
}
