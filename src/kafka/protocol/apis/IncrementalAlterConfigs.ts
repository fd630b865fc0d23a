/**
 * IncrementalAlterConfigs (API key 44), version 0 (IncrementalAlterConfigsRequest.json /
 * ...Response.json, KIP-339). v1 is the first flexible version and is not advertised. Each
 * entry names one key and an operation on it; keys not named keep their value.
 */
import { defineApi } from "../ApiCodec.js"
import { alterConfigsResponseFields } from "./AlterConfigs.js"
import { field, message, structs, T } from "../schema.js"

/** The `configOperation` values (AlterConfigOp.OpType). */
export const ConfigOperation = { Set: 0, Delete: 1, Append: 2, Subtract: 3 } as const

export interface IncrementalAlterConfigsEntry {
  readonly name: string
  /** 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT. */
  readonly configOperation: number
  readonly value: string | null
}

export interface IncrementalAlterConfigsResource {
  readonly resourceType: number
  readonly resourceName: string
  readonly configs: ReadonlyArray<IncrementalAlterConfigsEntry>
}

export interface IncrementalAlterConfigsRequest {
  readonly resources: ReadonlyArray<IncrementalAlterConfigsResource>
  readonly validateOnly: boolean
}

export interface IncrementalAlterConfigsResourceResponse {
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly resourceType: number
  readonly resourceName: string
}

export interface IncrementalAlterConfigsResponse {
  readonly throttleTimeMs: number
  readonly responses: ReadonlyArray<IncrementalAlterConfigsResourceResponse>
}

export const IncrementalAlterConfigs = defineApi<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>({
  apiKey: 44,
  name: "IncrementalAlterConfigs",
  minVersion: 0,
  maxVersion: 0,
  request: message("IncrementalAlterConfigsRequest", [
    structs("resources", "0+", [
      field("resourceType", T.Int8, "0+"),
      field("resourceName", T.String, "0+"),
      structs("configs", "0+", [
        field("name", T.String, "0+"),
        field("configOperation", T.Int8, "0+"),
        field("value", T.String, "0+", { nullable: "0+" })
      ])
    ]),
    field("validateOnly", T.Bool, "0+")
  ]),
  response: message("IncrementalAlterConfigsResponse", alterConfigsResponseFields)
})
