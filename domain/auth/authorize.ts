/**
 * Authorization against an ACL, as pure functions. At CONNECT the rules that apply to one
 * client are compiled once (`compileAcl`: its user section's `topic` rules, every `pattern`
 * with `%c` / `%u` substituted), split into levels; then:
 *
 * - PUBLISH to topic T: refused if a deny rule matches T, allowed if a write/readwrite rule
 *   matches T, refused otherwise (deny wins, whatever the rule order).
 * - SUBSCRIBE to filter F (`$share/group/F` is checked on F), as Mosquitto does: refused if no
 *   read/readwrite rule intersects F (no topic is matched by both) or a deny rule covers F (every
 *   topic F can match is denied); granted otherwise. A granted F needs a read check per delivery
 *   only if some deny rule intersects it or no single read rule covers it (`subscribeVerdict`):
 *   `topic readwrite #` + `topic deny secret/#` grants `#` and filters out `secret/...`.
 * - Reading topic T (`mayRead`: deliveries of filtered subscriptions, and what a session owes
 *   after the ACL changed): refused if a deny rule matches T, allowed if a read rule matches T.
 *
 * Matching follows MQTT: `+` one level, `#` any number including none, and a topic starting
 * with `$` is not matched by a filter starting with a wildcard [MQTT-4.7.2-1], so `#` never
 * covers `$SYS/...` and `$SYS/#` follows the ACL like any other topic.
 */
import { parseShared } from "../topic/TopicFilter.js"
import type { AclRule } from "./AclRule.js"

export type Levels = ReadonlyArray<string>

export interface CompiledAcl {
  readonly read: ReadonlyArray<Levels>
  readonly write: ReadonlyArray<Levels>
  readonly deny: ReadonlyArray<Levels>
}

/** A name that would turn into a wildcard inside a pattern (mosquitto refuses these too). */
const dangerous = (name: string | null): boolean => name !== null && (name.includes("+") || name.includes("#"))

const substitute = (topic: string, username: string | null, clientId: string): string =>
  topic.replace(/%([cu])/g, (_, which: string) => (which === "c" ? clientId : username!))

/**
 * The rules that apply to one client, substitutions done. `username` null is an anonymous
 * client: it gets the topic rules before the first `user` line, and no pattern holding `%u`.
 * A pattern whose substitution would bring a `+` or `#` from the name grants nothing (it still
 * denies).
 */
export const compileAcl = (rules: ReadonlyArray<AclRule>, username: string | null, clientId: string): CompiledAcl => {
  const read: Array<Levels> = []
  const write: Array<Levels> = []
  const deny: Array<Levels> = []
  for (const rule of rules) {
    let topic = rule.topic
    if (rule.kind === "topic") {
      if (rule.username !== username) continue
    } else {
      const hasUser = topic.includes("%u")
      const hasClient = topic.includes("%c")
      if (hasUser && username === null) continue
      if (rule.access !== "deny" && ((hasUser && dangerous(username)) || (hasClient && dangerous(clientId)))) continue
      if (hasUser || hasClient) topic = substitute(topic, username, clientId)
    }
    const levels = topic.split("/")
    switch (rule.access) {
      case "deny":
        deny.push(levels)
        break
      case "read":
        read.push(levels)
        break
      case "write":
        write.push(levels)
        break
      case "readwrite":
        read.push(levels)
        write.push(levels)
        break
    }
  }
  return { read, write, deny }
}

const isWild = (level: string | undefined): boolean => level === "+" || level === "#"
const isDollar = (level: string | undefined): boolean => level !== undefined && level.charCodeAt(0) === 36

/**
 * True when the filter `rule` matches the topic name `topic`, walking the topic in place (no
 * split, no allocation): this runs on a publish-decision cache miss.
 */
export const matchesTopic = (rule: Levels, topic: string): boolean => {
  // [MQTT-4.7.2-1]
  if (topic.charCodeAt(0) === 36 && isWild(rule[0])) return false
  const length = topic.length
  let pos = 0
  for (let i = 0; i < rule.length; i++) {
    const level = rule[i]!
    // Before the end check, so that `a/#` matches `a` [MQTT-4.7.1-2].
    if (level === "#") return true
    if (pos > length) return false
    let end = topic.indexOf("/", pos)
    if (end < 0) end = length
    if (level !== "+" && (end - pos !== level.length || !topic.startsWith(level, pos))) return false
    pos = end + 1
  }
  return pos === length + 1
}

/** True when every topic the filter `filter` can match is matched by the filter `rule`. */
export const covers = (rule: Levels, filter: Levels): boolean => {
  // A filter starting with "$x" only matches "$" topics, which a leading wildcard never does.
  if (isWild(rule[0]) && isDollar(filter[0])) return false
  for (let i = 0; ; i++) {
    const r = rule[i]
    const f = filter[i]
    if (r === "#") return true
    if (f === undefined) return r === undefined
    // A top-level `#` matches every topic of one level or more, and so does `+/#`.
    if (f === "#") return i === 0 && r === "+" && rule[1] === "#" && rule.length === 2
    if (r === undefined) return false
    if (r === "+") continue
    if (f === "+" || r !== f) return false
  }
}

/** True when some topic is matched by both filters. */
export const intersects = (a: Levels, b: Levels): boolean => {
  const a0 = a[0]
  const b0 = b[0]
  if ((isWild(a0) && !isWild(b0) && isDollar(b0)) || (isWild(b0) && !isWild(a0) && isDollar(a0))) return false
  for (let i = 0; ; i++) {
    const x = a[i]
    const y = b[i]
    if (x === "#" || y === "#") return true
    if (x === undefined || y === undefined) return x === y
    if (x !== "+" && y !== "+" && x !== y) return false
  }
}

/** Whether the client may publish to the topic name `topic`. */
export const mayPublish = (acl: CompiledAcl, topic: string): boolean => {
  for (const d of acl.deny) if (matchesTopic(d, topic)) return false
  for (const w of acl.write) if (matchesTopic(w, topic)) return true
  return false
}

/**
 * Whether the client may receive a message published to the topic name `topic`: Mosquitto's
 * per-delivery read check, asked only by subscriptions whose verdict is `Filtered`, and for what
 * a session owes its client after the ACL changed. Walks the rules in place: no allocation.
 */
export const mayRead = (acl: CompiledAcl, topic: string): boolean => {
  for (const d of acl.deny) if (matchesTopic(d, topic)) return false
  for (const r of acl.read) if (matchesTopic(r, topic)) return true
  return false
}

/** What a SUBSCRIBE to a filter gets, decided once per subscription and ACL. */
export const SubscribeVerdict = {
  /** No read rule reaches the filter, or a deny rule covers all of it: 0x87 / 0x80. */
  Refused: 0,
  /** Every topic it matches is readable: deliveries need no check. */
  Granted: 1,
  /** Granted, but some topics it matches are not readable: each delivery asks `mayRead`. */
  Filtered: 2
} as const
export type SubscribeVerdict = (typeof SubscribeVerdict)[keyof typeof SubscribeVerdict]

/** The verdict on the (valid, non-shared) filter split into `filter` levels. */
export const filterVerdict = (acl: CompiledAcl, filter: Levels): SubscribeVerdict => {
  let reached = false
  let covered = false
  for (const r of acl.read) {
    if (!intersects(r, filter)) continue
    reached = true
    if (covers(r, filter)) {
      covered = true
      break
    }
  }
  if (!reached) return SubscribeVerdict.Refused
  let denied = false
  for (const d of acl.deny) {
    if (!intersects(d, filter)) continue
    if (covers(d, filter)) return SubscribeVerdict.Refused
    denied = true
  }
  return covered && !denied ? SubscribeVerdict.Granted : SubscribeVerdict.Filtered
}

/** The verdict on `raw` (a valid filter; `$share/group/F` is decided on F). */
export const subscribeVerdict = (acl: CompiledAcl, raw: string): SubscribeVerdict => {
  const shared = parseShared(raw)
  if (typeof shared === "number") return SubscribeVerdict.Refused
  return filterVerdict(acl, (shared === null ? raw : shared.filter).split("/"))
}

/** Whether the client may subscribe to `raw` (a valid filter; `$share/group/F` is checked on F). */
export const maySubscribe = (acl: CompiledAcl, raw: string): boolean => subscribeVerdict(acl, raw) !== SubscribeVerdict.Refused
