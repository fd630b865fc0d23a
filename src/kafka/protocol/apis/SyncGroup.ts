/**
 * SyncGroup (API key 14), versions 0-3 (SyncGroupRequest.json / SyncGroupResponse.json).
 * Assignment bytes are copied out of the frame, so the coordinator may keep them.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface SyncGroupRequestAssignment {
  readonly memberId: string
  readonly assignment: Buffer
}

export interface SyncGroupRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  /** v3+, default null. */
  readonly groupInstanceId: string | null
  /** Sent by the leader only; empty from followers. */
  readonly assignments: ReadonlyArray<SyncGroupRequestAssignment>
}

export interface SyncGroupResponse {
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
  readonly errorCode: number
  readonly assignment: Uint8Array
}

export const SyncGroup = defineApi<SyncGroupRequest, SyncGroupResponse>({
  apiKey: 14,
  name: "SyncGroup",
  minVersion: 0,
  maxVersion: 3,
  request: message("SyncGroupRequest", [
    field("groupId", T.String, "0+"),
    field("generationId", T.Int32, "0+"),
    field("memberId", T.String, "0+"),
    field("groupInstanceId", T.String, "3+", { nullable: "3+", default: null }),
    structs("assignments", "0+", [field("memberId", T.String, "0+"), field("assignment", T.Bytes, "0+")])
  ]),
  response: message("SyncGroupResponse", [
    field("throttleTimeMs", T.Int32, "1+"),
    field("errorCode", T.Int16, "0+"),
    field("assignment", T.Bytes, "0+")
  ])
})
