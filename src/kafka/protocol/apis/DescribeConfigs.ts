/**
 * DescribeConfigs (API key 32), versions 0-3 (DescribeConfigsRequest.json / ...Response.json;
 * v3 adds config types and documentation, KIP-569).
 */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

export interface DescribeConfigsResource {
  /** 2 topic, 4 broker, 8 broker logger. */
  readonly resourceType: number
  readonly resourceName: string
  /** null = every key. */
  readonly configurationKeys: ReadonlyArray<string> | null
}

export interface DescribeConfigsRequest {
  readonly resources: ReadonlyArray<DescribeConfigsResource>
  /** v1+, default false. */
  readonly includeSynonyms: boolean
  /** v3+, default false. */
  readonly includeDocumentation: boolean
}

export interface DescribeConfigsSynonym {
  readonly name: string
  readonly value: string | null
  readonly source: number
}

export interface DescribeConfigsResourceResult {
  readonly name: string
  readonly value: string | null
  readonly readOnly: boolean
  /** v0 only, default false. */
  readonly isDefault?: boolean
  /** v1+, default -1. 1 dynamic topic, 4 static broker, 5 default, ... */
  readonly configSource?: number
  readonly isSensitive: boolean
  /** v1+, default []. */
  readonly synonyms?: ReadonlyArray<DescribeConfigsSynonym>
  /** v3+, default 0 (unknown). 1 boolean, 2 string, 3 int, 4 short, 5 long, ... */
  readonly configType?: number
  /** v3+, default null. */
  readonly documentation?: string | null
}

export interface DescribeConfigsResult {
  readonly errorCode: number
  readonly errorMessage: string | null
  readonly resourceType: number
  readonly resourceName: string
  readonly configs: ReadonlyArray<DescribeConfigsResourceResult>
}

export interface DescribeConfigsResponse {
  readonly throttleTimeMs: number
  readonly results: ReadonlyArray<DescribeConfigsResult>
}

export const DescribeConfigs = defineApi<DescribeConfigsRequest, DescribeConfigsResponse>({
  apiKey: 32,
  name: "DescribeConfigs",
  minVersion: 0,
  maxVersion: 3,
  request: message("DescribeConfigsRequest", [
    structs("resources", "0+", [
      field("resourceType", T.Int8, "0+"),
      field("resourceName", T.String, "0+"),
      list("configurationKeys", T.String, "0+", { nullable: "0+" })
    ]),
    field("includeSynonyms", T.Bool, "1+"),
    field("includeDocumentation", T.Bool, "3+")
  ]),
  response: message("DescribeConfigsResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    structs("results", "0+", [
      field("errorCode", T.Int16, "0+"),
      field("errorMessage", T.String, "0+", { nullable: "0+" }),
      field("resourceType", T.Int8, "0+"),
      field("resourceName", T.String, "0+"),
      structs("configs", "0+", [
        field("name", T.String, "0+"),
        field("value", T.String, "0+", { nullable: "0+" }),
        field("readOnly", T.Bool, "0+"),
        field("isDefault", T.Bool, "0"),
        field("configSource", T.Int8, "1+", { default: -1 }),
        field("isSensitive", T.Bool, "0+"),
        structs("synonyms", "1+", [
          field("name", T.String, "1+"),
          field("value", T.String, "1+", { nullable: "0+" }),
          field("source", T.Int8, "1+")
        ]),
        field("configType", T.Int8, "3+"),
        field("documentation", T.String, "3+", { nullable: "0+", default: null })
      ])
    ])
  ])
})
