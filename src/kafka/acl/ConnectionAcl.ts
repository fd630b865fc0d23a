/**
 * One Kafka connection's view of the Kafka ACLs: its principal and host, and the decisions it
 * already took per (operation, resource type, resource name), so a client producing to the same
 * topics costs one Map hit per topic per request. When the ACLs change the source's generation
 * moves on and the next check forgets every decision.
 */
import { authorize } from "../../../domain/kafka/acl/authorize.js"
import type { KafkaAclSource } from "./KafkaAcls.js"

/** Decisions kept per connection before the oldest go (a consumer of many topics, a ListGroups). */
const MAX_DECISIONS = 1024

export class ConnectionAcl {
  private generation: number
  /** (operation << 4 | resource type) -> resource name -> allowed. */
  private decisions = new Map<number, Map<string, boolean>>()
  private size = 0

  constructor(
    private readonly source: KafkaAclSource,
    /** `User:<name>`. */
    readonly principal: string,
    readonly host: string
  ) {
    this.generation = source.generation
  }

  /** Whether the principal may do `operation` on the resource (AclOperation, ResourceType). */
  allows(operation: number, resourceType: number, name: string): boolean {
    const source = this.source
    if (source.open) return true
    if (this.generation !== source.generation || this.size >= MAX_DECISIONS) {
      this.generation = source.generation
      this.decisions = new Map()
      this.size = 0
    }
    const slot = (operation << 4) | resourceType
    let byName = this.decisions.get(slot)
    if (byName === undefined) this.decisions.set(slot, (byName = new Map()))
    else {
      const known = byName.get(name)
      if (known !== undefined) return known
    }
    const allowed = authorize(source.state, this.principal, this.host, operation, resourceType, name, source.defaultAllow)
    byName.set(name, allowed)
    this.size++
    return allowed
  }
}
