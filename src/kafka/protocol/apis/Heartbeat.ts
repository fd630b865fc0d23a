/** Heartbeat (API key 12), versions 0-3 (HeartbeatRequest.json / HeartbeatResponse.json). */
import { defineApi } from "../ApiCodec.js"
import { field, message, T } from "../schema.js"

export interface HeartbeatRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  /** v3+, default null. */
  readonly groupInstanceId: string | null
}

export interface HeartbeatResponse {
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
  readonly errorCode: number
}

export const Heartbeat = defineApi<HeartbeatRequest, HeartbeatResponse>({
  apiKey: 12,
  name: "Heartbeat",
  minVersion: 0,
  maxVersion: 3,
  request: message("HeartbeatRequest", [
    field("groupId", T.String, "0+"),
    field("generationId", T.Int32, "0+"),
    field("memberId", T.String, "0+"),
    field("groupInstanceId", T.String, "3+", { nullable: "3+", default: null })
  ]),
  response: message("HeartbeatResponse", [field("throttleTimeMs", T.Int32, "1+"), field("errorCode", T.Int16, "0+")])
})
