/** OffsetFetch (API key 9), versions 0-5 (OffsetFetchRequest.json / OffsetFetchResponse.json). */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

export interface OffsetFetchRequestTopic {
  readonly name: string
  readonly partitionIndexes: ReadonlyArray<number>
}

export interface OffsetFetchRequest {
  readonly groupId: string
  /** null (v2+) = every topic the group has offsets for. */
  readonly topics: ReadonlyArray<OffsetFetchRequestTopic> | null
}

export interface OffsetFetchResponsePartition {
  readonly partitionIndex: number
  /** -1 when the group has no offset for the partition. */
  readonly committedOffset: number
  /** v5+, default -1. */
  readonly committedLeaderEpoch?: number
  readonly metadata: string | null
  readonly errorCode: number
}

export interface OffsetFetchResponseTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<OffsetFetchResponsePartition>
}

export interface OffsetFetchResponse {
  /** v3+, default 0. */
  readonly throttleTimeMs?: number
  readonly topics: ReadonlyArray<OffsetFetchResponseTopic>
  /** v2+, default 0 (top-level, group or coordinator errors). */
  readonly errorCode?: number
}

export const OffsetFetch = defineApi<OffsetFetchRequest, OffsetFetchResponse>({
  apiKey: 9,
  name: "OffsetFetch",
  minVersion: 0,
  maxVersion: 5,
  request: message("OffsetFetchRequest", [
    field("groupId", T.String, "0-7"),
    structs("topics", "0-7", [field("name", T.String, "0-7"), list("partitionIndexes", T.Int32, "0-7")], {
      nullable: "2-7"
    })
  ]),
  response: message("OffsetFetchResponse", [
    field("throttleTimeMs", T.Int32, "3+"),
    structs("topics", "0-7", [
      field("name", T.String, "0-7"),
      structs("partitions", "0-7", [
        field("partitionIndex", T.Int32, "0-7"),
        field("committedOffset", T.Int64, "0-7"),
        field("committedLeaderEpoch", T.Int32, "5-7", { default: -1 }),
        field("metadata", T.String, "0-7", { nullable: "0-7" }),
        field("errorCode", T.Int16, "0-7")
      ])
    ]),
    field("errorCode", T.Int16, "2-7")
  ])
})
