/** OffsetCommit (API key 8), versions 0-7 (OffsetCommitRequest.json / OffsetCommitResponse.json). */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface OffsetCommitRequestPartition {
  readonly partitionIndex: number
  readonly committedOffset: number
  /** v6+, default -1. */
  readonly committedLeaderEpoch: number
  /** v1 only, default -1. */
  readonly commitTimestamp: number
  readonly committedMetadata: string | null
}

export interface OffsetCommitRequestTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<OffsetCommitRequestPartition>
}

export interface OffsetCommitRequest {
  readonly groupId: string
  /** v1+, default -1. */
  readonly generationId: number
  /** v1+, default "". */
  readonly memberId: string
  /** v7+, default null. */
  readonly groupInstanceId: string | null
  /** v2-4, default -1 (broker default retention). */
  readonly retentionTimeMs: number
  readonly topics: ReadonlyArray<OffsetCommitRequestTopic>
}

export interface OffsetCommitResponsePartition {
  readonly partitionIndex: number
  readonly errorCode: number
}

export interface OffsetCommitResponseTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<OffsetCommitResponsePartition>
}

export interface OffsetCommitResponse {
  /** v3+, default 0. */
  readonly throttleTimeMs?: number
  readonly topics: ReadonlyArray<OffsetCommitResponseTopic>
}

export const OffsetCommit = defineApi<OffsetCommitRequest, OffsetCommitResponse>({
  apiKey: 8,
  name: "OffsetCommit",
  minVersion: 0,
  maxVersion: 7,
  request: message("OffsetCommitRequest", [
    field("groupId", T.String, "0+"),
    field("generationId", T.Int32, "1+", { default: -1 }),
    field("memberId", T.String, "1+"),
    field("groupInstanceId", T.String, "7+", { nullable: "7+", default: null }),
    field("retentionTimeMs", T.Int64, "2-4", { default: -1 }),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [
        field("partitionIndex", T.Int32, "0+"),
        field("committedOffset", T.Int64, "0+"),
        field("committedLeaderEpoch", T.Int32, "6+", { default: -1 }),
        field("commitTimestamp", T.Int64, "1", { default: -1 }),
        field("committedMetadata", T.String, "0+", { nullable: "0+" })
      ])
    ])
  ]),
  response: message("OffsetCommitResponse", [
    field("throttleTimeMs", T.Int32, "3+"),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [field("partitionIndex", T.Int32, "0+"), field("errorCode", T.Int16, "0+")])
    ])
  ])
})
