/** FindCoordinator (API key 10), versions 0-2 (FindCoordinatorRequest.json / ...Response.json). */
import { defineApi } from "../ApiCodec.js"
import { field, message, T } from "../schema.js"

export interface FindCoordinatorRequest {
  /** The group id (keyType 0) or transactional id (keyType 1). */
  readonly key: string
  /** v1+, default 0 (group). */
  readonly keyType: number
}

export interface FindCoordinatorResponse {
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
  readonly errorCode: number
  /** v1+, default null. */
  readonly errorMessage?: string | null
  readonly nodeId: number
  readonly host: string
  readonly port: number
}

export const FindCoordinator = defineApi<FindCoordinatorRequest, FindCoordinatorResponse>({
  apiKey: 10,
  name: "FindCoordinator",
  minVersion: 0,
  maxVersion: 2,
  request: message("FindCoordinatorRequest", [field("key", T.String, "0-3"), field("keyType", T.Int8, "1+")]),
  response: message("FindCoordinatorResponse", [
    field("throttleTimeMs", T.Int32, "1+"),
    field("errorCode", T.Int16, "0+"),
    field("errorMessage", T.String, "1+", { nullable: "1+", default: null }),
    field("nodeId", T.Int32, "0+"),
    field("host", T.String, "0+"),
    field("port", T.Int32, "0+")
  ])
})
