/**
 * Metadata (API key 3), versions 0-8 (MetadataRequest.json / MetadataResponse.json).
 * `topics` keeps the wire meaning: in v0 an empty array means "all topics"; from v1 null means
 * "all topics" and an empty array means none.
 */
import { defineApi } from "../ApiCodec.js"
import { field, list, message, structs, T } from "../schema.js"

/** The "not requested" value of the authorized-operations bit fields (INT32 min). */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648

export interface MetadataRequestTopic {
  readonly name: string
}

export interface MetadataRequest {
  /** null (v1+) = all topics; [] in v0 = all topics. */
  readonly topics: ReadonlyArray<MetadataRequestTopic> | null
  /** v4+, default true. */
  readonly allowAutoTopicCreation: boolean
  /** v8+, default false. */
  readonly includeClusterAuthorizedOperations: boolean
  /** v8+, default false. */
  readonly includeTopicAuthorizedOperations: boolean
}

export interface MetadataResponseBroker {
  readonly nodeId: number
  readonly host: string
  readonly port: number
  /** v1+, default null. */
  readonly rack?: string | null
}

export interface MetadataResponsePartition {
  readonly errorCode: number
  readonly partitionIndex: number
  readonly leaderId: number
  /** v7+, default -1. */
  readonly leaderEpoch?: number
  readonly replicaNodes: ReadonlyArray<number>
  readonly isrNodes: ReadonlyArray<number>
  /** v5+, default []. */
  readonly offlineReplicas?: ReadonlyArray<number>
}

export interface MetadataResponseTopic {
  readonly errorCode: number
  readonly name: string
  /** v1+, default false. */
  readonly isInternal?: boolean
  readonly partitions: ReadonlyArray<MetadataResponsePartition>
  /** v8+, default AUTHORIZED_OPERATIONS_OMITTED. */
  readonly topicAuthorizedOperations?: number
}

export interface MetadataResponse {
  /** v3+, default 0. */
  readonly throttleTimeMs?: number
  readonly brokers: ReadonlyArray<MetadataResponseBroker>
  /** v2+, default null. */
  readonly clusterId?: string | null
  /** v1+, default -1. */
  readonly controllerId?: number
  readonly topics: ReadonlyArray<MetadataResponseTopic>
  /** v8+, default AUTHORIZED_OPERATIONS_OMITTED. */
  readonly clusterAuthorizedOperations?: number
}

export const Metadata = defineApi<MetadataRequest, MetadataResponse>({
  apiKey: 3,
  name: "Metadata",
  minVersion: 0,
  maxVersion: 8,
  request: message("MetadataRequest", [
    structs("topics", "0+", [field("name", T.String, "0+")], { nullable: "1+" }),
    field("allowAutoTopicCreation", T.Bool, "4+", { default: true }),
    field("includeClusterAuthorizedOperations", T.Bool, "8-10"),
    field("includeTopicAuthorizedOperations", T.Bool, "8+")
  ]),
  response: message("MetadataResponse", [
    field("throttleTimeMs", T.Int32, "3+"),
    structs("brokers", "0+", [
      field("nodeId", T.Int32, "0+"),
      field("host", T.String, "0+"),
      field("port", T.Int32, "0+"),
      field("rack", T.String, "1+", { nullable: "1+", default: null })
    ]),
    field("clusterId", T.String, "2+", { nullable: "2+", default: null }),
    field("controllerId", T.Int32, "1+", { default: -1 }),
    structs("topics", "0+", [
      field("errorCode", T.Int16, "0+"),
      field("name", T.String, "0+"),
      field("isInternal", T.Bool, "1+"),
      structs("partitions", "0+", [
        field("errorCode", T.Int16, "0+"),
        field("partitionIndex", T.Int32, "0+"),
        field("leaderId", T.Int32, "0+"),
        field("leaderEpoch", T.Int32, "7+", { default: -1 }),
        list("replicaNodes", T.Int32, "0+"),
        list("isrNodes", T.Int32, "0+"),
        list("offlineReplicas", T.Int32, "5+")
      ]),
      field("topicAuthorizedOperations", T.Int32, "8+", { default: AUTHORIZED_OPERATIONS_OMITTED })
    ]),
    field("clusterAuthorizedOperations", T.Int32, "8+", { default: AUTHORIZED_OPERATIONS_OMITTED })
  ])
})
