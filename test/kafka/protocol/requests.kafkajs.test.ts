/**
 * For every API and version in scope that kafkajs 2.2.4 can encode: kafkajs builds the request
 * frame, `decodeRequest` must read back exactly the fields it sent (and the documented defaults
 * for fields the version does not carry). Versions kafkajs lacks are in `fixtures.test.ts`.
 */
import { describe, expect, it } from "vitest"
import { decodeBatch, validateBatch } from "../../../domain/message/RecordBatch.js"
import { ApiKey, type DecodedRequest, decodeRequest, SUPPORTED } from "../../../src/kafka/protocol/index.js"
import { kafkajsHas, kafkajsRequestFrame } from "./kafkajs.js"

/** `value` from version `from` on, else the default the decoder fills in. */
const since = <A>(version: number, from: number, value: A, fallback: A): A => (version >= from ? value : fallback)

const versionsOf = (apiKey: ApiKey): Array<number> => {
  const s = SUPPORTED.get(apiKey)!
  return Array.from({ length: s.maxVersion - s.minVersion + 1 }, (_, i) => s.minVersion + i)
}

const decoded = async (api: string, version: number, params: unknown): Promise<DecodedRequest> => {
  const frame = await kafkajsRequestFrame(api, version, params, 1234, "client-á")
  const result = decodeRequest(frame)
  if (result._tag !== "Request") throw new Error(`decode failed: ${JSON.stringify(result)}`)
  expect(result.header).toEqual({ apiKey: result.apiKey, apiVersion: version, correlationId: 1234, clientId: "client-á" })
  return result
}

interface Case {
  readonly api: string
  readonly apiKey: ApiKey
  readonly params: (version: number) => unknown
  readonly expected: (version: number) => unknown
}

const cases: ReadonlyArray<Case> = [
  {
    api: "fetch",
    apiKey: ApiKey.Fetch,
    params: () => ({
      replicaId: -1,
      maxWaitTime: 500,
      minBytes: 1,
      maxBytes: 10485760,
      isolationLevel: 0,
      sessionId: 77,
      sessionEpoch: 3,
      rackId: "rack-1",
      forgottenTopics: [{ topic: "gone", partitions: [4, 5] }],
      topics: [
        {
          topic: "orders",
          partitions: [
            { partition: 0, currentLeaderEpoch: 9, fetchOffset: "12345678901", logStartOffset: 5, maxBytes: 1048576 },
            { partition: 1, fetchOffset: "0", maxBytes: 1 }
          ]
        }
      ]
    }),
    expected: (v) => ({
      replicaId: -1,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 10485760,
      isolationLevel: 0,
      sessionId: since(v, 7, 77, 0),
      sessionEpoch: since(v, 7, 3, -1),
      topics: [
        {
          topic: "orders",
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: since(v, 9, 9, -1),
              fetchOffset: 12345678901,
              logStartOffset: since(v, 5, 5, -1),
              partitionMaxBytes: 1048576
            },
            { partition: 1, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 }
          ]
        }
      ],
      forgottenTopicsData: since(v, 7, [{ topic: "gone", partitions: [4, 5] }], []),
      rackId: since(v, 11, "rack-1", "")
    })
  },
  {
    api: "listOffsets",
    apiKey: ApiKey.ListOffsets,
    params: () => ({
      replicaId: -1,
      isolationLevel: 1,
      topics: [{ topic: "t", partitions: [{ partition: 2, timestamp: -2 }, { partition: 3, timestamp: 1700000000123 }] }]
    }),
    expected: (v) => ({
      replicaId: -1,
      isolationLevel: since(v, 2, 1, 0),
      topics: [
        {
          name: "t",
          partitions: [
            { partitionIndex: 2, currentLeaderEpoch: -1, timestamp: -2 },
            { partitionIndex: 3, currentLeaderEpoch: -1, timestamp: 1700000000123 }
          ]
        }
      ]
    })
  },
  {
    api: "metadata",
    apiKey: ApiKey.Metadata,
    params: () => ({ topics: ["a", "bé"], allowAutoTopicCreation: false }),
    expected: (v) => ({
      topics: [{ name: "a" }, { name: "bé" }],
      allowAutoTopicCreation: since(v, 4, false, true),
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false
    })
  },
  {
    api: "offsetCommit",
    apiKey: ApiKey.OffsetCommit,
    params: () => ({
      groupId: "g",
      groupGenerationId: 4,
      memberId: "m-1",
      retentionTime: 86400000,
      topics: [
        {
          topic: "t",
          partitions: [
            { partition: 0, offset: "9007199254740991", timestamp: 1700000000000, metadata: "meta" },
            { partition: 1, offset: "-1", timestamp: 1700000000000 }
          ]
        }
      ]
    }),
    expected: (v) => ({
      groupId: "g",
      generationId: since(v, 1, 4, -1),
      memberId: since(v, 1, "m-1", ""),
      groupInstanceId: null,
      retentionTimeMs: v >= 2 && v <= 4 ? 86400000 : -1,
      topics: [
        {
          name: "t",
          partitions: [
            {
              partitionIndex: 0,
              committedOffset: Number.MAX_SAFE_INTEGER,
              committedLeaderEpoch: -1,
              commitTimestamp: v === 1 ? 1700000000000 : -1,
              committedMetadata: "meta"
            },
            {
              partitionIndex: 1,
              committedOffset: -1,
              committedLeaderEpoch: -1,
              commitTimestamp: v === 1 ? 1700000000000 : -1,
              committedMetadata: null
            }
          ]
        }
      ]
    })
  },
  {
    api: "offsetFetch",
    apiKey: ApiKey.OffsetFetch,
    params: () => ({ groupId: "g", topics: [{ topic: "t", partitions: [{ partition: 0 }, { partition: 7 }] }] }),
    expected: () => ({ groupId: "g", topics: [{ name: "t", partitionIndexes: [0, 7] }] })
  },
  {
    api: "findCoordinator",
    apiKey: ApiKey.FindCoordinator,
    params: () => ({ groupId: "group-1", coordinatorKey: "group-1", coordinatorType: 1 }),
    expected: (v) => ({ key: "group-1", keyType: since(v, 1, 1, 0) })
  },
  {
    api: "joinGroup",
    apiKey: ApiKey.JoinGroup,
    params: () => ({
      groupId: "g",
      sessionTimeout: 30000,
      rebalanceTimeout: 60000,
      memberId: "",
      groupInstanceId: "static-1",
      protocolType: "consumer",
      groupProtocols: [
        { name: "RoundRobinAssigner", metadata: Buffer.from([0, 1, 2, 3]) },
        { name: "empty", metadata: Buffer.alloc(0) }
      ]
    }),
    expected: (v) => ({
      groupId: "g",
      sessionTimeoutMs: 30000,
      rebalanceTimeoutMs: since(v, 1, 60000, -1),
      memberId: "",
      groupInstanceId: since(v, 5, "static-1", null),
      protocolType: "consumer",
      protocols: [
        { name: "RoundRobinAssigner", metadata: Buffer.from([0, 1, 2, 3]) },
        { name: "empty", metadata: Buffer.alloc(0) }
      ]
    })
  },
  {
    api: "heartbeat",
    apiKey: ApiKey.Heartbeat,
    params: () => ({ groupId: "g", groupGenerationId: 12, memberId: "m", groupInstanceId: null }),
    expected: () => ({ groupId: "g", generationId: 12, memberId: "m", groupInstanceId: null })
  },
  {
    api: "leaveGroup",
    apiKey: ApiKey.LeaveGroup,
    params: () => ({
      groupId: "g",
      memberId: "m",
      members: [{ memberId: "m" }, { memberId: "n", groupInstanceId: "static" }]
    }),
    expected: (v) => ({
      groupId: "g",
      memberId: since(v, 3, "", "m"),
      members: since(
        v,
        3,
        [
          { memberId: "m", groupInstanceId: null },
          { memberId: "n", groupInstanceId: "static" }
        ],
        []
      )
    })
  },
  {
    api: "syncGroup",
    apiKey: ApiKey.SyncGroup,
    params: () => ({
      groupId: "g",
      generationId: 3,
      memberId: "leader",
      groupInstanceId: "inst",
      groupAssignment: [{ memberId: "leader", memberAssignment: Buffer.from("assign") }]
    }),
    expected: (v) => ({
      groupId: "g",
      generationId: 3,
      memberId: "leader",
      groupInstanceId: since(v, 3, "inst", null),
      assignments: [{ memberId: "leader", assignment: Buffer.from("assign") }]
    })
  },
  {
    api: "describeGroups",
    apiKey: ApiKey.DescribeGroups,
    params: () => ({ groupIds: ["g1", "g2"] }),
    expected: () => ({ groups: ["g1", "g2"], includeAuthorizedOperations: false })
  },
  {
    api: "listGroups",
    apiKey: ApiKey.ListGroups,
    params: () => ({}),
    expected: () => ({})
  },
  {
    api: "apiVersions",
    apiKey: ApiKey.ApiVersions,
    params: () => ({}),
    expected: () => ({ clientSoftwareName: "", clientSoftwareVersion: "" })
  },
  {
    api: "createTopics",
    apiKey: ApiKey.CreateTopics,
    params: () => ({
      timeout: 1500,
      validateOnly: true,
      topics: [
        {
          topic: "new",
          numPartitions: 3,
          replicationFactor: 1,
          replicaAssignment: [{ partition: 0, replicas: [1, 2] }],
          configEntries: [{ name: "cleanup.policy", value: "compact" }]
        },
        { topic: "defaults" }
      ]
    }),
    expected: (v) => ({
      topics: [
        {
          name: "new",
          numPartitions: 3,
          replicationFactor: 1,
          assignments: [{ partitionIndex: 0, brokerIds: [1, 2] }],
          configs: [{ name: "cleanup.policy", value: "compact" }]
        },
        { name: "defaults", numPartitions: -1, replicationFactor: -1, assignments: [], configs: [] }
      ],
      timeoutMs: 1500,
      validateOnly: since(v, 1, true, false)
    })
  },
  {
    api: "deleteTopics",
    apiKey: ApiKey.DeleteTopics,
    params: () => ({ topics: ["x", "y"], timeout: 2500 }),
    expected: () => ({ topicNames: ["x", "y"], timeoutMs: 2500 })
  },
  {
    api: "initProducerId",
    apiKey: ApiKey.InitProducerId,
    params: () => ({ transactionalId: null, transactionTimeout: 60000 }),
    expected: () => ({ transactionalId: null, transactionTimeoutMs: 60000 })
  },
  {
    api: "describeConfigs",
    apiKey: ApiKey.DescribeConfigs,
    params: () => ({
      includeSynonyms: true,
      resources: [
        { type: 2, name: "topic-a", configNames: ["retention.ms"] },
        { type: 4, name: "1", configNames: [] } // kafkajs sends [] as null
      ]
    }),
    expected: (v) => ({
      resources: [
        { resourceType: 2, resourceName: "topic-a", configurationKeys: ["retention.ms"] },
        { resourceType: 4, resourceName: "1", configurationKeys: null }
      ],
      includeSynonyms: since(v, 1, true, false),
      includeDocumentation: false
    })
  },
  {
    api: "alterConfigs",
    apiKey: ApiKey.AlterConfigs,
    params: () => ({
      validateOnly: true,
      resources: [
        { type: 2, name: "topic-a", configEntries: [{ name: "retention.ms", value: "1000" }, { name: "segment.ms", value: null }] },
        { type: 4, name: "0", configEntries: [] }
      ]
    }),
    expected: () => ({
      resources: [
        {
          resourceType: 2,
          resourceName: "topic-a",
          configs: [{ name: "retention.ms", value: "1000" }, { name: "segment.ms", value: null }]
        },
        { resourceType: 4, resourceName: "0", configs: [] }
      ],
      validateOnly: true
    })
  },
  {
    api: "deleteGroups",
    apiKey: ApiKey.DeleteGroups,
    params: () => ["g1", "group-á"],
    expected: () => ({ groupsNames: ["g1", "group-á"] })
  },
  {
    api: "deleteRecords",
    apiKey: ApiKey.DeleteRecords,
    params: () => ({
      timeout: 2500,
      topics: [{ topic: "orders", partitions: [{ partition: 0, offset: "12345678901" }, { partition: 3, offset: "-1" }] }]
    }),
    expected: () => ({
      timeoutMs: 2500,
      topics: [{ name: "orders", partitions: [{ partitionIndex: 0, offset: 12345678901 }, { partitionIndex: 3, offset: -1 }] }]
    })
  },
  {
    api: "createPartitions",
    apiKey: ApiKey.CreatePartitions,
    params: () => ({
      timeout: 3000,
      validateOnly: false,
      topicPartitions: [
        { topic: "t", count: 6, assignments: [[1], [2]] },
        { topic: "u", count: 2 }
      ]
    }),
    expected: () => ({
      topics: [
        { name: "t", count: 6, assignments: [{ brokerIds: [1] }, { brokerIds: [2] }] },
        { name: "u", count: 2, assignments: null } // kafkajs sends [] as null
      ],
      timeoutMs: 3000,
      validateOnly: false
    })
  },
  {
    api: "createAcls",
    apiKey: ApiKey.CreateAcls,
    params: () => ({
      creations: [{ resourceType: 2, resourceName: "orders", resourcePatternType: 4, principal: "User:alice", host: "*", operation: 4, permissionType: 3 }]
    }),
    expected: (v) => ({
      creations: [{ resourceType: 2, resourceName: "orders", resourcePatternType: since(v, 1, 4, 3), principal: "User:alice", host: "*", operation: 4, permissionType: 3 }]
    })
  },
  {
    api: "describeAcls",
    apiKey: ApiKey.DescribeAcls,
    params: () => ({ resourceType: 1, resourceName: null, resourcePatternType: 1, principal: "User:bob", host: null, operation: 1, permissionType: 1 }),
    expected: (v) => ({
      resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: since(v, 1, 1, 3), principalFilter: "User:bob", hostFilter: null, operation: 1, permissionType: 1
    })
  },
  {
    api: "deleteAcls",
    apiKey: ApiKey.DeleteAcls,
    params: () => ({
      filters: [{ resourceType: 3, resourceName: "g", resourcePatternType: 2, principal: null, host: "*", operation: 1, permissionType: 2 }]
    }),
    expected: (v) => ({
      filters: [{ resourceTypeFilter: 3, resourceNameFilter: "g", patternTypeFilter: since(v, 1, 2, 3), principalFilter: null, hostFilter: "*", operation: 1, permissionType: 2 }]
    })
  }
]

describe("requests encoded by kafkajs decode field for field", () => {
  for (const c of cases) {
    for (const version of versionsOf(c.apiKey).filter((v) => kafkajsHas(c.api, v))) {
      it(`${c.api} v${version}`, async () => {
        const req = await decoded(c.api, version, c.params(version))
        expect(req.apiKey).toBe(c.apiKey)
        expect(req.apiVersion).toBe(version)
        expect(req.body).toEqual(c.expected(version))
      })
    }
  }

  for (const version of versionsOf(ApiKey.Produce).filter((v) => kafkajsHas("produce", v))) {
    it(`produce v${version}: the record batch arrives as a view into the frame, intact`, async () => {
      const params = {
        acks: -1,
        timeout: 30000,
        transactionalId: version % 2 === 0 ? "tx-1" : null,
        producerId: 7,
        producerEpoch: 1,
        topicData: [
          {
            topic: "events",
            partitions: [
              { partition: 0, messages: [{ key: "k1", value: "v1", timestamp: 1700000000000 }, { key: null, value: "v2" }] },
              { partition: 3, messages: [{ key: "k3", value: "v3", headers: { h: "x" } }] }
            ]
          }
        ]
      }
      const frame = await kafkajsRequestFrame("produce", version, params, 99, "producer")
      const req = decodeRequest(frame)
      if (req._tag !== "Request" || req.apiKey !== ApiKey.Produce) throw new Error(JSON.stringify(req))
      const body = req.body
      expect(body.transactionalId).toBe(params.transactionalId)
      expect(body.acks).toBe(-1)
      expect(body.timeoutMs).toBe(30000)
      expect(body.topics.map((t) => t.name)).toEqual(["events"])
      expect(body.topics[0]!.partitions.map((p) => p.partitionIndex)).toEqual([0, 3])
      const values = body.topics[0]!.partitions.map((p) => {
        const records = p.records!
        expect(records.buffer).toBe(frame.buffer) // zero copy
        expect(validateBatch(records)).toBeUndefined()
        const decodedRecords = decodeBatch(records)
        if (typeof decodedRecords === "string") throw new Error(decodedRecords)
        return decodedRecords.map((r) => Buffer.from(r.value!).toString())
      })
      expect(values).toEqual([["v1", "v2"], ["v3"]])
    })
  }
})
