/**
 * Every API this codec speaks, once: its key, version range and codec, plus the type maps from
 * API key to request and response body types. `SUPPORTED` (the ApiVersions answer) and request
 * dispatch in `codec.ts` both come from this list, so they cannot disagree.
 */
import type { ApiCodec } from "./ApiCodec.js"
import { AlterConfigs, type AlterConfigsRequest, type AlterConfigsResponse } from "./apis/AlterConfigs.js"
import { ApiVersions, type ApiVersionsRequest, type ApiVersionsResponse } from "./apis/ApiVersions.js"
import { CreateAcls, type CreateAclsRequest, type CreateAclsResponse } from "./apis/CreateAcls.js"
import { CreatePartitions, type CreatePartitionsRequest, type CreatePartitionsResponse } from "./apis/CreatePartitions.js"
import { CreateTopics, type CreateTopicsRequest, type CreateTopicsResponse } from "./apis/CreateTopics.js"
import { DeleteAcls, type DeleteAclsRequest, type DeleteAclsResponse } from "./apis/DeleteAcls.js"
import { DeleteGroups, type DeleteGroupsRequest, type DeleteGroupsResponse } from "./apis/DeleteGroups.js"
import { DeleteRecords, type DeleteRecordsRequest, type DeleteRecordsResponse } from "./apis/DeleteRecords.js"
import { DeleteTopics, type DeleteTopicsRequest, type DeleteTopicsResponse } from "./apis/DeleteTopics.js"
import { DescribeAcls, type DescribeAclsRequest, type DescribeAclsResponse } from "./apis/DescribeAcls.js"
import { DescribeConfigs, type DescribeConfigsRequest, type DescribeConfigsResponse } from "./apis/DescribeConfigs.js"
import { DescribeGroups, type DescribeGroupsRequest, type DescribeGroupsResponse } from "./apis/DescribeGroups.js"
import { Fetch, type FetchRequest, type FetchResponse } from "./apis/Fetch.js"
import { FindCoordinator, type FindCoordinatorRequest, type FindCoordinatorResponse } from "./apis/FindCoordinator.js"
import { Heartbeat, type HeartbeatRequest, type HeartbeatResponse } from "./apis/Heartbeat.js"
import {
  IncrementalAlterConfigs,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse
} from "./apis/IncrementalAlterConfigs.js"
import { InitProducerId, type InitProducerIdRequest, type InitProducerIdResponse } from "./apis/InitProducerId.js"
import { JoinGroup, type JoinGroupRequest, type JoinGroupResponse } from "./apis/JoinGroup.js"
import { LeaveGroup, type LeaveGroupRequest, type LeaveGroupResponse } from "./apis/LeaveGroup.js"
import { ListGroups, type ListGroupsRequest, type ListGroupsResponse } from "./apis/ListGroups.js"
import { ListOffsets, type ListOffsetsRequest, type ListOffsetsResponse } from "./apis/ListOffsets.js"
import { Metadata, type MetadataRequest, type MetadataResponse } from "./apis/Metadata.js"
import { OffsetCommit, type OffsetCommitRequest, type OffsetCommitResponse } from "./apis/OffsetCommit.js"
import { OffsetDelete, type OffsetDeleteRequest, type OffsetDeleteResponse } from "./apis/OffsetDelete.js"
import { OffsetFetch, type OffsetFetchRequest, type OffsetFetchResponse } from "./apis/OffsetFetch.js"
import { Produce, type ProduceRequest, type ProduceResponse } from "./apis/Produce.js"
import { SaslAuthenticate, type SaslAuthenticateRequest, type SaslAuthenticateResponse } from "./apis/SaslAuthenticate.js"
import { SaslHandshake, type SaslHandshakeRequest, type SaslHandshakeResponse } from "./apis/SaslHandshake.js"
import { SyncGroup, type SyncGroupRequest, type SyncGroupResponse } from "./apis/SyncGroup.js"

/** Kafka API keys (ApiKeys.java) of the APIs in scope. */
export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  DeleteRecords: 21,
  InitProducerId: 22,
  DescribeAcls: 29,
  CreateAcls: 30,
  DeleteAcls: 31,
  DescribeConfigs: 32,
  AlterConfigs: 33,
  SaslAuthenticate: 36,
  CreatePartitions: 37,
  DeleteGroups: 42,
  IncrementalAlterConfigs: 44,
  OffsetDelete: 47
} as const
export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey]

export interface RequestBodies {
  [ApiKey.Produce]: ProduceRequest
  [ApiKey.Fetch]: FetchRequest
  [ApiKey.ListOffsets]: ListOffsetsRequest
  [ApiKey.Metadata]: MetadataRequest
  [ApiKey.OffsetCommit]: OffsetCommitRequest
  [ApiKey.OffsetFetch]: OffsetFetchRequest
  [ApiKey.FindCoordinator]: FindCoordinatorRequest
  [ApiKey.JoinGroup]: JoinGroupRequest
  [ApiKey.Heartbeat]: HeartbeatRequest
  [ApiKey.LeaveGroup]: LeaveGroupRequest
  [ApiKey.SyncGroup]: SyncGroupRequest
  [ApiKey.DescribeGroups]: DescribeGroupsRequest
  [ApiKey.ListGroups]: ListGroupsRequest
  [ApiKey.SaslHandshake]: SaslHandshakeRequest
  [ApiKey.ApiVersions]: ApiVersionsRequest
  [ApiKey.CreateTopics]: CreateTopicsRequest
  [ApiKey.DeleteTopics]: DeleteTopicsRequest
  [ApiKey.DeleteRecords]: DeleteRecordsRequest
  [ApiKey.InitProducerId]: InitProducerIdRequest
  [ApiKey.DescribeAcls]: DescribeAclsRequest
  [ApiKey.CreateAcls]: CreateAclsRequest
  [ApiKey.DeleteAcls]: DeleteAclsRequest
  [ApiKey.DescribeConfigs]: DescribeConfigsRequest
  [ApiKey.AlterConfigs]: AlterConfigsRequest
  [ApiKey.SaslAuthenticate]: SaslAuthenticateRequest
  [ApiKey.CreatePartitions]: CreatePartitionsRequest
  [ApiKey.DeleteGroups]: DeleteGroupsRequest
  [ApiKey.IncrementalAlterConfigs]: IncrementalAlterConfigsRequest
  [ApiKey.OffsetDelete]: OffsetDeleteRequest
}

export interface ResponseBodies {
  [ApiKey.Produce]: ProduceResponse
  [ApiKey.Fetch]: FetchResponse
  [ApiKey.ListOffsets]: ListOffsetsResponse
  [ApiKey.Metadata]: MetadataResponse
  [ApiKey.OffsetCommit]: OffsetCommitResponse
  [ApiKey.OffsetFetch]: OffsetFetchResponse
  [ApiKey.FindCoordinator]: FindCoordinatorResponse
  [ApiKey.JoinGroup]: JoinGroupResponse
  [ApiKey.Heartbeat]: HeartbeatResponse
  [ApiKey.LeaveGroup]: LeaveGroupResponse
  [ApiKey.SyncGroup]: SyncGroupResponse
  [ApiKey.DescribeGroups]: DescribeGroupsResponse
  [ApiKey.ListGroups]: ListGroupsResponse
  [ApiKey.SaslHandshake]: SaslHandshakeResponse
  [ApiKey.ApiVersions]: ApiVersionsResponse
  [ApiKey.CreateTopics]: CreateTopicsResponse
  [ApiKey.DeleteTopics]: DeleteTopicsResponse
  [ApiKey.DeleteRecords]: DeleteRecordsResponse
  [ApiKey.InitProducerId]: InitProducerIdResponse
  [ApiKey.DescribeAcls]: DescribeAclsResponse
  [ApiKey.CreateAcls]: CreateAclsResponse
  [ApiKey.DeleteAcls]: DeleteAclsResponse
  [ApiKey.DescribeConfigs]: DescribeConfigsResponse
  [ApiKey.AlterConfigs]: AlterConfigsResponse
  [ApiKey.SaslAuthenticate]: SaslAuthenticateResponse
  [ApiKey.CreatePartitions]: CreatePartitionsResponse
  [ApiKey.DeleteGroups]: DeleteGroupsResponse
  [ApiKey.IncrementalAlterConfigs]: IncrementalAlterConfigsResponse
  [ApiKey.OffsetDelete]: OffsetDeleteResponse
}

/** The codecs, in API key order. */
export const APIS: ReadonlyArray<ApiCodec<unknown, unknown>> = [
  Produce,
  Fetch,
  ListOffsets,
  Metadata,
  OffsetCommit,
  OffsetFetch,
  FindCoordinator,
  JoinGroup,
  Heartbeat,
  LeaveGroup,
  SyncGroup,
  DescribeGroups,
  ListGroups,
  SaslHandshake,
  ApiVersions,
  CreateTopics,
  DeleteTopics,
  DeleteRecords,
  InitProducerId,
  DescribeAcls,
  CreateAcls,
  DeleteAcls,
  DescribeConfigs,
  AlterConfigs,
  SaslAuthenticate,
  CreatePartitions,
  DeleteGroups,
  IncrementalAlterConfigs,
  OffsetDelete
] as ReadonlyArray<ApiCodec<unknown, unknown>>

/** Codec by API key: a dense array, so dispatch is one index. */
const byKey: Array<ApiCodec<unknown, unknown> | undefined> = []
for (const api of APIS) byKey[api.apiKey] = api

export const apiCodec = (apiKey: number): ApiCodec<unknown, unknown> | undefined =>
  apiKey >= 0 && apiKey < byKey.length ? byKey[apiKey] : undefined

export interface SupportedApi {
  readonly name: string
  readonly minVersion: number
  readonly maxVersion: number
}

/** What this broker speaks, per API key: the ApiVersions answer. */
export const SUPPORTED: ReadonlyMap<ApiKey, SupportedApi> = new Map(
  APIS.map((a) => [a.apiKey as ApiKey, { name: a.name, minVersion: a.minVersion, maxVersion: a.maxVersion }])
)

/**
 * Lowest Produce version the ApiVersions answer lists, below what `decodeRequest` accepts (3).
 * librdkafka before 2.10 compresses with gzip, snappy or lz4 only when the broker lists Produce
 * v0 (it checks for the range [0, 0]; librdkafka#4956) and silently sends uncompressed batches
 * otherwise. Kafka 4.0 does the same: it lists v0-v2 and still refuses them (KAFKA-18659).
 */
const ADVERTISED_PRODUCE_MIN_VERSION = 0

/**
 * `SUPPORTED` as the ApiVersions response's `apiKeys` array, with Produce listed from
 * `ADVERTISED_PRODUCE_MIN_VERSION` (requests below v3 still close the connection).
 */
export const supportedApiKeys = (): Array<{ apiKey: number; minVersion: number; maxVersion: number }> =>
  APIS.map((a) => ({
    apiKey: a.apiKey,
    minVersion: a.apiKey === ApiKey.Produce ? ADVERTISED_PRODUCE_MIN_VERSION : a.minVersion,
    maxVersion: a.maxVersion
  }))
