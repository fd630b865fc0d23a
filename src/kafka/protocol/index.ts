/**
 * Public face of the Kafka wire-protocol codec (server side). The server calls `decodeRequest`
 * per frame and `encodeResponse` per answer; `SUPPORTED` feeds the ApiVersions response.
 * Everything else here is types, one request and one response type per API.
 */
export {
  decodeRequest,
  decodeResponse,
  encodeApiVersionsUnsupported,
  encodeRequest,
  encodeResponse,
  type DecodedRequest,
  type DecodedResponse,
  type MalformedRequest,
  type RequestDecodeError,
  type RequestHeader,
  type UnknownApiKey,
  type UnsupportedVersion
} from "./codec.js"
export {
  ApiKey,
  APIS,
  apiCodec,
  SUPPORTED,
  supportedApiKeys,
  type RequestBodies,
  type ResponseBodies,
  type SupportedApi
} from "./registry.js"
export type { ApiCodec } from "./ApiCodec.js"
export { DecodeFailure, Reader } from "./Reader.js"
export { Writer } from "./Writer.js"

export type * from "./apis/AlterConfigs.js"
export type * from "./apis/ApiVersions.js"
export type * from "./apis/CreateAcls.js"
export type * from "./apis/CreatePartitions.js"
export type * from "./apis/CreateTopics.js"
export type * from "./apis/DeleteAcls.js"
export type * from "./apis/DeleteGroups.js"
export type * from "./apis/DeleteRecords.js"
export type * from "./apis/DeleteTopics.js"
export type * from "./apis/DescribeAcls.js"
export type * from "./apis/DescribeConfigs.js"
export type * from "./apis/DescribeGroups.js"
export type * from "./apis/Fetch.js"
export type * from "./apis/FindCoordinator.js"
export type * from "./apis/Heartbeat.js"
export type * from "./apis/IncrementalAlterConfigs.js"
export type * from "./apis/InitProducerId.js"
export type * from "./apis/JoinGroup.js"
export type * from "./apis/LeaveGroup.js"
export type * from "./apis/ListGroups.js"
export type * from "./apis/ListOffsets.js"
export type * from "./apis/Metadata.js"
export type * from "./apis/OffsetCommit.js"
export type * from "./apis/OffsetDelete.js"
export type * from "./apis/OffsetFetch.js"
export type * from "./apis/Produce.js"
export type * from "./apis/SaslAuthenticate.js"
export type * from "./apis/SaslHandshake.js"
export type * from "./apis/SyncGroup.js"
export { AUTHORIZED_OPERATIONS_OMITTED } from "./apis/Metadata.js"
export { ConfigOperation } from "./apis/IncrementalAlterConfigs.js"
