/**
 * ApiVersions (API key 18), versions 0-3 (ApiVersionsRequest.json / ApiVersionsResponse.json).
 * v3 is flexible (KIP-482, KIP-511), but its response always goes out under response header v0
 * so a client that does not know the version yet can read the correlation id.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface ApiVersionsRequest {
  /** v3+, default "". */
  readonly clientSoftwareName: string
  /** v3+, default "". */
  readonly clientSoftwareVersion: string
}

export interface ApiVersionRange {
  readonly apiKey: number
  readonly minVersion: number
  readonly maxVersion: number
}

export interface ApiVersionsResponse {
  readonly errorCode: number
  readonly apiKeys: ReadonlyArray<ApiVersionRange>
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
}

export const ApiVersions = defineApi<ApiVersionsRequest, ApiVersionsResponse>({
  apiKey: 18,
  name: "ApiVersions",
  minVersion: 0,
  maxVersion: 3,
  request: message(
    "ApiVersionsRequest",
    [field("clientSoftwareName", T.String, "3+"), field("clientSoftwareVersion", T.String, "3+")],
    "3+"
  ),
  response: message(
    "ApiVersionsResponse",
    [
      field("errorCode", T.Int16, "0+"),
      structs("apiKeys", "0+", [
        field("apiKey", T.Int16, "0+"),
        field("minVersion", T.Int16, "0+"),
        field("maxVersion", T.Int16, "0+")
      ]),
      field("throttleTimeMs", T.Int32, "1+")
    ],
    "3+"
  )
})
