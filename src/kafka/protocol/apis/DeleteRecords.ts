/**
 * DeleteRecords (API key 21), versions 0-1 (DeleteRecordsRequest.json / ...Response.json; v1
 * only changes throttling semantics, KIP-219; v2 is the first flexible version and is not
 * advertised: kafkajs sends v0-1, librdkafka v0-1, the Java admin client falls back to v1).
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface DeleteRecordsPartition {
  readonly partitionIndex: number
  /** Delete every record below this offset; -1 = the high watermark. */
  readonly offset: number
}

export interface DeleteRecordsTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<DeleteRecordsPartition>
}

export interface DeleteRecordsRequest {
  readonly topics: ReadonlyArray<DeleteRecordsTopic>
  readonly timeoutMs: number
}

export interface DeleteRecordsPartitionResult {
  readonly partitionIndex: number
  /** The partition's log start offset afterwards, -1 on error. */
  readonly lowWatermark: number
  readonly errorCode: number
}

export interface DeleteRecordsTopicResult {
  readonly name: string
  readonly partitions: ReadonlyArray<DeleteRecordsPartitionResult>
}

export interface DeleteRecordsResponse {
  readonly throttleTimeMs: number
  readonly topics: ReadonlyArray<DeleteRecordsTopicResult>
}

export const DeleteRecords = defineApi<DeleteRecordsRequest, DeleteRecordsResponse>({
  apiKey: 21,
  name: "DeleteRecords",
  minVersion: 0,
  maxVersion: 1,
  request: message("DeleteRecordsRequest", [
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [field("partitionIndex", T.Int32, "0+"), field("offset", T.Int64, "0+")])
    ]),
    field("timeoutMs", T.Int32, "0+")
  ]),
  response: message("DeleteRecordsResponse", [
    field("throttleTimeMs", T.Int32, "0+"),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [
        field("partitionIndex", T.Int32, "0+"),
        field("lowWatermark", T.Int64, "0+"),
        field("errorCode", T.Int16, "0+")
      ])
    ])
  ])
})
