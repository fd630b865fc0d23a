/**
 * DeleteGroups (API key 42), versions 0-1 (DeleteGroupsRequest.json / DeleteGroupsResponse.json;
 * v1 only changes throttling semantics, KIP-219; flexible from v2, not in scope).
 */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

export interface DeleteGroupsRequest {
  readonly groupsNames: ReadonlyArray<string>
}

export interface DeletableGroupResult {
  readonly groupId: string
  readonly errorCode: number
}

export interface DeleteGroupsResponse {
  readonly throttleTimeMs: number
  readonly results: ReadonlyArray<DeletableGroupResult>
}

export const DeleteGroups = defineApi<DeleteGroupsRequest, DeleteGroupsResponse>({
  apiKey: 42,
  name: "DeleteGroups",
  minVersion: 0,
  maxVersion: 1,
  request: message("DeleteGroupsRequest", [list("groupsNames", T.String, "0+")]),
  response: message("DeleteGroupsResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    structs("results", "0+", [field("groupId", T.String, "0+"), field("errorCode", T.Int16, "0+")])
  ])
})
