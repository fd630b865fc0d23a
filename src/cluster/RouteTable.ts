/**
 * The other nodes' route summaries, folded from etcd (`routes/<node>/<digest>` = route key):
 * a trie that says, for a topic, which nodes have subscribers (plain filters) and which share
 * groups live where. Kept by a watch resumed by revision; a broken watch lists again.
 */
import { Effect, Stream } from "effect"
import { SubscriptionTrie } from "../../domain/topic/SubscriptionTrie.js"
import { parseShared } from "../../domain/topic/TopicFilter.js"
import type { CoordinationService, KeyChange } from "../../services/Coordination.js"
import { routesPrefix } from "./RouteSummary.js"

/** A node with subscribers on a filter: plain ones (group null), or members of one share group. */
export interface RemoteRoute {
  readonly node: string
  /** `<group>/<filter>`, as the engine's SharedGroup.key; null for plain subscriptions. */
  readonly groupKey: string | null
  /** The etcd revision that wrote it (for a listed route, the listing's: no older than that). */
  readonly revision: number
}

interface Placed {
  readonly filter: string
  readonly trieKey: string
  readonly route: RemoteRoute
}

export class RouteTable {
  private readonly trie = new SubscriptionTrie<RemoteRoute>()
  private readonly byEtcdKey = new Map<string, Placed>()
  /** Share group key -> the other nodes that have members in it. */
  readonly groupNodes = new Map<string, Array<string>>()
  /**
   * The etcd revision this table reflects. It travels with each batch this node forwards, so the
   * node a session just left can tell whether the sender saw the new holder's routes (see relay).
   */
  revision = -1

  constructor(private readonly self: string) {}

  /** Route keys of the other nodes, in all. */
  get size(): number {
    return this.byEtcdKey.size
  }

  /** Route keys per other node. */
  countsByNode(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const { route } of this.byEtcdKey.values()) counts.set(route.node, (counts.get(route.node) ?? 0) + 1)
    return counts
  }

  /** Hot path: the remote routes matching `topic`. Do not mutate. */
  match(topic: string): ReadonlyArray<RemoteRoute> {
    return this.trie.match(topic)
  }

  /**
   * Whether a node whose table reflected `revision` had `node`'s plain subscribers for `topic`
   * (and so sent it a message on that topic itself). -1: unknown, no.
   */
  reachedBy(topic: string, node: string, revision: number): boolean {
    const matched = this.trie.match(topic)
    for (let i = 0; i < matched.length; i++) {
      const r = matched[i]!
      if (r.node === node && r.groupKey === null && r.revision <= revision) return true
    }
    return false
  }

  /** Whether `node`'s summary has every one of these plain filters (not on the hot path). */
  hasPlainRoutes(node: string, filters: ReadonlyArray<string>): boolean {
    const have = new Set<string>()
    for (const { filter, route } of this.byEtcdKey.values()) if (route.node === node && route.groupKey === null) have.add(filter)
    return filters.every((f) => have.has(f))
  }

  apply(change: KeyChange): void {
    if (change._tag === "Put") this.put(change.key, change.value, change.revision)
    else this.remove(change.key)
    if (change.revision > this.revision) this.revision = change.revision
  }

  private put(etcdKey: string, routeKey: string, revision: number): void {
    const node = etcdKey.slice(routesPrefix.length).split("/")[0]!
    if (node === this.self || this.byEtcdKey.has(etcdKey)) return
    const shared = parseShared(routeKey)
    let placed: Placed
    if (shared === null) placed = { filter: routeKey, trieKey: node, route: { node, groupKey: null, revision } }
    else if (typeof shared === "number") return // not a valid share filter: written by a newer version?
    else {
      const groupKey = `${shared.group}/${shared.filter}`
      placed = { filter: shared.filter, trieKey: `${node}\u0000${shared.group}`, route: { node, groupKey, revision } }
      const nodes = this.groupNodes.get(groupKey)
      if (nodes === undefined) this.groupNodes.set(groupKey, [node])
      else if (!nodes.includes(node)) nodes.push(node)
    }
    this.byEtcdKey.set(etcdKey, placed)
    this.trie.add(placed.filter, placed.trieKey, placed.route)
  }

  private remove(etcdKey: string): void {
    const placed = this.byEtcdKey.get(etcdKey)
    if (placed === undefined) return
    this.byEtcdKey.delete(etcdKey)
    this.trie.remove(placed.filter, placed.trieKey)
    const groupKey = placed.route.groupKey
    if (groupKey === null) return
    const nodes = this.groupNodes.get(groupKey)?.filter((n) => n !== placed.route.node) ?? []
    if (nodes.length === 0) this.groupNodes.delete(groupKey)
    else this.groupNodes.set(groupKey, nodes)
  }

  private clear(): void {
    for (const etcdKey of [...this.byEtcdKey.keys()]) this.remove(etcdKey)
  }

  /** Lists the summaries, then follows every change; lists again after a broken watch. Runs until interrupted. */
  follow(coordination: CoordinationService): Effect.Effect<never> {
    const once = Effect.gen(this, function*() {
      const { entries, revision } = yield* coordination.list(routesPrefix)
      this.clear()
      for (const e of entries) this.put(e.key, e.value, revision)
      this.revision = revision
      yield* Stream.runForEach(coordination.watch(routesPrefix, revision), (change) => Effect.sync(() => this.apply(change)))
    })
    return Effect.forever(once.pipe(
      Effect.catchAll((e) => Effect.zipRight(Effect.logWarning(`cluster: route watch broke (${e.message}); listing again`), Effect.sleep("500 millis")))
    ))
  }
}
