/** CreateTopics (API key 19), versions 0-4 (CreateTopicsRequest.json / CreateTopicsResponse.json). */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

export interface CreatableReplicaAssignment {
  readonly partitionIndex: number
  readonly brokerIds: ReadonlyArray<number>
}

export interface CreatableTopicConfig {
  readonly name: string
  readonly value: string | null
}

export interface CreatableTopic {
  readonly name: string
  /** -1: use the broker default (v4+, KIP-464) or the assignments. */
  readonly numPartitions: number
  /** -1: use the broker default (v4+) or the assignments. */
  readonly replicationFactor: number
  readonly assignments: ReadonlyArray<CreatableReplicaAssignment>
  readonly configs: ReadonlyArray<CreatableTopicConfig>
}

export interface CreateTopicsRequest {
  readonly topics: ReadonlyArray<CreatableTopic>
  readonly timeoutMs: number
  /** v1+, default false. */
  readonly validateOnly: boolean
}

export interface CreatableTopicResult {
  readonly name: string
  readonly errorCode: number
  /** v1+, default null. */
  readonly errorMessage?: string | null
}

export interface CreateTopicsResponse {
  /** v2+, default 0. */
  readonly throttleTimeMs?: number
  readonly topics: ReadonlyArray<CreatableTopicResult>
}

export const CreateTopics = defineApi<CreateTopicsRequest, CreateTopicsResponse>({
  apiKey: 19,
  name: "CreateTopics",
  minVersion: 0,
  maxVersion: 4,
  request: message("CreateTopicsRequest", [
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      field("numPartitions", T.Int32, "0+"),
      field("replicationFactor", T.Int16, "0+"),
      structs("assignments", "0+", [field("partitionIndex", T.Int32, "0+"), list("brokerIds", T.Int32, "0+")]),
      structs("configs", "0+", [field("name", T.String, "0+"), field("value", T.String, "0+", { nullable: "0+" })])
    ]),
    field("timeoutMs", T.Int32, "0+", { default: 60000 }),
    field("validateOnly", T.Bool, "1+")
  ]),
  response: message("CreateTopicsResponse", [
    field("throttleTimeMs", T.Int32, "2+"),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      field("errorCode", T.Int16, "0+"),
      field("errorMessage", T.String, "1+", { nullable: "0+", default: null })
    ])
  ])
})
