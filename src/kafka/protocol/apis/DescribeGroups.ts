/** DescribeGroups (API key 15), versions 0-4 (DescribeGroupsRequest.json / ...Response.json). */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"
import { AUTHORIZED_OPERATIONS_OMITTED } from "./Metadata.js"

export interface DescribeGroupsRequest {
  readonly groups: ReadonlyArray<string>
  /** v3+, default false. */
  readonly includeAuthorizedOperations: boolean
}

export interface DescribedGroupMember {
  readonly memberId: string
  /** v4+, default null. */
  readonly groupInstanceId?: string | null
  readonly clientId: string
  readonly clientHost: string
  readonly memberMetadata: Uint8Array
  readonly memberAssignment: Uint8Array
}

export interface DescribedGroup {
  readonly errorCode: number
  readonly groupId: string
  /** "Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead", or "". */
  readonly groupState: string
  readonly protocolType: string
  /** The selected protocol (assignor) name when Stable, else "". */
  readonly protocolData: string
  readonly members: ReadonlyArray<DescribedGroupMember>
  /** v3+, default AUTHORIZED_OPERATIONS_OMITTED. */
  readonly authorizedOperations?: number
}

export interface DescribeGroupsResponse {
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
  readonly groups: ReadonlyArray<DescribedGroup>
}

export const DescribeGroups = defineApi<DescribeGroupsRequest, DescribeGroupsResponse>({
  apiKey: 15,
  name: "DescribeGroups",
  minVersion: 0,
  maxVersion: 4,
  request: message("DescribeGroupsRequest", [
    list("groups", T.String, "0+"),
    field("includeAuthorizedOperations", T.Bool, "3+")
  ]),
  response: message("DescribeGroupsResponse", [
    field("throttleTimeMs", T.Int32, "1+"),
    structs("groups", "0+", [
      field("errorCode", T.Int16, "0+"),
      field("groupId", T.String, "0+"),
      field("groupState", T.String, "0+"),
      field("protocolType", T.String, "0+"),
      field("protocolData", T.String, "0+"),
      structs("members", "0+", [
        field("memberId", T.String, "0+"),
        field("groupInstanceId", T.String, "4+", { nullable: "4+", default: null }),
        field("clientId", T.String, "0+"),
        field("clientHost", T.String, "0+"),
        field("memberMetadata", T.Bytes, "0+"),
        field("memberAssignment", T.Bytes, "0+")
      ]),
      field("authorizedOperations", T.Int32, "3+", { default: AUTHORIZED_OPERATIONS_OMITTED })
    ])
  ])
})
