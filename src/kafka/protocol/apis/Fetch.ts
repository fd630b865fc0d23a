/**
 * Fetch (API key 1), versions 4-11 (FetchRequest.json / FetchResponse.json; field names as in
 * the current spec). The hot response: each partition's `records` is written without copying,
 * from one buffer or from the stored batches as they are, so a response over many partitions
 * becomes a list of chunks for one `writev` rather than one big concatenated buffer.
 */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

export interface FetchRequestPartition {
  readonly partition: number
  /** v9+, default -1. */
  readonly currentLeaderEpoch: number
  readonly fetchOffset: number
  /** v5+, default -1 (only followers set it). */
  readonly logStartOffset: number
  readonly partitionMaxBytes: number
}

export interface FetchRequestTopic {
  readonly topic: string
  readonly partitions: ReadonlyArray<FetchRequestPartition>
}

export interface FetchForgottenTopic {
  readonly topic: string
  readonly partitions: ReadonlyArray<number>
}

export interface FetchRequest {
  /** -1 for consumers. */
  readonly replicaId: number
  readonly maxWaitMs: number
  readonly minBytes: number
  readonly maxBytes: number
  /** 0 READ_UNCOMMITTED, 1 READ_COMMITTED. */
  readonly isolationLevel: number
  /** v7+ (KIP-227 fetch sessions), default 0. */
  readonly sessionId: number
  /** v7+, default -1. */
  readonly sessionEpoch: number
  readonly topics: ReadonlyArray<FetchRequestTopic>
  /** v7+, default []. */
  readonly forgottenTopicsData: ReadonlyArray<FetchForgottenTopic>
  /** v11+, default "". */
  readonly rackId: string
}

export interface FetchAbortedTransaction {
  readonly producerId: number
  readonly firstOffset: number
}

export interface FetchResponsePartition {
  readonly partitionIndex: number
  readonly errorCode: number
  readonly highWatermark: number
  readonly lastStableOffset: number
  readonly logStartOffset?: number
  /** null (the default) when there are none or isolation is READ_UNCOMMITTED. */
  readonly abortedTransactions?: ReadonlyArray<FetchAbortedTransaction> | null
  /** v11+, default -1. */
  readonly preferredReadReplica?: number
  /** Stored batches: one buffer, several (written back to back, uncopied) or null. */
  readonly records: Buffer | ReadonlyArray<Buffer> | null
}

export interface FetchResponseTopic {
  readonly topic: string
  readonly partitions: ReadonlyArray<FetchResponsePartition>
}

export interface FetchResponse {
  readonly throttleTimeMs: number
  /** v7+, default 0. */
  readonly errorCode?: number
  /** v7+, default 0 (no fetch session). */
  readonly sessionId?: number
  readonly responses: ReadonlyArray<FetchResponseTopic>
}

export const Fetch = defineApi<FetchRequest, FetchResponse>({
  apiKey: 1,
  name: "Fetch",
  minVersion: 4,
  maxVersion: 11,
  request: message("FetchRequest", [
    field("replicaId", T.Int32, "0+"),
    field("maxWaitMs", T.Int32, "0+"),
    field("minBytes", T.Int32, "0+"),
    field("maxBytes", T.Int32, "3+", { default: 0x7fffffff }),
    field("isolationLevel", T.Int8, "4+"),
    field("sessionId", T.Int32, "7+"),
    field("sessionEpoch", T.Int32, "7+", { default: -1 }),
    structs("topics", "0+", [
      field("topic", T.String, "0+"),
      structs("partitions", "0+", [
        field("partition", T.Int32, "0+"),
        field("currentLeaderEpoch", T.Int32, "9+", { default: -1 }),
        field("fetchOffset", T.Int64, "0+"),
        field("logStartOffset", T.Int64, "5+", { default: -1 }),
        field("partitionMaxBytes", T.Int32, "0+")
      ])
    ]),
    structs("forgottenTopicsData", "7+", [field("topic", T.String, "7+"), list("partitions", T.Int32, "7+")]),
    field("rackId", T.String, "11+")
  ]),
  response: message("FetchResponse", [
    field("throttleTimeMs", T.Int32, "1+"),
    field("errorCode", T.Int16, "7+"),
    field("sessionId", T.Int32, "7+"),
    structs("responses", "0+", [
      field("topic", T.String, "0+"),
      structs("partitions", "0+", [
        field("partitionIndex", T.Int32, "0+"),
        field("errorCode", T.Int16, "0+"),
        field("highWatermark", T.Int64, "0+"),
        field("lastStableOffset", T.Int64, "4+", { default: -1 }),
        field("logStartOffset", T.Int64, "5+", { default: -1 }),
        structs(
          "abortedTransactions",
          "4+",
          [field("producerId", T.Int64, "4+"), field("firstOffset", T.Int64, "4+")],
          { nullable: "4+", default: null }
        ),
        field("preferredReadReplica", T.Int32, "11+", { default: -1 }),
        field("records", T.Records, "0+", { nullable: "0+" })
      ])
    ])
  ])
})
