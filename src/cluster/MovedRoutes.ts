/**
 * Forwarding addresses of the sessions this node handed over, for a few seconds. Between a
 * session's export here and its new holder's routes reaching every node, messages for it still
 * arrive here (published by a client still connected here, or forwarded by a node that sees
 * only this node's routes). Here they follow the session: held until the new holder has stored
 * it, then sent on, like any forwarded message, unless the new holder got the message itself
 * after it stored the session: its sender routed it there (the sender's route table revision,
 * said with each batch, had the new holder's routes) and it arrived after the store (its offset
 * is at or past where the new holder stood in the sender's log then: `arrived`). That keeps
 * QoS 2 exactly once across a move, and loses nothing when routes lag or already pointed there.
 * Shared subscriptions are left out: the publisher's node picked a member for each message.
 */
import { SubscriptionTrie } from "../../domain/topic/SubscriptionTrie.js"
import { parseShared } from "../../domain/topic/TopicFilter.js"
import type { Message } from "../mqtt/engine/Message.js"
import type { NodeLink } from "./NodeLink.js"
import type { RouteSummary } from "./RouteSummary.js"
import type { RouteTable } from "./RouteTable.js"

/**
 * How long this node's routes for a moved session stay up (RouteSummary.hold): the new holder's
 * routes reach etcd in milliseconds (a stopping node waits for them), and must come first.
 */
const ROUTES_HELD_MS = 3000
/** How long an address is kept: past the routes, for what others sent before they saw them go. */
const KEEP_MS = ROUTES_HELD_MS + 2000
/** At most this many messages are held for a session not yet stored at its new holder. */
const MAX_HELD = 10_000
const NO_GROUPS: ReadonlyArray<string> = []

/** A message this node handled, with where it came from. */
export interface Handled {
  readonly msg: Message
  /** The node that routed it: the one that forwarded it here, or this node for its own. */
  readonly sender: string
  /** The sender's route table revision when it routed it (-1: unknown, as for a replay). */
  readonly revision: number
  /** Its place in the sender's log (tp null: not in the log). */
  readonly tp: string | null
  readonly offset: number
}

/** Per sender, per partition: where the new holder stood when it stored the session. */
export type Arrived = Record<string, Record<string, number>>

export class MovedAddress {
  /** Messages held until the new holder has the session; null once they are sent on. */
  held: Array<Handled> | null = []
  /** Where the new holder stood when it stored the session (null: not said; everything goes on). */
  arrived: Arrived | null = null
  constructor(readonly clientId: string, readonly target: string, readonly filters: ReadonlyArray<string>) {}
}

export class MovedRoutes {
  private readonly trie = new SubscriptionTrie<MovedAddress>()
  private readonly byClient = new Map<string, MovedAddress>()

  /** This node's route summary, once made: it keeps a moved session's routes for a while. */
  summary: RouteSummary | null = null
  /** The node is stopping: addresses stay until it exits (it lingers after leaving, see announce). */
  private pinned = false

  constructor(private readonly link: NodeLink, private readonly routes: RouteTable) {}

  pin(): void {
    this.pinned = true
  }

  get size(): number {
    return this.byClient.size
  }

  /** `clientId`'s session went to `target` with these filters: hold what matches them until `ready`. */
  add(clientId: string, target: string, filters: ReadonlyArray<string>): MovedAddress {
    this.remove(clientId)
    const plain = filters.filter((f) => parseShared(f) === null)
    const moved = new MovedAddress(clientId, target, plain)
    this.byClient.set(clientId, moved)
    for (const f of plain) this.trie.add(f, clientId, moved)
    this.summary?.hold(plain, ROUTES_HELD_MS)
    setTimeout(() => {
      if (!this.pinned && this.byClient.get(clientId) === moved) this.remove(clientId)
    }, KEEP_MS).unref()
    return moved
  }

  /** The new holder has stored the session: what was held goes to it, and what comes next. */
  ready(moved: MovedAddress, arrived: Arrived | null): void {
    const held = moved.held
    moved.held = null
    moved.arrived = arrived
    if (held === null || this.byClient.get(moved.clientId) !== moved) return
    for (const h of held) if (!this.reachedThere(moved, h)) this.link.send(moved.target, h.msg, NO_GROUPS)
  }

  /**
   * Whether the new holder got `h` itself after it stored the session (see the top). A sender
   * or partition missing from what it said: it had nothing of it then, so whatever of it the
   * sender routed there came after.
   */
  private reachedThere(moved: MovedAddress, h: Handled): boolean {
    const arrived = moved.arrived
    if (arrived === null || h.offset < (arrived[h.sender]?.[h.tp ?? ""] ?? 0)) return false
    return h.sender === moved.target || this.routes.reachedBy(h.msg.topic, moved.target, h.revision)
  }

  /** The session came back here (or is stored here again): nothing of it goes elsewhere. */
  forget(clientId: string): void {
    this.remove(clientId)
  }

  /** The hand-over failed: nothing follows the session. */
  drop(moved: MovedAddress): void {
    if (this.byClient.get(moved.clientId) === moved) this.remove(moved.clientId)
  }

  /**
   * A message this node handled: held for each moved session it matches whose new holder has
   * not stored it yet, sent on to the others' new holders unless they got it themselves.
   */
  follow(h: Handled): void {
    const matched = this.trie.match(h.msg.topic)
    if (matched.length === 0) return
    let sentTo: Array<string> | null = null
    // A session matched by several of its filters is listed once per filter: it holds the message once.
    let seen: Array<MovedAddress> | null = null
    for (let i = 0; i < matched.length; i++) {
      const moved = matched[i]!
      if (matched.length > 1) {
        if (seen?.includes(moved)) continue
        ;(seen ??= []).push(moved)
      }
      if (moved.held !== null) {
        if (moved.held.length < MAX_HELD) moved.held.push(h)
        continue
      }
      if (sentTo?.includes(moved.target) || this.reachedThere(moved, h)) continue
      ;(sentTo ??= []).push(moved.target)
      this.link.send(moved.target, h.msg, NO_GROUPS)
    }
  }

  private remove(clientId: string): void {
    const moved = this.byClient.get(clientId)
    if (moved === undefined) return
    this.byClient.delete(clientId)
    for (const f of moved.filters) this.trie.remove(f, clientId)
  }
}
