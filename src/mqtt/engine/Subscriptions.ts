/**
 * The live subscription index: plain subscriptions in a trie keyed by client id, and shared
 * subscriptions (`$share/{group}/{filter}`) as one trie entry per group that picks one member
 * per message. Matching returns one Delivery target per session at the highest granted QoS with
 * every matching subscription identifier [MQTT-3.3.4-2..5]: dedupe happens here, once.
 */
import { SubscriptionTrie } from "../../../domain/topic/SubscriptionTrie.js"
import type { SubscriptionOptions } from "../../../domain/session/Session.js"
import type { LiveSession } from "./LiveSession.js"

export class Subscription {
  constructor(
    readonly session: LiveSession,
    /** The filter as subscribed, `$share/...` prefix included. */
    readonly raw: string,
    readonly filter: string,
    readonly options: SubscriptionOptions,
    /** Set by Subscriptions.add for a `$share/` subscription, so remove finds its group. */
    public group: SharedGroup | null
  ) {}

  /**
   * Made while its session was behind a cursor: the log's ends then. The read past the cursor
   * skips older records for it, which were published before it existed.
   */
  since: Map<string, number> | null = null

  /**
   * The ACL's read check for a subscription it grants only in part (`topic deny secret/#` under
   * a granted `#`): a delivery goes out only if it says yes. Null, the common case, costs one
   * field test per delivery. Set at SUBSCRIBE and whenever the client's grants are checked again.
   */
  check: ReadCheck | null = null
}

/** Whether a message on the topic name `topic` may go to a subscription's client. */
export type ReadCheck = (topic: string) => boolean

/** Members of one share group on one filter; round-robin over connected members first. */
export class SharedGroup {
  readonly members: Array<Subscription> = []
  private next = 0
  constructor(readonly key: string, readonly name: string) {}

  pick(): Subscription | null {
    const n = this.members.length
    if (n === 0) return null
    for (let i = 0; i < n; i++) {
      const s = this.members[(this.next + i) % n]!
      if (s.session.conn !== null) {
        this.next = (this.next + i + 1) % n
        return s
      }
    }
    // Nobody online: queue on a persistent member, round-robin (MQTT 5 §4.8.2).
    const s = this.members[this.next % n]!
    this.next = (this.next + 1) % n
    return s
  }
}

type Entry = Subscription | SharedGroup

/**
 * Told when the set of route keys changes: a plain filter's first subscriber and last
 * unsubscribe, a share group's first member and last (key `$share/<group>/<filter>`). The
 * cluster's route summary (src/cluster/RouteSummary.ts) is built from these, never per subscriber.
 */
export interface RouteListener {
  added(key: string): void
  removed(key: string): void
}

export const sharedRouteKey = (groupKey: string): string => `$share/${groupKey}`

export class Subscriptions {
  private readonly trie = new SubscriptionTrie<Entry>()
  private readonly groups = new Map<string, SharedGroup>()
  /** Plain subscriptions per filter: a route key exists while its count is above 0. */
  private readonly filterCounts = new Map<string, number>()
  count = 0
  routes: RouteListener | null = null

  /** Every route key now: plain filters with subscribers, and `$share/<group>/<filter>`. */
  routeKeys(): Array<string> {
    return [...this.filterCounts.keys(), ...[...this.groups.keys()].map(sharedRouteKey)]
  }

  add(sub: Subscription, shareGroup: string | null): void {
    if (shareGroup === null) {
      if (this.trie.add(sub.filter, sub.session.clientId, sub)) {
        this.count++
        const n = this.filterCounts.get(sub.filter) ?? 0
        this.filterCounts.set(sub.filter, n + 1)
        if (n === 0) this.routes?.added(sub.filter)
      }
      return
    }
    const key = `${shareGroup}/${sub.filter}`
    let group = this.groups.get(key)
    if (group === undefined) {
      group = new SharedGroup(key, shareGroup)
      this.groups.set(key, group)
      this.trie.add(sub.filter, `$share/${shareGroup}`, group)
      this.routes?.added(sharedRouteKey(key))
    }
    sub.group = group
    const i = group.members.findIndex((m) => m.session === sub.session)
    if (i === -1) {
      group.members.push(sub)
      this.count++
    } else group.members[i] = sub
  }

  remove(sub: Subscription): void {
    if (sub.group === null) {
      if (this.trie.remove(sub.filter, sub.session.clientId)) {
        this.count--
        const n = this.filterCounts.get(sub.filter)! - 1
        if (n > 0) this.filterCounts.set(sub.filter, n)
        else {
          this.filterCounts.delete(sub.filter)
          this.routes?.removed(sub.filter)
        }
      }
      return
    }
    const group = sub.group
    const i = group.members.findIndex((m) => m.session === sub.session)
    if (i === -1) return
    group.members.splice(i, 1)
    this.count--
    if (group.members.length === 0) {
      this.groups.delete(group.key)
      this.trie.remove(sub.filter, `$share/${group.name}`)
      this.routes?.removed(sharedRouteKey(group.key))
    }
  }

  /** Hot path: raw trie entries for `topic` (shared groups still unresolved). Do not mutate. */
  match(topic: string): ReadonlyArray<Entry> {
    return this.trie.match(topic)
  }

  hasMatch(topic: string): boolean {
    return this.trie.hasMatch(topic)
  }
}

export const isGroup = (e: Entry): e is SharedGroup => e instanceof SharedGroup
