/**
 * DescribeAcls, CreateAcls and DeleteAcls against the KafkaAcls service. As on Kafka, the
 * caller needs Describe on the Cluster to list ACLs and Alter on the Cluster to change them
 * (CLUSTER_AUTHORIZATION_FAILED otherwise); `acl` null means no check (open, or a superuser).
 */
import { Effect } from "effect"
import { AclBinding, type AclBindingFilter, AclOperation, CLUSTER_NAME, ResourceType, validateFilter } from "../../../domain/kafka/acl/AclBinding.js"
import { ErrorCode } from "../../../domain/kafka/ErrorCode.js"
import type { StorageError, VersionConflict } from "../../../services/errors.js"
import type { ConnectionAcl } from "../acl/ConnectionAcl.js"
import type { KafkaAclsService } from "../acl/KafkaAcls.js"
import type {
  CreateAclsRequest,
  CreateAclsResponse,
  DeleteAclsFilter,
  DeleteAclsRequest,
  DeleteAclsResponse,
  DescribeAclsRequest,
  DescribeAclsResponse,
  DescribeAclsResource
} from "../protocol/index.js"

const mayOnCluster = (acl: ConnectionAcl | null, operation: number): boolean =>
  acl === null || acl.allows(operation, ResourceType.Cluster, CLUSTER_NAME)

const needs = (api: string, operation: string) => `${api} needs ${operation} on the Cluster resource (kafka-cluster)`

const toFilter = (f: DescribeAclsRequest | DeleteAclsFilter): AclBindingFilter => ({
  resourceType: f.resourceTypeFilter,
  resourceName: f.resourceNameFilter,
  patternType: f.patternTypeFilter,
  principal: f.principalFilter,
  host: f.hostFilter,
  operation: f.operation,
  permission: f.permissionType
})

/** Bindings grouped by resource pattern, as the DescribeAcls response nests them. */
const byResource = (bindings: ReadonlyArray<AclBinding>): Array<DescribeAclsResource> => {
  const out = new Map<string, { resourceType: number; resourceName: string; patternType: number; acls: Array<DescribeAclsResource["acls"][number]> }>()
  for (const b of bindings) {
    const key = `${b.resourceType}\u0000${b.patternType}\u0000${b.resourceName}`
    let r = out.get(key)
    if (r === undefined) out.set(key, (r = { resourceType: b.resourceType, resourceName: b.resourceName, patternType: b.patternType, acls: [] }))
    r.acls.push({ principal: b.principal, host: b.host, operation: b.operation, permissionType: b.permission })
  }
  return [...out.values()]
}

export const handleDescribeAcls = (acls: KafkaAclsService, acl: ConnectionAcl | null, request: DescribeAclsRequest): DescribeAclsResponse => {
  if (!mayOnCluster(acl, AclOperation.Describe)) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: needs("DescribeAcls", "Describe"), resources: [] }
  }
  const filter = toFilter(request)
  const invalid = validateFilter(filter)
  if (invalid !== null) return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: invalid, resources: [] }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, resources: byResource(acls.describe(filter)) }
}

export const handleCreateAcls = (
  acls: KafkaAclsService,
  acl: ConnectionAcl | null,
  request: CreateAclsRequest
): Effect.Effect<CreateAclsResponse, StorageError | VersionConflict> => {
  if (!mayOnCluster(acl, AclOperation.Alter)) {
    const refused = { errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: needs("CreateAcls", "Alter") }
    return Effect.succeed({ throttleTimeMs: 0, results: request.creations.map(() => refused) })
  }
  const bindings = request.creations.map((c) =>
    new AclBinding({
      resourceType: c.resourceType,
      resourceName: c.resourceName,
      patternType: c.resourcePatternType,
      principal: c.principal,
      host: c.host,
      operation: c.operation,
      permission: c.permissionType
    })
  )
  return Effect.map(acls.create(bindings), (results) => ({ throttleTimeMs: 0, results }))
}

export const handleDeleteAcls = (
  acls: KafkaAclsService,
  acl: ConnectionAcl | null,
  request: DeleteAclsRequest
): Effect.Effect<DeleteAclsResponse, StorageError | VersionConflict> => {
  if (!mayOnCluster(acl, AclOperation.Alter)) {
    const refused = { errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: needs("DeleteAcls", "Alter"), matchingAcls: [] }
    return Effect.succeed({ throttleTimeMs: 0, filterResults: request.filters.map(() => refused) })
  }
  return Effect.map(acls.delete(request.filters.map(toFilter)), (results) => ({
    throttleTimeMs: 0,
    filterResults: results.map((r) => ({
      errorCode: r.errorCode,
      errorMessage: r.errorMessage,
      matchingAcls: r.matching.map((b) => ({
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        resourceType: b.resourceType,
        resourceName: b.resourceName,
        patternType: b.patternType,
        principal: b.principal,
        host: b.host,
        operation: b.operation,
        permissionType: b.permission
      }))
    }))
  }))
}
