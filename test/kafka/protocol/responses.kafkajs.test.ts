/**
 * For every API and version in scope that kafkajs 2.2.4 can decode: `encodeResponse` writes the
 * response, kafkajs's own decoder reads it (the reference), and every field must come back. Every
 * version in scope (kafkajs or not) also round-trips through our `decodeResponse`.
 */
import { describe, expect, it } from "vitest"
import { encodeBatch } from "../../../domain/message/RecordBatch.js"
import {
  ApiKey,
  decodeResponse,
  encodeResponse,
  type ResponseBodies,
  SUPPORTED
} from "../../../src/kafka/protocol/index.js"
import { LARGE_BYTES } from "../../../src/kafka/protocol/Writer.js"
import { kafkajsDecodeResponse, kafkajsHas } from "./kafkajs.js"

const versionsOf = (apiKey: ApiKey): Array<number> => {
  const s = SUPPORTED.get(apiKey)!
  return Array.from({ length: s.maxVersion - s.minVersion + 1 }, (_, i) => s.minVersion + i)
}

/** kafkajs moved throttle time to `clientSideThrottleTime` from the KIP-219 versions on. */
const throttle = (v: number, kip219From: number, ms: number) =>
  v >= kip219From ? { throttleTime: 0, clientSideThrottleTime: ms } : { throttleTime: ms }

interface Case<K extends ApiKey> {
  readonly api: string
  readonly apiKey: K
  readonly body: ResponseBodies[K]
  /** What kafkajs's decoder returns for `body` at version `v`. */
  readonly kafkajs: (v: number) => unknown
}

const metadataBody: ResponseBodies[typeof ApiKey.Metadata] = {
  throttleTimeMs: 5,
  brokers: [
    { nodeId: 1, host: "127.0.0.1", port: 9092, rack: "r1" },
    { nodeId: 2, host: "h2", port: 9093, rack: null }
  ],
  clusterId: "cluster-x",
  controllerId: 1,
  topics: [
    {
      errorCode: 0,
      name: "t",
      isInternal: false,
      partitions: [
        { errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 3, replicaNodes: [1, 2], isrNodes: [1], offlineReplicas: [2] }
      ],
      topicAuthorizedOperations: 248
    },
    { errorCode: 3, name: "missing", isInternal: false, partitions: [] }
  ],
  clusterAuthorizedOperations: 0
}

const cases: ReadonlyArray<Case<ApiKey>> = [
  {
    api: "produce",
    apiKey: ApiKey.Produce,
    body: {
      responses: [
        {
          name: "events",
          partitions: [
            { partitionIndex: 0, errorCode: 0, baseOffset: 12345678901, logAppendTimeMs: -1, logStartOffset: 0 },
            { partitionIndex: 1, errorCode: 0, baseOffset: -1, logAppendTimeMs: 1700000000000, logStartOffset: 7 }
          ]
        }
      ],
      throttleTimeMs: 3
    },
    kafkajs: (v) => ({
      topics: [
        {
          topicName: "events",
          partitions: [
            { partition: 0, errorCode: 0, baseOffset: "12345678901", logAppendTime: "-1", ...(v >= 5 ? { logStartOffset: "0" } : {}) },
            { partition: 1, errorCode: 0, baseOffset: "-1", logAppendTime: "1700000000000", ...(v >= 5 ? { logStartOffset: "7" } : {}) }
          ]
        }
      ],
      ...throttle(v, 6, 3)
    })
  },
  {
    api: "listOffsets",
    apiKey: ApiKey.ListOffsets,
    body: {
      throttleTimeMs: 2,
      topics: [
        {
          name: "t",
          partitions: [
            { partitionIndex: 0, errorCode: 0, timestamp: -1, offset: 42 },
            { partitionIndex: 1, errorCode: 3, timestamp: -1, offset: -1 }
          ]
        }
      ]
    },
    kafkajs: (v) => ({
      ...(v >= 2 ? throttle(v, 3, 2) : {}),
      responses: [
        {
          topic: "t",
          partitions: [
            { partition: 0, errorCode: 0, timestamp: "-1", offset: "42" },
            { partition: 1, errorCode: 3, timestamp: "-1", offset: "-1" }
          ]
        }
      ]
    })
  },
  {
    api: "metadata",
    apiKey: ApiKey.Metadata,
    body: metadataBody,
    kafkajs: (v) => ({
      ...(v >= 3 ? throttle(v, 6, 5) : {}),
      brokers: [
        { nodeId: 1, host: "127.0.0.1", port: 9092, ...(v >= 1 ? { rack: "r1" } : {}) },
        { nodeId: 2, host: "h2", port: 9093, ...(v >= 1 ? { rack: null } : {}) }
      ],
      ...(v >= 2 ? { clusterId: "cluster-x" } : {}),
      ...(v >= 1 ? { controllerId: 1 } : {}),
      topicMetadata: [
        {
          topicErrorCode: 0,
          topic: "t",
          ...(v >= 1 ? { isInternal: false } : {}),
          partitionMetadata: [
            {
              partitionErrorCode: 0,
              partitionId: 0,
              leader: 1,
              replicas: [1, 2],
              isr: [1],
              ...(v >= 5 ? { offlineReplicas: [2] } : {})
            }
          ]
        },
        { topicErrorCode: 3, topic: "missing", ...(v >= 1 ? { isInternal: false } : {}), partitionMetadata: [] }
      ]
    })
  },
  {
    api: "offsetCommit",
    apiKey: ApiKey.OffsetCommit,
    body: {
      throttleTimeMs: 4,
      topics: [{ name: "t", partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 1, errorCode: 22 }] }]
    },
    kafkajs: (v) => ({
      ...(v >= 3 ? throttle(v, 4, 4) : {}),
      responses: [{ topic: "t", partitions: [{ partition: 0, errorCode: 0 }, { partition: 1, errorCode: 22 }] }]
    })
  },
  {
    api: "offsetFetch",
    apiKey: ApiKey.OffsetFetch,
    body: {
      throttleTimeMs: 6,
      topics: [
        {
          name: "t",
          partitions: [
            { partitionIndex: 0, committedOffset: 99, committedLeaderEpoch: -1, metadata: "m", errorCode: 0 },
            { partitionIndex: 1, committedOffset: -1, committedLeaderEpoch: -1, metadata: null, errorCode: 0 }
          ]
        }
      ],
      errorCode: 0
    },
    kafkajs: (v) => ({
      ...(v >= 3 ? throttle(v, 4, 6) : {}),
      responses: [
        {
          topic: "t",
          partitions: [
            { partition: 0, offset: "99", metadata: "m", errorCode: 0 },
            { partition: 1, offset: "-1", metadata: null, errorCode: 0 }
          ]
        }
      ],
      ...(v >= 2 ? { errorCode: 0 } : {})
    })
  },
  {
    api: "findCoordinator",
    apiKey: ApiKey.FindCoordinator,
    body: { throttleTimeMs: 1, errorCode: 0, errorMessage: null, nodeId: 1, host: "localhost", port: 9092 },
    kafkajs: (v) => ({
      ...(v >= 1 ? throttle(v, 2, 1) : {}),
      errorCode: 0,
      ...(v >= 1 ? { errorMessage: null } : {}),
      coordinator: { nodeId: 1, host: "localhost", port: 9092 }
    })
  },
  {
    api: "joinGroup",
    apiKey: ApiKey.JoinGroup,
    body: {
      throttleTimeMs: 7,
      errorCode: 0,
      generationId: 2,
      protocolName: "RoundRobinAssigner",
      leader: "m-1",
      memberId: "m-1",
      members: [
        { memberId: "m-1", groupInstanceId: "static-1", metadata: Buffer.from("meta-1") },
        { memberId: "m-2", groupInstanceId: null, metadata: Buffer.alloc(0) }
      ]
    },
    kafkajs: (v) => ({
      ...(v >= 2 ? throttle(v, 3, 7) : {}),
      errorCode: 0,
      generationId: 2,
      groupProtocol: "RoundRobinAssigner",
      leaderId: "m-1",
      memberId: "m-1",
      members: [
        { memberId: "m-1", ...(v >= 5 ? { groupInstanceId: "static-1" } : {}), memberMetadata: Buffer.from("meta-1") },
        { memberId: "m-2", ...(v >= 5 ? { groupInstanceId: null } : {}), memberMetadata: Buffer.alloc(0) }
      ]
    })
  },
  {
    api: "heartbeat",
    apiKey: ApiKey.Heartbeat,
    body: { throttleTimeMs: 8, errorCode: 27 },
    kafkajs: (v) => ({ ...(v >= 1 ? throttle(v, 2, 8) : {}), errorCode: 27 })
  },
  {
    api: "leaveGroup",
    apiKey: ApiKey.LeaveGroup,
    body: {
      throttleTimeMs: 9,
      errorCode: 0,
      members: [
        { memberId: "m-1", groupInstanceId: null, errorCode: 0 },
        { memberId: "m-2", groupInstanceId: "s", errorCode: 25 }
      ]
    },
    kafkajs: (v) => ({
      ...(v >= 1 ? throttle(v, 2, 9) : {}),
      errorCode: 0,
      ...(v >= 3
        ? {
            members: [
              { memberId: "m-1", groupInstanceId: null, errorCode: 0 },
              { memberId: "m-2", groupInstanceId: "s", errorCode: 25 }
            ]
          }
        : {})
    })
  },
  {
    api: "syncGroup",
    apiKey: ApiKey.SyncGroup,
    body: { throttleTimeMs: 10, errorCode: 0, assignment: Buffer.from([0, 1, 0, 0, 0, 1]) },
    kafkajs: (v) => ({
      ...(v >= 1 ? throttle(v, 2, 10) : {}),
      errorCode: 0,
      memberAssignment: Buffer.from([0, 1, 0, 0, 0, 1])
    })
  },
  {
    api: "describeGroups",
    apiKey: ApiKey.DescribeGroups,
    body: {
      throttleTimeMs: 11,
      groups: [
        {
          errorCode: 0,
          groupId: "g",
          groupState: "Stable",
          protocolType: "consumer",
          protocolData: "RoundRobinAssigner",
          members: [
            {
              memberId: "m-1",
              groupInstanceId: null,
              clientId: "c",
              clientHost: "/127.0.0.1",
              memberMetadata: Buffer.from("md"),
              memberAssignment: Buffer.from("as")
            }
          ],
          authorizedOperations: 0
        }
      ]
    },
    kafkajs: (v) => ({
      ...(v >= 1 ? throttle(v, 2, 11) : {}),
      groups: [
        {
          errorCode: 0,
          groupId: "g",
          state: "Stable",
          protocolType: "consumer",
          protocol: "RoundRobinAssigner",
          members: [
            {
              memberId: "m-1",
              clientId: "c",
              clientHost: "/127.0.0.1",
              memberMetadata: Buffer.from("md"),
              memberAssignment: Buffer.from("as")
            }
          ]
        }
      ]
    })
  },
  {
    api: "listGroups",
    apiKey: ApiKey.ListGroups,
    body: { throttleTimeMs: 12, errorCode: 0, groups: [{ groupId: "g", protocolType: "consumer" }] },
    kafkajs: (v) => ({
      ...(v >= 1 ? throttle(v, 2, 12) : {}),
      errorCode: 0,
      groups: [{ groupId: "g", protocolType: "consumer" }]
    })
  },
  {
    api: "apiVersions",
    apiKey: ApiKey.ApiVersions,
    body: {
      errorCode: 0,
      apiKeys: [
        { apiKey: 0, minVersion: 3, maxVersion: 8 },
        { apiKey: 18, minVersion: 0, maxVersion: 3 }
      ],
      throttleTimeMs: 13
    },
    kafkajs: (v) => ({
      errorCode: 0,
      apiVersions: [
        { apiKey: 0, minVersion: 3, maxVersion: 8 },
        { apiKey: 18, minVersion: 0, maxVersion: 3 }
      ],
      ...(v >= 1 ? throttle(v, 2, 13) : {})
    })
  },
  {
    api: "createTopics",
    apiKey: ApiKey.CreateTopics,
    body: {
      throttleTimeMs: 14,
      topics: [
        { name: "a", errorCode: 0, errorMessage: null },
        { name: "b", errorCode: 36, errorMessage: "Topic 'b' already exists." }
      ]
    },
    kafkajs: (v) => ({
      ...(v >= 2 ? throttle(v, 3, 14) : {}),
      topicErrors: [
        { topic: "a", errorCode: 0, ...(v >= 1 ? { errorMessage: null } : {}) },
        { topic: "b", errorCode: 36, ...(v >= 1 ? { errorMessage: "Topic 'b' already exists." } : {}) }
      ]
    })
  },
  {
    api: "deleteTopics",
    apiKey: ApiKey.DeleteTopics,
    body: {
      throttleTimeMs: 15,
      responses: [
        { name: "a", errorCode: 0 },
        { name: "z", errorCode: 3 }
      ]
    },
    kafkajs: (v) => ({
      ...(v >= 1 ? throttle(v, 1, 15) : {}),
      topicErrors: [
        { topic: "a", errorCode: 0 },
        { topic: "z", errorCode: 3 }
      ]
    })
  },
  {
    api: "initProducerId",
    apiKey: ApiKey.InitProducerId,
    body: { throttleTimeMs: 16, errorCode: 0, producerId: 4294967297, producerEpoch: 0 },
    kafkajs: (v) => ({ ...throttle(v, 1, 16), errorCode: 0, producerId: "4294967297", producerEpoch: 0 })
  },
  {
    api: "describeConfigs",
    apiKey: ApiKey.DescribeConfigs,
    body: {
      throttleTimeMs: 17,
      results: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: "t",
          configs: [
            {
              name: "retention.ms",
              value: "604800000",
              readOnly: false,
              isDefault: true,
              configSource: 5,
              isSensitive: false,
              synonyms: [{ name: "log.retention.ms", value: "604800000", source: 5 }]
            },
            { name: "secret", value: null, readOnly: true, isDefault: false, configSource: 1, isSensitive: true, synonyms: [] }
          ]
        }
      ]
    },
    kafkajs: (v) => ({
      ...throttle(v, 2, 17),
      resources: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: "t",
          configEntries: [
            {
              configName: "retention.ms",
              configValue: "604800000",
              readOnly: false,
              isDefault: true,
              configSource: 5,
              isSensitive: false,
              ...(v >= 1
                ? { configSynonyms: [{ configName: "log.retention.ms", configValue: "604800000", configSource: 5 }] }
                : {})
            },
            {
              configName: "secret",
              configValue: null,
              readOnly: true,
              isDefault: false,
              // v0 has no source on the wire: kafkajs derives TOPIC_CONFIG (1) for a topic
              configSource: 1,
              isSensitive: true,
              ...(v >= 1 ? { configSynonyms: [] } : {})
            }
          ]
        }
      ]
    })
  },
  {
    api: "alterConfigs",
    apiKey: ApiKey.AlterConfigs,
    body: {
      throttleTimeMs: 19,
      responses: [
        { errorCode: 0, errorMessage: null, resourceType: 2, resourceName: "t" },
        { errorCode: 42, errorMessage: "broker configs are static", resourceType: 4, resourceName: "0" }
      ]
    },
    kafkajs: (v) => ({
      ...throttle(v, 1, 19),
      resources: [
        { errorCode: 0, errorMessage: null, resourceType: 2, resourceName: "t" },
        { errorCode: 42, errorMessage: "broker configs are static", resourceType: 4, resourceName: "0" }
      ]
    })
  },
  {
    api: "deleteGroups",
    apiKey: ApiKey.DeleteGroups,
    body: {
      throttleTimeMs: 20,
      results: [
        { groupId: "g1", errorCode: 0 },
        { groupId: "g2", errorCode: 68 }
      ]
    },
    // kafkajs names the field throttleTimeMs and attaches an error to failed groups; its v1 decoder
    // reads clientSideThrottleTime from a field v0 does not set (undefined)
    kafkajs: (v) => ({
      throttleTimeMs: 20,
      ...(v >= 1 ? { throttleTime: 0, clientSideThrottleTime: undefined } : {}),
      results: [
        { groupId: "g1", errorCode: 0 },
        { groupId: "g2", errorCode: 68, error: expect.objectContaining({ type: "NON_EMPTY_GROUP" }) }
      ]
    })
  },
  {
    api: "deleteRecords",
    apiKey: ApiKey.DeleteRecords,
    body: {
      throttleTimeMs: 7,
      topics: [
        {
          name: "orders",
          partitions: [
            { partitionIndex: 0, lowWatermark: 12345678901, errorCode: 0 },
            { partitionIndex: 1, lowWatermark: -1, errorCode: 1 }
          ]
        }
      ]
    },
    // kafkajs's v1 decoder moves the throttle time to clientSideThrottleTime
    kafkajs: (v) => ({
      ...(v >= 1 ? { throttleTime: 0, clientSideThrottleTime: 7 } : { throttleTime: 7 }),
      topics: [
        {
          topic: "orders",
          partitions: [
            // kafkajs reads this int64 as a BigInt
            { partition: 0, lowWatermark: 12345678901n, errorCode: 0 },
            { partition: 1, lowWatermark: -1n, errorCode: 1 }
          ]
        }
      ]
    })
  },
  {
    api: "createPartitions",
    apiKey: ApiKey.CreatePartitions,
    body: {
      throttleTimeMs: 18,
      results: [
        { name: "a", errorCode: 0, errorMessage: null },
        { name: "b", errorCode: 37, errorMessage: "bad count" }
      ]
    },
    kafkajs: (v) => ({
      ...throttle(v, 1, 18),
      topicErrors: [
        { topic: "a", errorCode: 0, errorMessage: null },
        { topic: "b", errorCode: 37, errorMessage: "bad count" }
      ]
    })
  },
  {
    api: "createAcls",
    apiKey: ApiKey.CreateAcls,
    body: { throttleTimeMs: 7, results: [{ errorCode: 0, errorMessage: null }, { errorCode: 0, errorMessage: null }] },
    kafkajs: (v) => ({ ...throttle(v, 1, 7), creationResponses: [{ errorCode: 0, errorMessage: null }, { errorCode: 0, errorMessage: null }] })
  },
  {
    api: "describeAcls",
    apiKey: ApiKey.DescribeAcls,
    body: {
      throttleTimeMs: 7,
      errorCode: 0,
      errorMessage: null,
      resources: [{ resourceType: 2, resourceName: "ord", patternType: 4, acls: [{ principal: "User:bob", host: "*", operation: 3, permissionType: 3 }] }]
    },
    kafkajs: (v) => ({
      ...throttle(v, 1, 7),
      errorCode: 0,
      errorMessage: null,
      resources: [{ resourceType: 2, resourceName: "ord", ...(v >= 1 ? { resourcePatternType: 4 } : {}), acls: [{ principal: "User:bob", host: "*", operation: 3, permissionType: 3 }] }]
    })
  },
  {
    api: "deleteAcls",
    apiKey: ApiKey.DeleteAcls,
    body: {
      throttleTimeMs: 7,
      filterResults: [{
        errorCode: 0,
        errorMessage: null,
        matchingAcls: [{ errorCode: 0, errorMessage: null, resourceType: 3, resourceName: "g", patternType: 3, principal: "User:a", host: "*", operation: 2, permissionType: 2 }]
      }]
    },
    kafkajs: (v) => ({
      ...throttle(v, 1, 7),
      filterResponses: [{
        errorCode: 0,
        errorMessage: null,
        matchingAcls: [{ errorCode: 0, errorMessage: null, resourceType: 3, resourceName: "g", ...(v >= 1 ? { resourcePatternType: 3 } : {}), principal: "User:a", host: "*", operation: 2, permissionType: 2 }]
      }]
    })
  }
]

describe("responses decoded by kafkajs field for field", () => {
  for (const c of cases) {
    for (const version of versionsOf(c.apiKey).filter((v) => kafkajsHas(c.api, v))) {
      it(`${c.api} v${version}`, async () => {
        const chunks = encodeResponse({ correlationId: 321 }, c.apiKey, version, c.body)
        const decoded = await kafkajsDecodeResponse(c.api, version, chunks)
        expect(decoded.correlationId).toBe(321)
        expect(decoded.body).toEqual(c.kafkajs(version))
      })
    }
  }
})

describe("every response version round-trips through decodeResponse", () => {
  for (const c of cases) {
    for (const version of versionsOf(c.apiKey)) {
      it(`${c.api} v${version}`, () => {
        const frame = Buffer.concat(encodeResponse({ correlationId: 5 }, c.apiKey, version, c.body)).subarray(4)
        const decoded = decodeResponse(c.apiKey, version, frame)
        if (decoded._tag !== "Response") throw new Error(decoded.reason)
        expect(decoded.correlationId).toBe(5)
        // Fields the version carries come back as sent; the rest as their defaults.
        const again = Buffer.concat(encodeResponse({ correlationId: 5 }, c.apiKey, version, decoded.body)).subarray(4)
        expect(again).toEqual(frame)
      })
    }
  }
})

describe("Fetch responses carry stored batches uncopied", () => {
  const record = (value: string, timestamp = 1700000000000) => ({
    key: null,
    value: Buffer.from(value),
    headers: [],
    timestamp
  })
  const big = "x".repeat(LARGE_BYTES * 2)
  const batchA = Buffer.from(encodeBatch(100, [record("a0"), record(big)]))
  const batchB = Buffer.from(encodeBatch(102, [record("b0")]))
  const batchC = Buffer.from(encodeBatch(5, [record("c0"), record("c1")]))

  const body: ResponseBodies[typeof ApiKey.Fetch] = {
    throttleTimeMs: 1,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topic: "t",
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: 103,
            lastStableOffset: 103,
            logStartOffset: 0,
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: [batchA, batchB]
          },
          { partitionIndex: 1, errorCode: 1, highWatermark: 7, lastStableOffset: 7, records: null }
        ]
      },
      {
        topic: "u",
        partitions: [{ partitionIndex: 2, errorCode: 0, highWatermark: 7, lastStableOffset: 7, logStartOffset: 5, records: batchC }]
      }
    ]
  }

  for (const version of versionsOf(ApiKey.Fetch)) {
    it(`fetch v${version}: kafkajs reads every record; large batches are chunks of their own`, async () => {
      const chunks = encodeResponse({ correlationId: 77 }, ApiKey.Fetch, version, body)
      expect(chunks).toContain(batchA)
      const decoded = await kafkajsDecodeResponse("fetch", version, chunks)
      expect(decoded.correlationId).toBe(77)
      const res = decoded.body
      if (version >= 7) {
        expect(res.errorCode).toBe(0)
        expect(res.sessionId).toBe(0)
      }
      expect(res.responses.map((t: { topicName: string }) => t.topicName)).toEqual(["t", "u"])
      const [p0, p1] = res.responses[0].partitions
      expect(p0.partition).toBe(0)
      expect(p0.highWatermark).toBe("103")
      expect(p0.lastStableOffset).toBe("103")
      expect(p0.abortedTransactions).toEqual([])
      if (version >= 5) expect(p0.lastStartOffset).toBe("0")
      if (version >= 11) expect(p0.preferredReadReplica).toBe(-1)
      expect(p0.messages.map((m: { offset: string }) => m.offset)).toEqual(["100", "101", "102"])
      expect(p0.messages.map((m: { value: Buffer }) => m.value.toString())).toEqual(["a0", big, "b0"])
      expect(p1.errorCode).toBe(1)
      expect(p1.messages).toEqual([])
      if (version >= 5) expect(p1.lastStartOffset).toBe("-1")
      const u = res.responses[1].partitions[0]
      expect(u.messages.map((m: { value: Buffer }) => m.value.toString())).toEqual(["c0", "c1"])
      expect(u.messages.map((m: { offset: string }) => m.offset)).toEqual(["5", "6"])
    })
  }

  it("aborted transactions are written when given (v4+)", async () => {
    const withAborted: ResponseBodies[typeof ApiKey.Fetch] = {
      throttleTimeMs: 0,
      responses: [
        {
          topic: "t",
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              highWatermark: 10,
              lastStableOffset: 8,
              abortedTransactions: [{ producerId: 4294967296, firstOffset: 3 }],
              records: null
            }
          ]
        }
      ]
    }
    const decoded = await kafkajsDecodeResponse("fetch", 4, encodeResponse({ correlationId: 1 }, ApiKey.Fetch, 4, withAborted))
    expect(decoded.body.responses[0].partitions[0].abortedTransactions).toEqual([{ producerId: "4294967296", firstOffset: "3" }])
  })
})
