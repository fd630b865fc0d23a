/**
 * JoinGroup (API key 11), versions 0-5 (JoinGroupRequest.json / JoinGroupResponse.json).
 * Protocol metadata bytes are copied out of the frame, so the group coordinator may keep them.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface JoinGroupRequestProtocol {
  readonly name: string
  readonly metadata: Buffer
}

export interface JoinGroupRequest {
  readonly groupId: string
  readonly sessionTimeoutMs: number
  /** v1+; -1 (the default) in v0 means "use sessionTimeoutMs". */
  readonly rebalanceTimeoutMs: number
  /** "" on the first join. */
  readonly memberId: string
  /** v5+, default null (static membership, KIP-345). */
  readonly groupInstanceId: string | null
  readonly protocolType: string
  readonly protocols: ReadonlyArray<JoinGroupRequestProtocol>
}

export interface JoinGroupResponseMember {
  readonly memberId: string
  /** v5+, default null. */
  readonly groupInstanceId?: string | null
  readonly metadata: Uint8Array
}

export interface JoinGroupResponse {
  /** v2+, default 0. */
  readonly throttleTimeMs?: number
  readonly errorCode: number
  readonly generationId: number
  readonly protocolName: string
  readonly leader: string
  readonly memberId: string
  /** Filled for the leader only. */
  readonly members: ReadonlyArray<JoinGroupResponseMember>
}

export const JoinGroup = defineApi<JoinGroupRequest, JoinGroupResponse>({
  apiKey: 11,
  name: "JoinGroup",
  minVersion: 0,
  maxVersion: 5,
  request: message("JoinGroupRequest", [
    field("groupId", T.String, "0+"),
    field("sessionTimeoutMs", T.Int32, "0+"),
    field("rebalanceTimeoutMs", T.Int32, "1+", { default: -1 }),
    field("memberId", T.String, "0+"),
    field("groupInstanceId", T.String, "5+", { nullable: "5+", default: null }),
    field("protocolType", T.String, "0+"),
    structs("protocols", "0+", [field("name", T.String, "0+"), field("metadata", T.Bytes, "0+")])
  ]),
  response: message("JoinGroupResponse", [
    field("throttleTimeMs", T.Int32, "2+"),
    field("errorCode", T.Int16, "0+"),
    field("generationId", T.Int32, "0+", { default: -1 }),
    field("protocolName", T.String, "0+"),
    field("leader", T.String, "0+"),
    field("memberId", T.String, "0+"),
    structs("members", "0+", [
      field("memberId", T.String, "0+"),
      field("groupInstanceId", T.String, "5+", { nullable: "5+", default: null }),
      field("metadata", T.Bytes, "0+")
    ])
  ])
})
