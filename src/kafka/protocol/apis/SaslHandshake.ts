/** SaslHandshake (API key 17), versions 0-1 (SaslHandshakeRequest.json / SaslHandshakeResponse.json). */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, T } from "../schema.js"

export interface SaslHandshakeRequest {
  readonly mechanism: string
}

export interface SaslHandshakeResponse {
  readonly errorCode: number
  /** The mechanisms this broker offers. */
  readonly mechanisms: ReadonlyArray<string>
}

export const SaslHandshake = defineApi<SaslHandshakeRequest, SaslHandshakeResponse>({
  apiKey: 17,
  name: "SaslHandshake",
  minVersion: 0,
  maxVersion: 1,
  request: message("SaslHandshakeRequest", [field("mechanism", T.String, "0+")]),
  response: message("SaslHandshakeResponse", [field("errorCode", T.Int16, "0+"), list("mechanisms", T.String, "0+")])
})
