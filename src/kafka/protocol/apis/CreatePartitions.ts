/** CreatePartitions (API key 37), versions 0-1 (CreatePartitionsRequest.json / ...Response.json). */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

export interface CreatePartitionsAssignment {
  readonly brokerIds: ReadonlyArray<number>
}

export interface CreatePartitionsTopic {
  readonly name: string
  /** The new total partition count. */
  readonly count: number
  /** null = let the broker place the new partitions. */
  readonly assignments: ReadonlyArray<CreatePartitionsAssignment> | null
}

export interface CreatePartitionsRequest {
  readonly topics: ReadonlyArray<CreatePartitionsTopic>
  readonly timeoutMs: number
  readonly validateOnly: boolean
}

export interface CreatePartitionsTopicResult {
  readonly name: string
  readonly errorCode: number
  readonly errorMessage: string | null
}

export interface CreatePartitionsResponse {
  readonly throttleTimeMs: number
  readonly results: ReadonlyArray<CreatePartitionsTopicResult>
}

export const CreatePartitions = defineApi<CreatePartitionsRequest, CreatePartitionsResponse>({
  apiKey: 37,
  name: "CreatePartitions",
  minVersion: 0,
  maxVersion: 1,
  request: message("CreatePartitionsRequest", [
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      field("count", T.Int32, "0+"),
      structs("assignments", "0+", [list("brokerIds", T.Int32, "0+")], { nullable: "0+" })
    ]),
    field("timeoutMs", T.Int32, "0+"),
    field("validateOnly", T.Bool, "0+")
  ]),
  response: message("CreatePartitionsResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    structs("results", "0+", [
      field("name", T.String, "0+"),
      field("errorCode", T.Int16, "0+"),
      field("errorMessage", T.String, "0+", { nullable: "0+", default: null })
    ])
  ])
})
