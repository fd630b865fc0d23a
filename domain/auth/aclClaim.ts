/**
 * The `acl` claim of a JWT (EMQX style) as pure functions: parsed once per CONNECT
 * (`parseAclClaim`, which refuses what it cannot honour), compiled for one client
 * (`compileAclClaim`: `${username}` / `${clientid}` substituted), then asked the same three
 * questions as a compiled ACL file (publish, subscribe verdict, read), so ClientAcl can
 * intersect the two and keep its decide-once-per-subscription and per-topic caches.
 *
 * Two forms are accepted:
 * - EMQX 4 / 5.0: `{"pub": [filters], "sub": [filters], "all": [filters]}`: allow lists only.
 * - EMQX 5 rules: `[{"permission": "allow"|"deny", "action": "publish"|"subscribe"|"all",
 *   "topic": "t/#" | "eq t/#"}, ...]`, first match wins. `eq F` matches the filter F literally
 *   (a subscription to exactly F; publishing only when F holds no wildcard). Rules with `qos` or
 *   `retain` conditions are refused rather than half-honoured.
 *
 * First match is kept exactly by splitting the rules into segments: each allow rule joins the
 * segment of the deny rules written before it (deny wins inside a segment), and the client may
 * do what any segment allows. Anything no rule allows is refused: the claim is a whitelist.
 */
import { validateTopicFilter } from "../topic/TopicFilter.js"
import { filterVerdict, type Levels, matchesTopic, SubscribeVerdict } from "./authorize.js"

/** One rule of a parsed claim, placeholders still in `topic`. */
export interface ClaimRule {
  readonly allow: boolean
  readonly publish: boolean
  readonly subscribe: boolean
  /** `eq`: the filter itself, not what it matches. */
  readonly exact: boolean
  readonly topic: string
}

/** A claim as rules in order (the map form becomes allow rules). */
export type AclClaim = ReadonlyArray<ClaimRule>

/** Allow rules and the deny rules written before them. */
interface Segment {
  readonly read: Array<Levels>
  readonly write: Array<Levels>
  readonly deny: Array<Levels>
  /** `eq` filters with wildcards: subscriptions to exactly these are granted / refused. */
  readonly readExact: Array<Levels>
  readonly denyExact: Array<Levels>
}

/** A claim compiled for one client: what any of its segments allows. */
export interface CompiledClaim {
  readonly segments: ReadonlyArray<Segment>
}

const MAX_RULES = 1000

const filterProblem = (topic: string): string | undefined => {
  // Placeholders stand for one non-empty level here; their values are checked at compile time.
  const probe = topic.replace(/\$\{(username|clientid)\}/g, "x")
  if (probe.includes("${")) return `topic ${JSON.stringify(topic)} has a placeholder other than \${username} and \${clientid}`
  return validateTopicFilter(probe, 1024, 65535) === 0 ? undefined : `topic ${JSON.stringify(topic)} is not a valid topic filter`
}

const parseTopic = (raw: unknown): { readonly topic: string; readonly exact: boolean } | string => {
  if (typeof raw !== "string") return `a topic must be a string, got ${typeof raw}`
  const exact = raw.startsWith("eq ")
  const topic = exact ? raw.slice(3) : raw
  return filterProblem(topic) ?? { topic, exact }
}

const ACTIONS: Record<string, readonly [publish: boolean, subscribe: boolean]> = {
  publish: [true, false],
  pub: [true, false],
  subscribe: [false, true],
  sub: [false, true],
  all: [true, true]
}

const parseMapForm = (claim: Record<string, unknown>): AclClaim | string => {
  const rules: Array<ClaimRule> = []
  for (const [key, list] of Object.entries(claim)) {
    if (key !== "pub" && key !== "sub" && key !== "all") return `unknown key "${key}" (the map form has "pub", "sub" and "all")`
    if (!Array.isArray(list)) return `"${key}" must be a list of topic filters`
    const [publish, subscribe] = ACTIONS[key]!
    for (const raw of list) {
      const parsed = parseTopic(raw)
      if (typeof parsed === "string") return `"${key}": ${parsed}`
      rules.push({ allow: true, publish, subscribe, ...parsed })
    }
  }
  return rules
}

const parseListForm = (claim: ReadonlyArray<unknown>): AclClaim | string => {
  const rules: Array<ClaimRule> = []
  for (let i = 0; i < claim.length; i++) {
    const rule = claim[i]
    const at = `rule ${i + 1}`
    if (typeof rule !== "object" || rule === null || Array.isArray(rule)) return `${at} must be an object`
    const r = rule as Record<string, unknown>
    for (const key of Object.keys(r)) {
      if (key === "qos" || key === "retain") return `${at}: "${key}" conditions are not supported`
      if (key !== "permission" && key !== "action" && key !== "topic") return `${at}: unknown key "${key}"`
    }
    if (r.permission !== "allow" && r.permission !== "deny") return `${at}: "permission" must be "allow" or "deny"`
    const action = typeof r.action === "string" ? ACTIONS[r.action] : undefined
    if (action === undefined) return `${at}: "action" must be "publish", "subscribe" or "all"`
    const parsed = parseTopic(r.topic)
    if (typeof parsed === "string") return `${at}: ${parsed}`
    rules.push({ allow: r.permission === "allow", publish: action[0], subscribe: action[1], ...parsed })
  }
  return rules
}

/** The rules of an `acl` claim, or why it is refused (one line, no claim values but the topic). */
export const parseAclClaim = (claim: unknown): AclClaim | string => {
  const parsed = Array.isArray(claim)
    ? parseListForm(claim)
    : typeof claim === "object" && claim !== null
    ? parseMapForm(claim as Record<string, unknown>)
    : `must be an object ({"pub": [...], "sub": [...], "all": [...]}) or a list of rules`
  if (typeof parsed !== "string" && parsed.length > MAX_RULES) return `more than ${MAX_RULES} rules`
  return parsed
}

/** A name that would turn into a wildcard inside a topic (as compileAcl refuses for patterns). */
const dangerous = (name: string): boolean => name.includes("+") || name.includes("#")

const hasWildcard = (levels: Levels): boolean => levels.some((l) => l === "+" || l === "#")

const sameLevels = (a: Levels, b: Levels): boolean => a.length === b.length && a.every((level, i) => level === b[i])

/**
 * The claim for one client. An allow rule whose placeholder would bring a `+` or `#` from the
 * name grants nothing; a deny rule still denies.
 */
export const compileAclClaim = (claim: AclClaim, username: string, clientId: string): CompiledClaim => {
  const segments: Array<Segment> = []
  const deny: Array<Levels> = []
  const denyExact: Array<Levels> = []
  let current: Segment | null = null
  for (const rule of claim) {
    const hasUser = rule.topic.includes("${username}")
    const hasClient = rule.topic.includes("${clientid}")
    if (rule.allow && ((hasUser && dangerous(username)) || (hasClient && dangerous(clientId)))) continue
    const levels = rule.topic.replace(/\$\{(username|clientid)\}/g, (_, which: string) => (which === "username" ? username : clientId)).split("/")
    // `eq F` for a topic name without wildcards is the same as F.
    const exact = rule.exact && hasWildcard(levels)
    if (!rule.allow) {
      // A deny rule only shadows the allow rules after it: those go to a new segment.
      if (exact) {
        if (rule.subscribe) denyExact.push(levels)
      } else deny.push(levels)
      current = null
      continue
    }
    if (current === null) {
      current = { read: [], write: [], deny: [...deny], readExact: [], denyExact: [...denyExact] }
      segments.push(current)
    }
    if (rule.publish && !exact) current.write.push(levels)
    if (rule.subscribe) (exact ? current.readExact : current.read).push(levels)
  }
  return { segments }
}

const denied = (deny: ReadonlyArray<Levels>, topic: string): boolean => {
  for (const d of deny) if (matchesTopic(d, topic)) return true
  return false
}

/** Whether the claim lets the client publish to the topic name `topic`. */
export const claimMayPublish = (claim: CompiledClaim, topic: string): boolean => {
  for (const s of claim.segments) {
    if (denied(s.deny, topic)) continue
    for (const w of s.write) if (matchesTopic(w, topic)) return true
  }
  return false
}

/** Whether the claim lets the client receive a message published to `topic`. */
export const claimMayRead = (claim: CompiledClaim, topic: string): boolean => {
  for (const s of claim.segments) {
    if (denied(s.deny, topic)) continue
    for (const r of s.read) if (matchesTopic(r, topic)) return true
    // What `eq F` lets the client subscribe to, it may read: F's topics are no secret to it.
    for (const r of s.readExact) if (matchesTopic(r, topic)) return true
  }
  return false
}

const segmentVerdict = (s: Segment, filter: Levels): SubscribeVerdict => {
  for (const x of s.denyExact) if (sameLevels(x, filter)) return SubscribeVerdict.Refused
  for (const x of s.readExact) {
    // Granted as a whole by its own rule: only the deny rules can take topics away.
    if (sameLevels(x, filter)) return filterVerdict({ read: [filter], write: [], deny: s.deny }, filter)
  }
  return filterVerdict(s, filter)
}

/**
 * The claim's verdict on the (valid, non-shared) filter split into levels: granted when one
 * segment grants all of it, refused when every segment refuses it, filtered otherwise (each
 * delivery then asks `claimMayRead`).
 */
export const claimVerdict = (claim: CompiledClaim, filter: Levels): SubscribeVerdict => {
  let verdict: SubscribeVerdict = SubscribeVerdict.Refused
  for (const s of claim.segments) {
    const v = segmentVerdict(s, filter)
    if (v === SubscribeVerdict.Granted) return v
    if (v === SubscribeVerdict.Filtered) verdict = v
  }
  return verdict
}

/**
 * Two verdicts on one filter, intersected (an ACL file and a claim): refused if either refuses,
 * granted if both grant, otherwise filtered (a delivery must pass both read checks).
 */
export const bothVerdicts = (a: SubscribeVerdict, b: SubscribeVerdict): SubscribeVerdict =>
  a === SubscribeVerdict.Refused || b === SubscribeVerdict.Refused
    ? SubscribeVerdict.Refused
    : a === SubscribeVerdict.Granted && b === SubscribeVerdict.Granted
    ? SubscribeVerdict.Granted
    : SubscribeVerdict.Filtered
