/**
 * DescribeAcls (API key 29), versions 0-3 (DescribeAclsRequest.json / DescribeAclsResponse.json;
 * v1 adds the pattern type filter, KIP-290; flexible from v2, KIP-482). kafkajs sends v0-1,
 * Kafka's AdminClient v3.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

/** An ACL binding filter's fields: DescribeAcls' whole request, and each filter of DeleteAcls. */
export const ACL_FILTER_FIELDS = [
  field("resourceTypeFilter", T.Int8, "0+"),
  field("resourceNameFilter", T.String, "0+", { nullable: "0+" }),
  field("patternTypeFilter", T.Int8, "1+", { default: 3 }),
  field("principalFilter", T.String, "0+", { nullable: "0+" }),
  field("hostFilter", T.String, "0+", { nullable: "0+" }),
  field("operation", T.Int8, "0+"),
  field("permissionType", T.Int8, "0+")
]

export interface DescribeAclsRequest {
  readonly resourceTypeFilter: number
  readonly resourceNameFilter: string | null
  /** v1+, default 3 (literal). */
  readonly patternTypeFilter: number
  readonly principalFilter: string | null
  readonly hostFilter: string | null
  readonly operation: number
  readonly permissionType: number
}

export interface AclDescription {
  readonly principal: string
  readonly host: string
  readonly operation: number
  readonly permissionType: number
}

export interface DescribeAclsResource {
  readonly resourceType: number
  readonly resourceName: string
  readonly patternType: number
  readonly acls: ReadonlyArray<AclDescription>
}

export interface DescribeAclsResponse {
  readonly throttleTimeMs: number
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly resources: ReadonlyArray<DescribeAclsResource>
}

export const DescribeAcls = defineApi<DescribeAclsRequest, DescribeAclsResponse>({
  apiKey: 29,
  name: "DescribeAcls",
  minVersion: 0,
  maxVersion: 3,
  request: message("DescribeAclsRequest", ACL_FILTER_FIELDS, "2+"),
  response: message("DescribeAclsResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    field("errorCode", T.Int16, "0+"),
    field("errorMessage", T.String, "0+", { nullable: "0+" }),
    structs("resources", "0+", [
      field("resourceType", T.Int8, "0+"),
      field("resourceName", T.String, "0+"),
      field("patternType", T.Int8, "1+", { default: 3 }),
      structs("acls", "0+", [
        field("principal", T.String, "0+"),
        field("host", T.String, "0+"),
        field("operation", T.Int8, "0+"),
        field("permissionType", T.Int8, "0+")
      ])
    ])
  ], "2+")
})
