/**
 * DeleteAcls (API key 31), versions 0-3 (DeleteAclsRequest.json / DeleteAclsResponse.json; v1
 * adds the pattern type filter, KIP-290; flexible from v2, KIP-482).
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"
import { ACL_FILTER_FIELDS, type DescribeAclsRequest } from "./DescribeAcls.js"

/** A filter of DeleteAcls: the same fields as DescribeAcls' request. */
export type DeleteAclsFilter = DescribeAclsRequest

export interface DeleteAclsRequest {
  readonly filters: ReadonlyArray<DeleteAclsFilter>
}

export interface DeleteAclsMatchingAcl {
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly resourceType: number
  readonly resourceName: string
  readonly patternType: number
  readonly principal: string
  readonly host: string
  readonly operation: number
  readonly permissionType: number
}

export interface DeleteAclsFilterResult {
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly matchingAcls: ReadonlyArray<DeleteAclsMatchingAcl>
}

export interface DeleteAclsResponse {
  readonly throttleTimeMs: number
  readonly filterResults: ReadonlyArray<DeleteAclsFilterResult>
}

export const DeleteAcls = defineApi<DeleteAclsRequest, DeleteAclsResponse>({
  apiKey: 31,
  name: "DeleteAcls",
  minVersion: 0,
  maxVersion: 3,
  request: message("DeleteAclsRequest", [
    structs("filters", "0+", ACL_FILTER_FIELDS)
  ], "2+"),
  response: message("DeleteAclsResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    structs("filterResults", "0+", [
      field("errorCode", T.Int16, "0+"),
      field("errorMessage", T.String, "0+", { nullable: "0+" }),
      structs("matchingAcls", "0+", [
        field("errorCode", T.Int16, "0+"),
        field("errorMessage", T.String, "0+", { nullable: "0+" }),
        field("resourceType", T.Int8, "0+"),
        field("resourceName", T.String, "0+"),
        field("patternType", T.Int8, "1+", { default: 3 }),
        field("principal", T.String, "0+"),
        field("host", T.String, "0+"),
        field("operation", T.Int8, "0+"),
        field("permissionType", T.Int8, "0+")
      ])
    ])
  ], "2+")
})
