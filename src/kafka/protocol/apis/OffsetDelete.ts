/**
 * OffsetDelete (API key 47), version 0 (OffsetDeleteRequest.json / ...Response.json, KIP-496;
 * the only version, not flexible). The response carries the group's error before the throttle
 * time, unlike most responses.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface OffsetDeleteRequest {
  readonly groupId: string
  readonly topics: ReadonlyArray<{
    readonly name: string
    readonly partitions: ReadonlyArray<{ readonly partitionIndex: number }>
  }>
}

export interface OffsetDeleteResponsePartition {
  readonly partitionIndex: number
  readonly errorCode: number
}

export interface OffsetDeleteResponseTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<OffsetDeleteResponsePartition>
}

export interface OffsetDeleteResponse {
  /** The group's error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, ...): then `topics` holds only unknown partitions. */
  readonly errorCode: number
  readonly throttleTimeMs: number
  readonly topics: ReadonlyArray<OffsetDeleteResponseTopic>
}

export const OffsetDelete = defineApi<OffsetDeleteRequest, OffsetDeleteResponse>({
  apiKey: 47,
  name: "OffsetDelete",
  minVersion: 0,
  maxVersion: 0,
  request: message("OffsetDeleteRequest", [
    field("groupId", T.String, "0+"),
    structs("topics", "0+", [field("name", T.String, "0+"), structs("partitions", "0+", [field("partitionIndex", T.Int32, "0+")])])
  ]),
  response: message("OffsetDeleteResponse", [
    field("errorCode", T.Int16, "0+"),
    field("throttleTimeMs", T.Int32, "0+"),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [field("partitionIndex", T.Int32, "0+"), field("errorCode", T.Int16, "0+")])
    ])
  ])
})
