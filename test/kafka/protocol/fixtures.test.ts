/**
 * Byte fixtures written from Apache Kafka's message specs for the versions kafkajs 2.2.4 cannot
 * encode or decode (Produce v8, Metadata v7-8, ListOffsets v4-5, OffsetCommit v6-7, OffsetFetch
 * v0 and v5, DescribeGroups v3-4, CreateTopics v4, DeleteTopics v2-3, DescribeConfigs v3,
 * ApiVersions v3, IncrementalAlterConfigs v0, OffsetDelete v0, the ACL APIs v2-3). The bytes are assembled here with Buffer's own writers (BigInt for int64),
 * independently of the codec's Writer, and compared byte for byte.
 */
import { describe, expect, it } from "vitest"
import { ApiKey, decodeRequest, encodeResponse, type ResponseBodies } from "../../../src/kafka/protocol/index.js"

const i8 = (v: number) => Buffer.from([v & 0xff])
const bool = (v: boolean) => Buffer.from([v ? 1 : 0])
const i16 = (v: number) => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(v)
  return b
}
const i32 = (v: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(v)
  return b
}
const i64 = (v: number) => {
  const b = Buffer.alloc(8)
  b.writeBigInt64BE(BigInt(v))
  return b
}
const str = (s: string | null) => (s === null ? i16(-1) : Buffer.concat([i16(Buffer.byteLength(s)), Buffer.from(s)]))
const bytes = (b: Buffer | null) => (b === null ? i32(-1) : Buffer.concat([i32(b.length), b]))
/** An int32-counted array of already-encoded elements; null writes -1. */
const arr = (items: ReadonlyArray<Buffer> | null) => (items === null ? i32(-1) : Buffer.concat([i32(items.length), ...items]))
/** Compact forms (flexible versions) for small values: one-byte unsigned varints. */
const uv = (n: number) => {
  expect(n).toBeLessThan(128)
  return Buffer.from([n])
}
const cstr = (s: string) => Buffer.concat([uv(Buffer.byteLength(s) + 1), Buffer.from(s)])
const carr = (items: ReadonlyArray<Buffer>) => Buffer.concat([uv(items.length + 1), ...items])
const noTags = Buffer.from([0])

const requestFrame = (apiKey: number, version: number, ...body: Array<Buffer>) =>
  Buffer.concat([i16(apiKey), i16(version), i32(7), str("fixture"), ...body])

const decodeBody = (frame: Buffer): unknown => {
  const result = decodeRequest(frame)
  if (result._tag !== "Request") throw new Error(JSON.stringify(result))
  expect(result.header.correlationId).toBe(7)
  return result.body
}

/** Our response bytes after the size prefix, checking the prefix on the way. */
const responseBytes = <K extends ApiKey>(apiKey: K, version: number, body: ResponseBodies[K]): Buffer => {
  const all = Buffer.concat(encodeResponse({ correlationId: 7 }, apiKey, version, body))
  expect(all.readInt32BE(0)).toBe(all.length - 4)
  return all.subarray(4)
}

const hex = (b: Buffer) => b.toString("hex")

describe("Produce v8", () => {
  it("request: same layout as v3-7, records kept as bytes", () => {
    const batch = Buffer.from("00000000000000050000000f", "hex")
    const frame = requestFrame(0, 8, str(null), i16(1), i32(1000), arr([Buffer.concat([str("t"), arr([Buffer.concat([i32(0), bytes(batch)]), Buffer.concat([i32(1), bytes(null)])])])]))
    expect(decodeBody(frame)).toEqual({
      transactionalId: null,
      acks: 1,
      timeoutMs: 1000,
      topics: [
        {
          name: "t",
          partitions: [
            { partitionIndex: 0, records: batch },
            { partitionIndex: 1, records: null }
          ]
        }
      ]
    })
  })

  it("response: record errors and error message after logStartOffset, throttle last", () => {
    const bytesOut = responseBytes(ApiKey.Produce, 8, {
      responses: [
        {
          name: "t",
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 2,
              baseOffset: -1,
              logAppendTimeMs: -1,
              logStartOffset: 0,
              recordErrors: [{ batchIndex: 3, batchIndexErrorMessage: "bad crc" }, { batchIndex: 4, batchIndexErrorMessage: null }],
              errorMessage: "corrupt"
            },
            { partitionIndex: 1, errorCode: 0, baseOffset: 9007199254740991 }
          ]
        }
      ],
      throttleTimeMs: 0
    })
    const expected = Buffer.concat([
      i32(7),
      arr([
        Buffer.concat([
          str("t"),
          arr([
            Buffer.concat([
              i32(0), i16(2), i64(-1), i64(-1), i64(0),
              arr([Buffer.concat([i32(3), str("bad crc")]), Buffer.concat([i32(4), str(null)])]),
              str("corrupt")
            ]),
            // defaults: logAppendTimeMs -1, logStartOffset -1, no record errors, null message
            Buffer.concat([i32(1), i16(0), i64(9007199254740991), i64(-1), i64(-1), arr([]), str(null)])
          ])
        ])
      ]),
      i32(0)
    ])
    expect(hex(bytesOut)).toBe(hex(expected))
  })
})

describe("Metadata v7-8", () => {
  it("v7 request: nullable topics and allowAutoTopicCreation, as v4-6", () => {
    expect(decodeBody(requestFrame(3, 7, arr(null), bool(false)))).toEqual({
      topics: null,
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false
    })
  })

  it("v8 request: adds the two authorized-operations flags", () => {
    expect(decodeBody(requestFrame(3, 8, arr([str("a")]), bool(true), bool(true), bool(false)))).toEqual({
      topics: [{ name: "a" }],
      allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: true,
      includeTopicAuthorizedOperations: false
    })
  })

  const body: ResponseBodies[typeof ApiKey.Metadata] = {
    throttleTimeMs: 0,
    brokers: [{ nodeId: 1, host: "h", port: 9092, rack: null }],
    clusterId: "c",
    controllerId: 1,
    topics: [
      {
        errorCode: 0,
        name: "t",
        isInternal: false,
        partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 5, replicaNodes: [1], isrNodes: [1], offlineReplicas: [] }],
        topicAuthorizedOperations: 1234
      }
    ],
    clusterAuthorizedOperations: 42
  }
  const head = Buffer.concat([i32(7), i32(0), arr([Buffer.concat([i32(1), str("h"), i32(9092), str(null)])]), str("c"), i32(1)])
  const partition = Buffer.concat([i16(0), i32(0), i32(1), i32(5), arr([i32(1)]), arr([i32(1)]), arr([])])

  it("v7 response: leader epoch in each partition", () => {
    const expected = Buffer.concat([head, arr([Buffer.concat([i16(0), str("t"), bool(false), arr([partition])])])])
    expect(hex(responseBytes(ApiKey.Metadata, 7, body))).toBe(hex(expected))
  })

  it("v8 response: topic and cluster authorized operations", () => {
    const expected = Buffer.concat([
      head,
      arr([Buffer.concat([i16(0), str("t"), bool(false), arr([partition]), i32(1234)])]),
      i32(42)
    ])
    expect(hex(responseBytes(ApiKey.Metadata, 8, body))).toBe(hex(expected))
  })

  it("v8 response: omitted authorized operations are INT32_MIN", () => {
    const { topicAuthorizedOperations: _t, ...topic } = body.topics[0]!
    const { clusterAuthorizedOperations: _c, ...rest } = body
    const out = responseBytes(ApiKey.Metadata, 8, { ...rest, topics: [topic] })
    expect(out.readInt32BE(out.length - 4)).toBe(-2147483648)
    expect(out.readInt32BE(out.length - 8)).toBe(-2147483648)
  })
})

describe("ListOffsets v4-5", () => {
  for (const v of [4, 5]) {
    it(`v${v} request: current leader epoch before the timestamp`, () => {
      const frame = requestFrame(2, v, i32(-1), i8(1), arr([Buffer.concat([str("t"), arr([Buffer.concat([i32(0), i32(7), i64(-2)])])])]))
      expect(decodeBody(frame)).toEqual({
        replicaId: -1,
        isolationLevel: 1,
        topics: [{ name: "t", partitions: [{ partitionIndex: 0, currentLeaderEpoch: 7, timestamp: -2 }] }]
      })
    })

    it(`v${v} response: leader epoch after the offset`, () => {
      const out = responseBytes(ApiKey.ListOffsets, v, {
        throttleTimeMs: 0,
        topics: [{ name: "t", partitions: [{ partitionIndex: 0, errorCode: 0, timestamp: -1, offset: 2 ** 40, leaderEpoch: 0 }] }]
      })
      const expected = Buffer.concat([
        i32(7), i32(0),
        arr([Buffer.concat([str("t"), arr([Buffer.concat([i32(0), i16(0), i64(-1), i64(2 ** 40), i32(0)])])])])
      ])
      expect(hex(out)).toBe(hex(expected))
    })
  }
})

describe("OffsetCommit v6-7", () => {
  const partition = Buffer.concat([i32(0), i64(15), i32(3), str("md")])
  const topics = arr([Buffer.concat([str("t"), arr([partition])])])
  const expectedTopics = [
    { name: "t", partitions: [{ partitionIndex: 0, committedOffset: 15, committedLeaderEpoch: 3, commitTimestamp: -1, committedMetadata: "md" }] }
  ]

  it("v6 request: committed leader epoch, no retention time", () => {
    expect(decodeBody(requestFrame(8, 6, str("g"), i32(2), str("m"), topics))).toEqual({
      groupId: "g",
      generationId: 2,
      memberId: "m",
      groupInstanceId: null,
      retentionTimeMs: -1,
      topics: expectedTopics
    })
  })

  it("v7 request: group instance id after the member id", () => {
    expect(decodeBody(requestFrame(8, 7, str("g"), i32(2), str("m"), str("inst"), topics))).toEqual({
      groupId: "g",
      generationId: 2,
      memberId: "m",
      groupInstanceId: "inst",
      retentionTimeMs: -1,
      topics: expectedTopics
    })
  })

  for (const v of [6, 7]) {
    it(`v${v} response: as v3-5`, () => {
      const out = responseBytes(ApiKey.OffsetCommit, v, {
        throttleTimeMs: 1,
        topics: [{ name: "t", partitions: [{ partitionIndex: 0, errorCode: 25 }] }]
      })
      expect(hex(out)).toBe(hex(Buffer.concat([i32(7), i32(1), arr([Buffer.concat([str("t"), arr([Buffer.concat([i32(0), i16(25)])])])])])))
    })
  }
})

describe("OffsetFetch v0 and v5", () => {
  it("v0 request: group and non-nullable topics", () => {
    expect(decodeBody(requestFrame(9, 0, str("g"), arr([Buffer.concat([str("t"), arr([i32(0), i32(1)])])])))).toEqual({
      groupId: "g",
      topics: [{ name: "t", partitionIndexes: [0, 1] }]
    })
  })

  it("v0 request: a null topic array is malformed (nullable only from v2)", () => {
    const result = decodeRequest(requestFrame(9, 0, str("g"), arr(null)))
    expect(result._tag).toBe("MalformedRequest")
  })

  it("v5 request: null topics = all topics", () => {
    expect(decodeBody(requestFrame(9, 5, str("g"), arr(null)))).toEqual({ groupId: "g", topics: null })
  })

  const body: ResponseBodies[typeof ApiKey.OffsetFetch] = {
    throttleTimeMs: 2,
    topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: 10, committedLeaderEpoch: 4, metadata: null, errorCode: 0 }] }],
    errorCode: 16
  }

  it("v0 response: no throttle, no leader epoch, no top-level error code", () => {
    const expected = Buffer.concat([i32(7), arr([Buffer.concat([str("t"), arr([Buffer.concat([i32(0), i64(10), str(null), i16(0)])])])])])
    expect(hex(responseBytes(ApiKey.OffsetFetch, 0, body))).toBe(hex(expected))
  })

  it("v5 response: leader epoch after the offset; error code last", () => {
    const expected = Buffer.concat([
      i32(7), i32(2),
      arr([Buffer.concat([str("t"), arr([Buffer.concat([i32(0), i64(10), i32(4), str(null), i16(0)])])])]),
      i16(16)
    ])
    expect(hex(responseBytes(ApiKey.OffsetFetch, 5, body))).toBe(hex(expected))
  })
})

describe("DescribeGroups v3-4", () => {
  for (const v of [3, 4]) {
    it(`v${v} request: include authorized operations`, () => {
      expect(decodeBody(requestFrame(15, v, arr([str("g")]), bool(true)))).toEqual({ groups: ["g"], includeAuthorizedOperations: true })
    })
  }

  const body: ResponseBodies[typeof ApiKey.DescribeGroups] = {
    throttleTimeMs: 0,
    groups: [
      {
        errorCode: 0,
        groupId: "g",
        groupState: "Stable",
        protocolType: "consumer",
        protocolData: "range",
        members: [
          {
            memberId: "m",
            groupInstanceId: "i",
            clientId: "c",
            clientHost: "/h",
            memberMetadata: Buffer.from([1]),
            memberAssignment: Buffer.from([2])
          }
        ],
        authorizedOperations: 8
      }
    ]
  }
  const groupHead = Buffer.concat([i16(0), str("g"), str("Stable"), str("consumer"), str("range")])

  it("v3 response: authorized operations after the members", () => {
    const member = Buffer.concat([str("m"), str("c"), str("/h"), bytes(Buffer.from([1])), bytes(Buffer.from([2]))])
    const expected = Buffer.concat([i32(7), i32(0), arr([Buffer.concat([groupHead, arr([member]), i32(8)])])])
    expect(hex(responseBytes(ApiKey.DescribeGroups, 3, body))).toBe(hex(expected))
  })

  it("v4 response: group instance id in each member", () => {
    const member = Buffer.concat([str("m"), str("i"), str("c"), str("/h"), bytes(Buffer.from([1])), bytes(Buffer.from([2]))])
    const expected = Buffer.concat([i32(7), i32(0), arr([Buffer.concat([groupHead, arr([member]), i32(8)])])])
    expect(hex(responseBytes(ApiKey.DescribeGroups, 4, body))).toBe(hex(expected))
  })
})

describe("CreateTopics v4", () => {
  it("request: as v1-3 (-1 partitions and replication mean broker defaults, KIP-464)", () => {
    const topic = Buffer.concat([str("t"), i32(-1), i16(-1), arr([]), arr([Buffer.concat([str("k"), str(null)])])])
    expect(decodeBody(requestFrame(19, 4, arr([topic]), i32(30000), bool(false)))).toEqual({
      topics: [{ name: "t", numPartitions: -1, replicationFactor: -1, assignments: [], configs: [{ name: "k", value: null }] }],
      timeoutMs: 30000,
      validateOnly: false
    })
  })

  it("response: throttle, then name, error code and message per topic", () => {
    const out = responseBytes(ApiKey.CreateTopics, 4, {
      throttleTimeMs: 0,
      topics: [{ name: "t", errorCode: 36, errorMessage: "exists" }]
    })
    expect(hex(out)).toBe(hex(Buffer.concat([i32(7), i32(0), arr([Buffer.concat([str("t"), i16(36), str("exists")])])])))
  })
})

describe("DeleteTopics v2-3", () => {
  for (const v of [2, 3]) {
    it(`v${v} request and response: as v1`, () => {
      expect(decodeBody(requestFrame(20, v, arr([str("a"), str("b")]), i32(100)))).toEqual({ topicNames: ["a", "b"], timeoutMs: 100 })
      const out = responseBytes(ApiKey.DeleteTopics, v, { throttleTimeMs: 0, responses: [{ name: "a", errorCode: 0 }] })
      expect(hex(out)).toBe(hex(Buffer.concat([i32(7), i32(0), arr([Buffer.concat([str("a"), i16(0)])])])))
    })
  }
})

describe("DescribeConfigs v3", () => {
  it("request: include documentation after include synonyms", () => {
    const resource = Buffer.concat([i8(2), str("t"), arr(null)])
    expect(decodeBody(requestFrame(32, 3, arr([resource]), bool(true), bool(true)))).toEqual({
      resources: [{ resourceType: 2, resourceName: "t", configurationKeys: null }],
      includeSynonyms: true,
      includeDocumentation: true
    })
  })

  it("response: config type and documentation after the synonyms (KIP-569)", () => {
    const out = responseBytes(ApiKey.DescribeConfigs, 3, {
      throttleTimeMs: 0,
      results: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: "t",
          configs: [
            {
              name: "retention.ms",
              value: "1000",
              readOnly: false,
              configSource: 1,
              isSensitive: false,
              synonyms: [{ name: "retention.ms", value: "1000", source: 1 }],
              configType: 5,
              documentation: "How long"
            }
          ]
        }
      ]
    })
    const config = Buffer.concat([
      str("retention.ms"), str("1000"), bool(false), i8(1), bool(false),
      arr([Buffer.concat([str("retention.ms"), str("1000"), i8(1)])]),
      i8(5), str("How long")
    ])
    const expected = Buffer.concat([i32(7), i32(0), arr([Buffer.concat([i16(0), str(null), i8(2), str("t"), arr([config])])])])
    expect(hex(out)).toBe(hex(expected))
  })
})

describe("ApiVersions v3 (flexible)", () => {
  it("request: header v2 (tagged fields after the client id), compact strings, tagged fields", () => {
    const frame = Buffer.concat([
      i16(18), i16(3), i32(7), str("rdkafka"),
      Buffer.from([1, 0, 1, 0x61]), // header tagged fields: one unknown tag 0 of 1 byte, skipped
      cstr("librdkafka"), cstr("2.0.2"),
      Buffer.from([1, 5, 2, 0xaa, 0xbb]) // body tagged fields: tag 5 of 2 bytes, skipped
    ])
    const result = decodeRequest(frame)
    if (result._tag !== "Request") throw new Error(JSON.stringify(result))
    expect(result.header).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 7, clientId: "rdkafka" })
    expect(result.body).toEqual({ clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.0.2" })
  })

  it("response: header v0 (no tagged fields), compact array of entries with tagged fields", () => {
    const out = responseBytes(ApiKey.ApiVersions, 3, {
      errorCode: 0,
      apiKeys: [
        { apiKey: 0, minVersion: 3, maxVersion: 8 },
        { apiKey: 18, minVersion: 0, maxVersion: 3 }
      ],
      throttleTimeMs: 0
    })
    const expected = Buffer.concat([
      i32(7), // response header v0, even though v3 is flexible (KIP-511)
      i16(0),
      carr([Buffer.concat([i16(0), i16(3), i16(8), noTags]), Buffer.concat([i16(18), i16(0), i16(3), noTags])]),
      i32(0),
      noTags
    ])
    expect(hex(out)).toBe(hex(expected))
  })
})

describe("IncrementalAlterConfigs v0", () => {
  it("request: per resource, name, operation (int8) and nullable value per entry, then validate only", () => {
    const entries = arr([
      Buffer.concat([str("retention.ms"), i8(0), str("1000")]),
      Buffer.concat([str("segment.ms"), i8(1), str(null)])
    ])
    const resources = arr([Buffer.concat([i8(2), str("t"), entries]), Buffer.concat([i8(4), str("0"), arr([])])])
    expect(decodeBody(requestFrame(44, 0, resources, bool(false)))).toEqual({
      resources: [
        {
          resourceType: 2,
          resourceName: "t",
          configs: [
            { name: "retention.ms", configOperation: 0, value: "1000" },
            { name: "segment.ms", configOperation: 1, value: null }
          ]
        },
        { resourceType: 4, resourceName: "0", configs: [] }
      ],
      validateOnly: false
    })
  })

  it("response: throttle, then error code, message, resource type and name per resource", () => {
    const out = responseBytes(ApiKey.IncrementalAlterConfigs, 0, {
      throttleTimeMs: 3,
      responses: [
        { errorCode: 0, errorMessage: null, resourceType: 2, resourceName: "t" },
        { errorCode: 42, errorMessage: "static", resourceType: 4, resourceName: "0" }
      ]
    })
    const expected = Buffer.concat([
      i32(7), i32(3),
      arr([
        Buffer.concat([i16(0), str(null), i8(2), str("t")]),
        Buffer.concat([i16(42), str("static"), i8(4), str("0")])
      ])
    ])
    expect(hex(out)).toBe(hex(expected))
  })

  it("v1 (flexible) is not spoken", () => {
    expect(decodeRequest(requestFrame(44, 1, arr([]), bool(false)))).toMatchObject({ _tag: "UnsupportedVersion", apiKey: 44, apiVersion: 1 })
  })
})

describe("OffsetDelete v0", () => {
  it("request: group id, then topics with partition indexes", () => {
    const frame = requestFrame(47, 0, str("g1"), arr([Buffer.concat([str("orders"), arr([i32(0), i32(2)])])]))
    expect(decodeBody(frame)).toEqual({ groupId: "g1", topics: [{ name: "orders", partitions: [{ partitionIndex: 0 }, { partitionIndex: 2 }] }] })
  })

  it("response: the group's error code first, then the throttle time, then per-partition errors", () => {
    const body = {
      errorCode: 0,
      throttleTimeMs: 5,
      topics: [{ name: "orders", partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 2, errorCode: 86 }] }]
    }
    const expected = Buffer.concat([
      i32(7),
      i16(0),
      i32(5),
      arr([Buffer.concat([str("orders"), arr([Buffer.concat([i32(0), i16(0)]), Buffer.concat([i32(2), i16(86)])])])])
    ])
    expect(hex(responseBytes(ApiKey.OffsetDelete, 0, body))).toBe(hex(expected))
  })
})

describe("ACL APIs v2-3 (flexible, as Kafka's AdminClient sends them)", () => {
  const cnull = Buffer.from([0]) // compact nullable string: null

  it("CreateAcls v3 request: compact array of creations, compact strings, tagged fields", () => {
    const creation = Buffer.concat([i8(2), cstr("orders"), i8(4), cstr("User:alice"), cstr("*"), i8(4), i8(3), noTags])
    const frame = Buffer.concat([i16(30), i16(3), i32(7), str("fixture"), noTags, carr([creation]), noTags])
    expect(decodeBody(frame)).toEqual({
      creations: [{ resourceType: 2, resourceName: "orders", resourcePatternType: 4, principal: "User:alice", host: "*", operation: 4, permissionType: 3 }]
    })
  })

  it("DescribeAcls v2 request: null filters as compact nullable strings", () => {
    const frame = Buffer.concat([i16(29), i16(2), i32(7), str("fixture"), noTags, i8(1), cnull, i8(1), cstr("User:bob"), cnull, i8(1), i8(1), noTags])
    expect(decodeBody(frame)).toEqual({
      resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: 1, principalFilter: "User:bob", hostFilter: null, operation: 1, permissionType: 1
    })
  })

  it("DescribeAcls v3 response: header v1, nested compact arrays", () => {
    const out = responseBytes(ApiKey.DescribeAcls, 3, {
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      resources: [{ resourceType: 2, resourceName: "orders", patternType: 3, acls: [{ principal: "User:alice", host: "*", operation: 4, permissionType: 3 }] }]
    })
    const acl = Buffer.concat([cstr("User:alice"), cstr("*"), i8(4), i8(3), noTags])
    const resource = Buffer.concat([i8(2), cstr("orders"), i8(3), carr([acl]), noTags])
    expect(hex(out)).toBe(hex(Buffer.concat([i32(7), noTags, i32(0), i16(0), cnull, carr([resource]), noTags])))
  })

  it("DeleteAcls v1 response: pattern type per matching ACL (KIP-290)", () => {
    const out = responseBytes(ApiKey.DeleteAcls, 1, {
      throttleTimeMs: 0,
      filterResults: [{
        errorCode: 0,
        errorMessage: null,
        matchingAcls: [{ errorCode: 0, errorMessage: null, resourceType: 3, resourceName: "g", patternType: 4, principal: "User:bob", host: "*", operation: 3, permissionType: 2 }]
      }]
    })
    const matching = Buffer.concat([i16(0), str(null), i8(3), str("g"), i8(4), str("User:bob"), str("*"), i8(3), i8(2)])
    expect(hex(out)).toBe(hex(Buffer.concat([i32(7), i32(0), arr([Buffer.concat([i16(0), str(null), arr([matching])])])])))
  })
})
