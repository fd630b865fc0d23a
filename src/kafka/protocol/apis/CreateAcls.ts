/**
 * CreateAcls (API key 30), versions 0-3 (CreateAclsRequest.json / CreateAclsResponse.json; v1
 * adds the resource pattern type, KIP-290; flexible from v2, KIP-482).
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface AclCreation {
  readonly resourceType: number
  readonly resourceName: string
  /** v1+, default 3 (literal). */
  readonly resourcePatternType: number
  readonly principal: string
  readonly host: string
  readonly operation: number
  readonly permissionType: number
}

export interface CreateAclsRequest {
  readonly creations: ReadonlyArray<AclCreation>
}

export interface AclCreationResult {
  readonly errorCode: number
  readonly errorMessage: string | null
}

export interface CreateAclsResponse {
  readonly throttleTimeMs: number
  readonly results: ReadonlyArray<AclCreationResult>
}

export const CreateAcls = defineApi<CreateAclsRequest, CreateAclsResponse>({
  apiKey: 30,
  name: "CreateAcls",
  minVersion: 0,
  maxVersion: 3,
  request: message("CreateAclsRequest", [
    structs("creations", "0+", [
      field("resourceType", T.Int8, "0+"),
      field("resourceName", T.String, "0+"),
      field("resourcePatternType", T.Int8, "1+", { default: 3 }),
      field("principal", T.String, "0+"),
      field("host", T.String, "0+"),
      field("operation", T.Int8, "0+"),
      field("permissionType", T.Int8, "0+")
    ])
  ], "2+"),
  response: message("CreateAclsResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    structs("results", "0+", [
      field("errorCode", T.Int16, "0+"),
      field("errorMessage", T.String, "0+", { nullable: "0+" })
    ])
  ], "2+")
})
