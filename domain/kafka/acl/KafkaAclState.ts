/**
 * The Kafka ACL read model: every stored binding by its key (insertion order kept for
 * DescribeAcls), indexed per resource type into literal names, the literal wildcard `*` and
 * prefixes, so an authorization looks at the bindings of one resource only. Built by folding
 * the `kafka-acl` stream with `evolve`, in place.
 */
import { type AclBinding, bindingKey, PatternType, WILDCARD } from "./AclBinding.js"
import type { KafkaAclEvent } from "./events.js"

export interface ResourceIndex {
  /** Literal bindings by resource name (`*` included, under its own key). */
  readonly literal: Map<string, Array<AclBinding>>
  readonly prefixed: Array<AclBinding>
}

export interface KafkaAclState {
  readonly bindings: Map<string, AclBinding>
  /** Resource type -> index. */
  readonly byResource: Map<number, ResourceIndex>
}

export const emptyKafkaAclState = (): KafkaAclState => ({ bindings: new Map(), byResource: new Map() })

const indexOf = (state: KafkaAclState, resourceType: number): ResourceIndex => {
  let index = state.byResource.get(resourceType)
  if (index === undefined) state.byResource.set(resourceType, (index = { literal: new Map(), prefixed: [] }))
  return index
}

const add = (state: KafkaAclState, b: AclBinding): void => {
  const key = bindingKey(b)
  if (state.bindings.has(key)) return
  state.bindings.set(key, b)
  const index = indexOf(state, b.resourceType)
  if (b.patternType === PatternType.Prefixed) index.prefixed.push(b)
  else {
    const list = index.literal.get(b.resourceName)
    if (list === undefined) index.literal.set(b.resourceName, [b])
    else list.push(b)
  }
}

const remove = (state: KafkaAclState, b: AclBinding): void => {
  const key = bindingKey(b)
  const stored = state.bindings.get(key)
  if (stored === undefined) return
  state.bindings.delete(key)
  const index = indexOf(state, b.resourceType)
  const other = (x: AclBinding) => bindingKey(x) !== key
  if (b.patternType === PatternType.Prefixed) {
    const kept = index.prefixed.filter(other)
    index.prefixed.length = 0
    index.prefixed.push(...kept)
  } else {
    const list = index.literal.get(b.resourceName)?.filter(other) ?? []
    if (list.length === 0) index.literal.delete(b.resourceName)
    else index.literal.set(b.resourceName, list)
  }
}

export const evolve = (state: KafkaAclState, event: KafkaAclEvent): KafkaAclState => {
  switch (event._tag) {
    case "KafkaAclsCreated":
      for (const b of event.bindings) add(state, b)
      break
    case "KafkaAclsDeleted":
      for (const b of event.bindings) remove(state, b)
      break
  }
  return state
}

/** Every binding that applies to the resource `name` of `resourceType`: literal, `*` and prefixes. */
export const bindingsFor = (state: KafkaAclState, resourceType: number, name: string): Array<AclBinding> => {
  const index = state.byResource.get(resourceType)
  if (index === undefined) return []
  const out: Array<AclBinding> = []
  const literal = index.literal.get(name)
  if (literal !== undefined) out.push(...literal)
  if (name !== WILDCARD) {
    const wildcard = index.literal.get(WILDCARD)
    if (wildcard !== undefined) out.push(...wildcard)
  }
  for (const b of index.prefixed) if (name.startsWith(b.resourceName)) out.push(b)
  return out
}
