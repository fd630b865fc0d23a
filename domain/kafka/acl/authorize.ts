/**
 * One Kafka authorization decision, as Kafka's AclAuthorizer takes it: the bindings of the
 * resource (literal name, literal `*`, prefixes of the name); none at all -> the default
 * (`allow.everyone.if.no.acl.found`); else a Deny for the principal (or `User:*`), the host
 * (or `*`) and the operation (or All) refuses; else an Allow must match, where Read, Write,
 * Delete and Alter also allow Describe, and AlterConfigs allows DescribeConfigs. Pure.
 */
import { type AclBinding, AclOperation, Permission, WILDCARD } from "./AclBinding.js"
import { bindingsFor, type KafkaAclState } from "./KafkaAclState.js"

/** Operations whose Allow also allows `op` (besides `op` itself and All). */
const impliedBy = (op: number): ReadonlyArray<number> => {
  switch (op) {
    case AclOperation.Describe:
      return [AclOperation.Read, AclOperation.Write, AclOperation.Delete, AclOperation.Alter]
    case AclOperation.DescribeConfigs:
      return [AclOperation.AlterConfigs]
    default:
      return []
  }
}

const WILDCARD_PRINCIPAL = "User:*"

const applies = (b: AclBinding, principal: string, host: string): boolean =>
  (b.principal === principal || b.principal === WILDCARD_PRINCIPAL) && (b.host === WILDCARD || b.host === host)

export const authorize = (
  state: KafkaAclState,
  principal: string,
  host: string,
  operation: number,
  resourceType: number,
  name: string,
  defaultAllow: boolean
): boolean => {
  const bindings = bindingsFor(state, resourceType, name)
  if (bindings.length === 0) return defaultAllow
  for (const b of bindings) {
    if (b.permission === Permission.Deny && applies(b, principal, host) && (b.operation === operation || b.operation === AclOperation.All)) return false
  }
  const implied = impliedBy(operation)
  for (const b of bindings) {
    if (b.permission !== Permission.Allow || !applies(b, principal, host)) continue
    if (b.operation === operation || b.operation === AclOperation.All || implied.includes(b.operation)) return true
  }
  return false
}
