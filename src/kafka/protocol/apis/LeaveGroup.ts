/**
 * LeaveGroup (API key 13), versions 0-3 (LeaveGroupRequest.json / LeaveGroupResponse.json).
 * v0-2 name one member (`memberId`); v3 a batch (`members`, KIP-345). The other is defaulted.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface LeaveGroupMemberIdentity {
  readonly memberId: string
  readonly groupInstanceId: string | null
}

export interface LeaveGroupRequest {
  readonly groupId: string
  /** v0-2, default "". */
  readonly memberId: string
  /** v3+, default []. */
  readonly members: ReadonlyArray<LeaveGroupMemberIdentity>
}

export interface LeaveGroupMemberResponse {
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly errorCode: number
}

export interface LeaveGroupResponse {
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
  readonly errorCode: number
  /** v3+, default []. */
  readonly members?: ReadonlyArray<LeaveGroupMemberResponse>
}

export const LeaveGroup = defineApi<LeaveGroupRequest, LeaveGroupResponse>({
  apiKey: 13,
  name: "LeaveGroup",
  minVersion: 0,
  maxVersion: 3,
  request: message("LeaveGroupRequest", [
    field("groupId", T.String, "0+"),
    field("memberId", T.String, "0-2"),
    structs("members", "3+", [
      field("memberId", T.String, "3+"),
      field("groupInstanceId", T.String, "3+", { nullable: "3+", default: null })
    ])
  ]),
  response: message("LeaveGroupResponse", [
    field("throttleTimeMs", T.Int32, "1+"),
    field("errorCode", T.Int16, "0+"),
    structs("members", "3+", [
      field("memberId", T.String, "3+"),
      field("groupInstanceId", T.String, "3+", { nullable: "3+", default: null }),
      field("errorCode", T.Int16, "3+")
    ])
  ])
})
