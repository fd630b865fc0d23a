/**
 * Produce (API key 0), versions 3-8 (ProduceRequest.json / ProduceResponse.json). The hot API:
 * `records` is a view into the request frame (zero copy, not parsed here); the handler validates
 * and stores the batch bytes. Copy it if it must outlive the frame's buffer.
 */
import { defineApi } from "../ApiCodec.js"
import { field, message, structs, T } from "../schema.js"

export interface ProduceRequestPartition {
  readonly partitionIndex: number
  /** RecordBatch bytes as sent (a view into the frame), or null. */
  readonly records: Buffer | null
}

export interface ProduceRequestTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<ProduceRequestPartition>
}

export interface ProduceRequest {
  readonly transactionalId: string | null
  /** 0: no response; 1: leader; -1: all in-sync replicas. */
  readonly acks: number
  readonly timeoutMs: number
  readonly topics: ReadonlyArray<ProduceRequestTopic>
}

export interface ProduceRecordError {
  readonly batchIndex: number
  readonly batchIndexErrorMessage: string | null
}

export interface ProduceResponsePartition {
  readonly partitionIndex: number
  readonly errorCode: number
  readonly baseOffset: number
  /** v2+; -1 (the default) when the topic uses CreateTime. */
  readonly logAppendTimeMs?: number
  /** v5+, default -1. */
  readonly logStartOffset?: number
  /** v8+, default []. */
  readonly recordErrors?: ReadonlyArray<ProduceRecordError>
  /** v8+, default null. */
  readonly errorMessage?: string | null
}

export interface ProduceResponseTopic {
  readonly name: string
  readonly partitions: ReadonlyArray<ProduceResponsePartition>
}

export interface ProduceResponse {
  readonly responses: ReadonlyArray<ProduceResponseTopic>
  /** Last in Produce (first in most other responses). */
  readonly throttleTimeMs: number
}

export const Produce = defineApi<ProduceRequest, ProduceResponse>({
  apiKey: 0,
  name: "Produce",
  minVersion: 3,
  maxVersion: 8,
  request: message("ProduceRequest", [
    field("transactionalId", T.String, "3+", { nullable: "0+", default: null }),
    field("acks", T.Int16, "0+"),
    field("timeoutMs", T.Int32, "0+"),
    structs("topics", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [
        field("partitionIndex", T.Int32, "0+"),
        field("records", T.Records, "0+", { nullable: "0+" })
      ])
    ])
  ]),
  response: message("ProduceResponse", [
    structs("responses", "0+", [
      field("name", T.String, "0+"),
      structs("partitions", "0+", [
        field("partitionIndex", T.Int32, "0+"),
        field("errorCode", T.Int16, "0+"),
        field("baseOffset", T.Int64, "0+"),
        field("logAppendTimeMs", T.Int64, "2+", { default: -1 }),
        field("logStartOffset", T.Int64, "5+", { default: -1 }),
        structs("recordErrors", "8+", [
          field("batchIndex", T.Int32, "8+"),
          field("batchIndexErrorMessage", T.String, "8+", { nullable: "8+", default: null })
        ]),
        field("errorMessage", T.String, "8+", { nullable: "8+", default: null })
      ])
    ]),
    field("throttleTimeMs", T.Int32, "1+")
  ])
})
