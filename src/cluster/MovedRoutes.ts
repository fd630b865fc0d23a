/**
 * Forwarding addresses of the sessions this node handed over, for a few seconds. Between a
 * session's export here and its new holder's routes reaching every node, messages for it still
 * arrive here (published by a client still connected here, or forwarded by a node that sees
 * only this node's routes), and none reach the new holder. Here they follow the session:
 * held until the new holder has stored it (a message that arrives before that would match no
 * session there), then sent on, like any forwarded message. The new holder may get such a
 * message twice (here and from its publisher's node): at least once, as QoS 1 promises.
 * Shared subscriptions are left out: the publisher's node picked a member for each message.
 */
import { SubscriptionTrie } from "../../domain/topic/SubscriptionTrie.js"
import { parseShared } from "../../domain/topic/TopicFilter.js"
import type { Message } from "../mqtt/engine/Message.js"
import type { NodeLink } from "./NodeLink.js"

/** How long an address is kept: the new holder's routes reach the others in milliseconds. */
const KEEP_MS = 3000
/** At most this many messages are held for a session not yet stored at its new holder. */
const MAX_HELD = 10_000
const NO_GROUPS: ReadonlyArray<string> = []

export class MovedAddress {
  /** Messages held until the new holder has the session; null once they are sent on. */
  held: Array<Message> | null = []
  constructor(readonly clientId: string, readonly target: string, readonly filters: ReadonlyArray<string>) {}
}

export class MovedRoutes {
  private readonly trie = new SubscriptionTrie<MovedAddress>()
  private readonly byClient = new Map<string, MovedAddress>()

  constructor(private readonly link: NodeLink) {}

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
    setTimeout(() => {
      if (this.byClient.get(clientId) === moved) this.remove(clientId)
    }, KEEP_MS).unref()
    return moved
  }

  /** The new holder has stored the session: what was held goes to it, and what comes next. */
  ready(moved: MovedAddress): void {
    const held = moved.held
    moved.held = null
    if (held !== null && this.byClient.get(moved.clientId) === moved) for (const msg of held) this.link.send(moved.target, msg, NO_GROUPS)
  }

  /** The hand-over failed: nothing follows the session. */
  drop(moved: MovedAddress): void {
    if (this.byClient.get(moved.clientId) === moved) this.remove(moved.clientId)
  }

  /**
   * A message this node handled: held for each moved session it matches whose new holder has
   * not stored it yet, sent on to the others' new holders, except to a node `reached` says the
   * message went to already (the node it came from, or one this node forwarded it to).
   */
  follow(msg: Message, reached: (node: string) => boolean): void {
    const matched = this.trie.match(msg.topic)
    if (matched.length === 0) return
    const sentTo: Array<string> = []
    for (let i = 0; i < matched.length; i++) {
      const moved = matched[i]!
      if (moved.held !== null) {
        // Held even if the new holder got it directly: it may have had no session to give it to.
        if (moved.held.length < MAX_HELD && !moved.held.includes(msg)) moved.held.push(msg)
        continue
      }
      if (reached(moved.target) || sentTo.includes(moved.target)) continue
      sentTo.push(moved.target)
      this.link.send(moved.target, msg, NO_GROUPS)
    }
  }

  private remove(clientId: string): void {
    const moved = this.byClient.get(clientId)
    if (moved === undefined) return
    this.byClient.delete(clientId)
    for (const f of moved.filters) this.trie.remove(f, clientId)
  }
}
