/** DeleteTopics (API key 20), versions 0-3 (DeleteTopicsRequest.json / DeleteTopicsResponse.json). */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

export interface DeleteTopicsRequest {
  readonly topicNames: ReadonlyArray<string>
  readonly timeoutMs: number
}

export interface DeletableTopicResult {
  readonly name: string
  readonly errorCode: number
}

export interface DeleteTopicsResponse {
  /** v1+, default 0. */
  readonly throttleTimeMs?: number
  readonly responses: ReadonlyArray<DeletableTopicResult>
}

export const DeleteTopics = defineApi<DeleteTopicsRequest, DeleteTopicsResponse>({
  apiKey: 20,
  name: "DeleteTopics",
  minVersion: 0,
  maxVersion: 3,
  request: message("DeleteTopicsRequest", [list("topicNames", T.String, "0-5"), field("timeoutMs", T.Int32, "0+")]),
  response: message("DeleteTopicsResponse", [
    field("throttleTimeMs", T.Int32, "1+"),
    structs("responses", "0+", [field("name", T.String, "0+"), field("errorCode", T.Int16, "0+")])
  ])
})
