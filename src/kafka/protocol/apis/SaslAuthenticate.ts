/**
 * SaslAuthenticate (API key 36), versions 0-2 (SaslAuthenticateRequest.json /
 * SaslAuthenticateResponse.json). v2 is flexible.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, T } from "../schema.js"

export interface SaslAuthenticateRequest {
  /** The mechanism's token (PLAIN: [authzid] NUL authcid NUL passwd). */
  readonly authBytes: Buffer
}

export interface SaslAuthenticateResponse {
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly authBytes: Buffer
  /** v1+, default 0: the session does not expire (no re-authentication). */
  readonly sessionLifetimeMs?: number
}

export const SaslAuthenticate = defineApi<SaslAuthenticateRequest, SaslAuthenticateResponse>({
  apiKey: 36,
  name: "SaslAuthenticate",
  minVersion: 0,
  maxVersion: 2,
  request: message("SaslAuthenticateRequest", [field("authBytes", T.Bytes, "0+")], "2+"),
  response: message(
    "SaslAuthenticateResponse",
    [
      field("errorCode", T.Int16, "0+"),
      field("errorMessage", T.String, "0+", { nullable: "0+", default: null }),
      field("authBytes", T.Bytes, "0+"),
      field("sessionLifetimeMs", T.Int64, "1+")
    ],
    "2+"
  )
})
