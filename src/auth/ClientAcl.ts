/**
 * One connection's view of the ACL: the rules that apply to it, compiled once at CONNECT
 * (substitutions done), and its recent publish decisions per topic, so a device publishing to
 * the same topics costs one map lookup per message. When the ACL changes (a reload), the
 * source's generation moves on and the next check recompiles and forgets the decisions.
 * A JWT's `acl` claim, when there is one, narrows every answer (both must allow) and is compiled
 * once: it cannot change during the connection.
 */
import { bothVerdicts, claimMayPublish, claimMayRead, claimVerdict, type CompiledClaim } from "../../domain/auth/aclClaim.js"
import type { AclRule } from "../../domain/auth/AclRule.js"
import { compileAcl, type CompiledAcl, mayPublish, mayRead, SubscribeVerdict, subscribeVerdict } from "../../domain/auth/authorize.js"
import { parseShared } from "../../domain/topic/TopicFilter.js"

/** The current rules and a counter bumped whenever they change (owned by the Auth service). */
export interface AclSource {
  readonly generation: number
  /** null: no ACL configured, everything allowed. */
  readonly rules: ReadonlyArray<AclRule> | null
}

/** Publish decisions kept per connection (a few hundred bytes for the usual handful of topics). */
const MAX_DECISIONS = 64

export class ClientAcl {
  private compiled: CompiledAcl | null = null
  private generation = -1
  private decisions: Map<string, boolean> | null = null

  constructor(
    private readonly source: AclSource,
    /** The name the ACL knows the client by; null for an anonymous client. */
    readonly username: string | null,
    readonly clientId: string,
    /** A JWT's `acl` claim, compiled for this client; null: no claim. */
    private readonly claim: CompiledClaim | null = null
  ) {
    this.refresh()
  }

  private refresh(): void {
    const rules = this.source.rules
    this.generation = this.source.generation
    this.compiled = rules === null ? null : compileAcl(rules, this.username, this.clientId)
    this.decisions = null
  }

  /** Hot path: whether this client may publish to `topic` (a valid topic name). */
  mayPublish(topic: string): boolean {
    if (this.generation !== this.source.generation) this.refresh()
    const compiled = this.compiled
    const claim = this.claim
    if (compiled === null && claim === null) return true
    let decisions = this.decisions
    if (decisions === null) decisions = this.decisions = new Map()
    else {
      const known = decisions.get(topic)
      if (known !== undefined) return known
      if (decisions.size >= MAX_DECISIONS) decisions.delete(decisions.keys().next().value!)
    }
    const allowed = (compiled === null || mayPublish(compiled, topic)) && (claim === null || claimMayPublish(claim, topic))
    decisions.set(topic, allowed)
    return allowed
  }

  /** Whether this client may subscribe to `filter` (valid; `$share/group/F` is checked on F). */
  maySubscribe(filter: string): boolean {
    return this.verdict(filter) !== SubscribeVerdict.Refused
  }

  /** Refused, granted, or granted with a read check per delivery (see `subscribeVerdict`). */
  verdict(filter: string): SubscribeVerdict {
    if (this.generation !== this.source.generation) this.refresh()
    const file = this.compiled === null ? SubscribeVerdict.Granted : subscribeVerdict(this.compiled, filter)
    if (this.claim === null || file === SubscribeVerdict.Refused) return file
    const shared = parseShared(filter)
    if (typeof shared === "number") return SubscribeVerdict.Refused
    return bothVerdicts(file, claimVerdict(this.claim, (shared === null ? filter : shared.filter).split("/")))
  }

  /**
   * Hot path, for filtered subscriptions only: whether this client may receive a message on the
   * topic name `topic`. Also decides what a session owes after the ACL changed.
   */
  mayRead(topic: string): boolean {
    if (this.generation !== this.source.generation) this.refresh()
    return (this.compiled === null || mayRead(this.compiled, topic)) && (this.claim === null || claimMayRead(this.claim, topic))
  }

  /** `mayRead` as one function made once per connection, for `Subscription.check`. */
  readonly readCheck = (topic: string): boolean => this.mayRead(topic)

  /** The per-delivery check a subscription to `filter` needs under the current rules, or null. */
  readCheckFor(filter: string): ((topic: string) => boolean) | null {
    return this.verdict(filter) === SubscribeVerdict.Filtered ? this.readCheck : null
  }
}
