/**
 * Kafka ACL bindings as the protocol numbers them (AclOperation.java, ResourceType.java,
 * PatternType.java, AclPermissionType.java): a resource pattern (type, name, literal or
 * prefixed) plus an entry (principal `User:<name>`, host, operation, allow or deny). The
 * Schema is the stored form (events); filters (DescribeAcls, DeleteAcls) are plain values.
 * `validateBinding` says in words why a binding cannot be stored. Pure.
 */
import { Schema } from "effect"

export const ResourceType = { Any: 1, Topic: 2, Group: 3, Cluster: 4, TransactionalId: 5, DelegationToken: 6, User: 7 } as const
export const PatternType = { Any: 1, Match: 2, Literal: 3, Prefixed: 4 } as const
export const AclOperation = {
  Any: 1,
  All: 2,
  Read: 3,
  Write: 4,
  Create: 5,
  Delete: 6,
  Alter: 7,
  Describe: 8,
  ClusterAction: 9,
  DescribeConfigs: 10,
  AlterConfigs: 11,
  IdempotentWrite: 12
} as const
export type AclOperation = (typeof AclOperation)[keyof typeof AclOperation]
export const Permission = { Any: 1, Deny: 2, Allow: 3 } as const

/** The one name of the Cluster resource (Kafka's CLUSTER_NAME). */
export const CLUSTER_NAME = "kafka-cluster"
/** A literal resource name matching every resource of its type; a principal or host matching every one. */
export const WILDCARD = "*"
export const USER_PREFIX = "User:"

export class AclBinding extends Schema.Class<AclBinding>("AclBinding")({
  resourceType: Schema.Number,
  resourceName: Schema.String,
  patternType: Schema.Number,
  principal: Schema.String,
  host: Schema.String,
  operation: Schema.Number,
  permission: Schema.Number
}) {}

/** A DescribeAcls / DeleteAcls filter: null strings and the Any values match everything. */
export interface AclBindingFilter {
  readonly resourceType: number
  readonly resourceName: string | null
  readonly patternType: number
  readonly principal: string | null
  readonly host: string | null
  readonly operation: number
  readonly permission: number
}

const SUPPORTED_RESOURCES = new Set<number>([ResourceType.Topic, ResourceType.Group, ResourceType.Cluster])
const STORABLE_OPERATIONS = new Set<number>(
  Object.values(AclOperation).filter((op) => op !== AclOperation.Any)
)

const nameOf = (table: Record<string, number>, value: number): string =>
  Object.entries(table).find(([, v]) => v === value)?.[0] ?? String(value)

export const resourceTypeName = (value: number): string => nameOf(ResourceType, value)
export const operationName = (value: number): string => nameOf(AclOperation, value)

/** Why `binding` cannot be stored, or null when it can. */
export const validateBinding = (b: AclBinding): string | null => {
  if (!SUPPORTED_RESOURCES.has(b.resourceType)) {
    return `resource type ${resourceTypeName(b.resourceType)} is not supported: use Topic (2), Group (3) or Cluster (4)`
  }
  if (b.patternType !== PatternType.Literal && b.patternType !== PatternType.Prefixed) {
    return `pattern type ${b.patternType} cannot be stored: use LITERAL (3) or PREFIXED (4)`
  }
  if (b.resourceName === "") return "the resource name must not be empty"
  if (b.resourceType === ResourceType.Cluster && (b.resourceName !== CLUSTER_NAME || b.patternType !== PatternType.Literal)) {
    return `the Cluster resource is named "${CLUSTER_NAME}" (literal pattern)`
  }
  if (!STORABLE_OPERATIONS.has(b.operation)) return `operation ${b.operation} cannot be stored: use one of Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All`
  if (b.permission !== Permission.Allow && b.permission !== Permission.Deny) return `permission type ${b.permission} cannot be stored: use ALLOW (3) or DENY (2)`
  if (!b.principal.startsWith(USER_PREFIX) || b.principal.length === USER_PREFIX.length) {
    return `principal "${b.principal}" is not supported: use User:<name> (or User:*)`
  }
  if (b.host === "") return `the host must be "*" or an address`
  return null
}

/** One key per distinct binding: creating the same binding twice stores it once. */
export const bindingKey = (b: AclBinding): string =>
  `${b.resourceType}\u0000${b.patternType}\u0000${b.resourceName}\u0000${b.principal}\u0000${b.host}\u0000${b.operation}\u0000${b.permission}`

/**
 * Whether a stored binding is selected by a filter (Kafka's AclBindingFilter.matches). The
 * MATCH pattern selects every binding that would apply to the named resource: the literal one,
 * the literal wildcard `*` and prefixes of the name.
 */
export const matchesFilter = (b: AclBinding, f: AclBindingFilter): boolean => {
  if (f.resourceType !== ResourceType.Any && f.resourceType !== b.resourceType) return false
  if (!patternMatches(b, f)) return false
  if (f.principal !== null && f.principal !== b.principal) return false
  if (f.host !== null && f.host !== b.host) return false
  if (f.operation !== AclOperation.Any && f.operation !== b.operation) return false
  if (f.permission !== Permission.Any && f.permission !== b.permission) return false
  return true
}

const patternMatches = (b: AclBinding, f: AclBindingFilter): boolean => {
  switch (f.patternType) {
    case PatternType.Any:
      return f.resourceName === null || f.resourceName === b.resourceName
    case PatternType.Match:
      if (f.resourceName === null) return true
      if (b.patternType === PatternType.Literal) return b.resourceName === f.resourceName || b.resourceName === WILDCARD
      return f.resourceName.startsWith(b.resourceName)
    default:
      return f.patternType === b.patternType && (f.resourceName === null || f.resourceName === b.resourceName)
  }
}

/** Why a filter cannot be used, or null (Kafka refuses UNKNOWN values as INVALID_REQUEST). */
export const validateFilter = (f: AclBindingFilter): string | null => {
  if (f.resourceType < ResourceType.Any || f.resourceType > ResourceType.User) return `unknown resource type ${f.resourceType}`
  if (f.patternType < PatternType.Any || f.patternType > PatternType.Prefixed) return `unknown pattern type ${f.patternType}`
  if (f.operation < AclOperation.Any || f.operation > AclOperation.IdempotentWrite) return `unknown operation ${f.operation}`
  if (f.permission < Permission.Any || f.permission > Permission.Allow) return `unknown permission type ${f.permission}`
  return null
}
