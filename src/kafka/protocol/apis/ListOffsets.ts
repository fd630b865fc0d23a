/**
 * ListOffsets (API key 2), versions 1-5 (ListOffsetsRequest.json / ListOffsetsResponse.json).
 * Timestamp -1 asks for the latest offset, -2 for the earliest.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface ListOffsetsRequestPartition {
  readonly partitionIndex: number
  /** v4+, default -1. */
  readonly currentLeaderEpoch: number
  /** -1 latest, -2 earliest, else a timestamp in ms. */
  readonly timestamp: number
}

export interface ListOffsetsRequestTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<ListOffsetsRequestPartition>
}

export interface ListOffsetsRequest {
  readonly replicaId: number
  /** v2+, default 0. */
  readonly isolationLevel: number
  readonly topics: ReadonlyArray<ListOffsetsRequestTopic>
}

export interface ListOffsetsResponsePartition {
  readonly partitionIndex: number
  readonly errorCode: number
  readonly timestamp: number
  readonly offset: number
  /** v4+, default -1. */
  readonly leaderEpoch?: number
}

export interface ListOffsetsResponseTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<ListOffsetsResponsePartition>
}

export interface ListOffsetsResponse {
  /** v2+, default 0. */
  readonly throttleTimeMs?: number
  readonly topics: ReadonlyArray<ListOffsetsResponseTopic>
}

export const ListOffsets = defineApi<ListOffsetsRequest, ListOffsetsResponse>({
  apiKey: 2,
  name: "ListOffsets",
  minVersion: 1,
  maxVersion: 5,
  request: message("ListOffsetsRequest", [
    field("replicaId", T.Int32, "0+"),
    field("isolationLevel", T.Int8, "2+"),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [
        field("partitionIndex", T.Int32, "0+"),
        field("currentLeaderEpoch", T.Int32, "4+", { default: -1 }),
        field("timestamp", T.Int64, "0+")
      ])
    ])
  ]),
  response: message("ListOffsetsResponse", [
    field("throttleTimeMs", T.Int32, "2+"),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [
        field("partitionIndex", T.Int32, "0+"),
        field("errorCode", T.Int16, "0+"),
        field("timestamp", T.Int64, "1+", { default: -1 }),
        field("offset", T.Int64, "1+", { default: -1 }),
        field("leaderEpoch", T.Int32, "4+", { default: -1 })
      ])
    ])
  ])
})
