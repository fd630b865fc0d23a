/**
 * The Kafka ACL decider: CreateAcls and DeleteAcls as events, with one result per creation or
 * filter in request order. Creating a binding that is already stored (or twice in one request)
 * succeeds and appends nothing more; a binding that cannot be stored gets INVALID_REQUEST with
 * the reason. Pure.
 */
import { ErrorCode } from "../ErrorCode.js"
import { type AclBinding, type AclBindingFilter, bindingKey, matchesFilter, validateBinding, validateFilter } from "./AclBinding.js"
import { KafkaAclsCreated, KafkaAclsDeleted, type KafkaAclEvent } from "./events.js"
import type { KafkaAclState } from "./KafkaAclState.js"

export interface CreationResult {
  readonly errorCode: number
  readonly errorMessage: string | null
}

export const decideCreateAcls = (state: KafkaAclState, creations: ReadonlyArray<AclBinding>) => {
  const events: Array<KafkaAclEvent> = []
  const results: Array<CreationResult> = []
  const added: Array<AclBinding> = []
  const seen = new Set<string>()
  for (const b of creations) {
    const invalid = validateBinding(b)
    if (invalid !== null) {
      results.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: invalid })
      continue
    }
    const key = bindingKey(b)
    if (!state.bindings.has(key) && !seen.has(key)) {
      seen.add(key)
      added.push(b)
    }
    results.push({ errorCode: ErrorCode.NONE, errorMessage: null })
  }
  if (added.length > 0) events.push(new KafkaAclsCreated({ bindings: added }))
  return { events, results } as const
}

export type FilterResult =
  | { readonly errorCode: 0; readonly errorMessage: null; readonly matching: ReadonlyArray<AclBinding> }
  | { readonly errorCode: number; readonly errorMessage: string; readonly matching: ReadonlyArray<AclBinding> }

/** A binding selected by several filters is deleted once and reported under the first. */
export const decideDeleteAcls = (state: KafkaAclState, filters: ReadonlyArray<AclBindingFilter>) => {
  const events: Array<KafkaAclEvent> = []
  const results: Array<FilterResult> = []
  const removed = new Set<string>()
  const deleted: Array<AclBinding> = []
  for (const f of filters) {
    const invalid = validateFilter(f)
    if (invalid !== null) {
      results.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: invalid, matching: [] })
      continue
    }
    const matching: Array<AclBinding> = []
    for (const [key, b] of state.bindings) {
      if (removed.has(key) || !matchesFilter(b, f)) continue
      removed.add(key)
      matching.push(b)
      deleted.push(b)
    }
    results.push({ errorCode: ErrorCode.NONE, errorMessage: null, matching })
  }
  if (deleted.length > 0) events.push(new KafkaAclsDeleted({ bindings: deleted }))
  return { events, results } as const
}

/** DescribeAcls: the stored bindings a filter selects, in the order they were created. */
export const describeAcls = (state: KafkaAclState, filter: AclBindingFilter): Array<AclBinding> => {
  const out: Array<AclBinding> = []
  for (const b of state.bindings.values()) if (matchesFilter(b, filter)) out.push(b)
  return out
}
