/** ListGroups (API key 16), versions 0-2 (ListGroupsRequest.json / ListGroupsResponse.json). */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

/** Empty in v0-2. */
export type ListGroupsRequest = Record<string, never>

export interface ListedGroup {
  readonly groupId: string
  readonly protocolType: string
}

export interface ListGroupsResponse {
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
  readonly errorCode: number
  readonly groups: ReadonlyArray<ListedGroup>
}

export const ListGroups = defineApi<ListGroupsRequest, ListGroupsResponse>({
  apiKey: 16,
  name: "ListGroups",
  minVersion: 0,
  maxVersion: 2,
  request: message("ListGroupsRequest", []),
  response: message("ListGroupsResponse", [
    field("throttleTimeMs", T.Int32, "1+"),
    field("errorCode", T.Int16, "0+"),
    structs("groups", "0+", [field("groupId", T.String, "0+"), field("protocolType", T.String, "0+")])
  ])
})
