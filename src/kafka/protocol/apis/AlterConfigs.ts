/**
 * AlterConfigs (API key 33), versions 0-1 (AlterConfigsRequest.json / AlterConfigsResponse.json;
 * v1 only changes throttling semantics, KIP-219; flexible from v2, not in scope). Replaces a
 * resource's whole set of dynamic configs.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface AlterConfigsEntry {
  readonly name: string
  readonly value: string | null
}

export interface AlterConfigsResource {
  /** 2 topic, 4 broker. */
  readonly resourceType: number
  readonly resourceName: string
  readonly configs: ReadonlyArray<AlterConfigsEntry>
}

export interface AlterConfigsRequest {
  readonly resources: ReadonlyArray<AlterConfigsResource>
  readonly validateOnly: boolean
}

export interface AlterConfigsResourceResponse {
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly resourceType: number
  readonly resourceName: string
}

export interface AlterConfigsResponse {
  readonly throttleTimeMs: number
  readonly responses: ReadonlyArray<AlterConfigsResourceResponse>
}

/** The response body, the same in AlterConfigs and IncrementalAlterConfigs (v0-1). */
export const alterConfigsResponseFields = [
  field("throttleTimeMs", T.Int32, "0+"),
  structs("responses", "0+", [
    field("errorCode", T.Int16, "0+"),
    field("errorMessage", T.String, "0+", { nullable: "0+" }),
    field("resourceType", T.Int8, "0+"),
    field("resourceName", T.String, "0+")
  ])
]

export const AlterConfigs = defineApi<AlterConfigsRequest, AlterConfigsResponse>({
  apiKey: 33,
  name: "AlterConfigs",
  minVersion: 0,
  maxVersion: 1,
  request: message("AlterConfigsRequest", [
    structs("resources", "0+", [
      field("resourceType", T.Int8, "0+"),
      field("resourceName", T.String, "0+"),
      structs("configs", "0+", [field("name", T.String, "0+"), field("value", T.String, "0+", { nullable: "0+" })])
    ]),
    field("validateOnly", T.Bool, "0+")
  ]),
  response: message("AlterConfigsResponse", alterConfigsResponseFields)
})
