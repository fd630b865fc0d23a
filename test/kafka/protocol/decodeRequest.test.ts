/**
 * `decodeRequest` on bad input: unknown API keys, unsupported versions, truncated and garbage
 * frames all come back as error values, never exceptions. Also the UNSUPPORTED_VERSION answer to
 * ApiVersions, byte for byte, and what `SUPPORTED` advertises.
 */
import { describe, expect, it } from "vitest"
import {
  ApiKey,
  decodeRequest,
  decodeResponse,
  encodeApiVersionsUnsupported,
  encodeRequest,
  SUPPORTED
} from "../../../src/kafka/protocol/index.js"
import { kafkajsDecodeResponse, kafkajsRequestFrame } from "./kafkajs.js"

const header = (apiKey: number, apiVersion: number, correlationId = 9, clientId: string | null = "c") => {
  const id = clientId === null ? Buffer.from([0xff, 0xff]) : Buffer.concat([Buffer.alloc(2), Buffer.from(clientId)])
  if (clientId !== null) id.writeInt16BE(Buffer.byteLength(clientId), 0)
  const b = Buffer.alloc(8)
  b.writeInt16BE(apiKey, 0)
  b.writeInt16BE(apiVersion, 2)
  b.writeInt32BE(correlationId, 4)
  return Buffer.concat([b, id])
}

describe("SUPPORTED", () => {
  it("advertises exactly the version ranges in scope", () => {
    expect(Object.fromEntries([...SUPPORTED].map(([k, v]) => [k, `${v.name} ${v.minVersion}-${v.maxVersion}`]))).toEqual({
      0: "Produce 3-8",
      1: "Fetch 4-11",
      2: "ListOffsets 1-5",
      3: "Metadata 0-8",
      8: "OffsetCommit 0-7",
      9: "OffsetFetch 0-5",
      10: "FindCoordinator 0-2",
      11: "JoinGroup 0-5",
      12: "Heartbeat 0-3",
      13: "LeaveGroup 0-3",
      14: "SyncGroup 0-3",
      15: "DescribeGroups 0-4",
      16: "ListGroups 0-2",
      17: "SaslHandshake 0-1",
      18: "ApiVersions 0-3",
      19: "CreateTopics 0-4",
      20: "DeleteTopics 0-3",
      21: "DeleteRecords 0-1",
      22: "InitProducerId 0-1",
      29: "DescribeAcls 0-3",
      30: "CreateAcls 0-3",
      31: "DeleteAcls 0-3",
      32: "DescribeConfigs 0-3",
      33: "AlterConfigs 0-1",
      36: "SaslAuthenticate 0-2",
      37: "CreatePartitions 0-1",
      42: "DeleteGroups 0-1",
      44: "IncrementalAlterConfigs 0-0",
      47: "OffsetDelete 0-0"
    })
  })
})

describe("request errors", () => {
  it("an unknown API key comes back as UnknownApiKey with the correlation id", () => {
    for (const apiKey of [4, 5, 50, 1000, -1]) {
      expect(decodeRequest(header(apiKey, 0, 77))).toEqual({ _tag: "UnknownApiKey", apiKey, apiVersion: 0, correlationId: 77 })
    }
  })

  it("a known API at an unsupported version comes back as UnsupportedVersion", () => {
    expect(decodeRequest(header(ApiKey.Produce, 2, 5, "old"))).toEqual({
      _tag: "UnsupportedVersion",
      apiKey: 0,
      apiVersion: 2,
      correlationId: 5,
      clientId: "old"
    })
    expect(decodeRequest(header(ApiKey.Fetch, 12))).toMatchObject({ _tag: "UnsupportedVersion", apiKey: 1, apiVersion: 12 })
    expect(decodeRequest(header(ApiKey.ApiVersions, 4, 3, "rdkafka"))).toMatchObject({
      _tag: "UnsupportedVersion",
      apiKey: 18,
      apiVersion: 4,
      correlationId: 3,
      clientId: "rdkafka"
    })
    // the client id is informative only: a cut header still yields the error
    expect(decodeRequest(header(ApiKey.ApiVersions, 9).subarray(0, 9))).toMatchObject({ _tag: "UnsupportedVersion", clientId: null })
  })

  it("a header shorter than 8 bytes is malformed, with what could be read", () => {
    expect(decodeRequest(Buffer.alloc(0))).toMatchObject({ _tag: "MalformedRequest", apiKey: -1, apiVersion: -1, correlationId: -1 })
    expect(decodeRequest(Buffer.from([0, 18, 0, 3, 0]))).toMatchObject({ _tag: "MalformedRequest", apiKey: 18, apiVersion: 3 })
  })

  it("every truncation of a real request is malformed, never a throw", async () => {
    const frame = await kafkajsRequestFrame("joinGroup", 5, {
      groupId: "group",
      sessionTimeout: 30000,
      rebalanceTimeout: 60000,
      memberId: "",
      protocolType: "consumer",
      groupProtocols: [{ name: "RoundRobinAssigner", metadata: Buffer.from("metadata") }]
    })
    expect(decodeRequest(frame)._tag).toBe("Request")
    for (let cut = 8; cut < frame.length; cut++) {
      const result = decodeRequest(frame.subarray(0, cut))
      expect(result).toMatchObject({ _tag: "MalformedRequest", apiKey: 11, apiVersion: 5, correlationId: 42 })
      if (result._tag === "MalformedRequest") expect(result.reason).toMatch(/truncated|array of/)
    }
  })

  it("a truncated record batch length in Produce is malformed", async () => {
    const frame = await kafkajsRequestFrame("produce", 7, {
      acks: 1,
      timeout: 1000,
      topicData: [{ topic: "t", partitions: [{ partition: 0, messages: [{ value: "v" }] }] }]
    })
    const result = decodeRequest(frame.subarray(0, frame.length - 1))
    expect(result).toMatchObject({ _tag: "MalformedRequest", apiKey: 0, apiVersion: 7 })
  })

  it("forged array counts are rejected before anything is allocated", () => {
    const forged = Buffer.concat([header(ApiKey.DescribeGroups, 0), Buffer.from([0x7f, 0xff, 0xff, 0xff])])
    expect(decodeRequest(forged)).toMatchObject({ _tag: "MalformedRequest", reason: expect.stringMatching(/array of 2147483647/) })
  })

  it("null in a non-nullable field is malformed", () => {
    // Heartbeat v0: groupId must not be null
    const frame = Buffer.concat([header(ApiKey.Heartbeat, 0), Buffer.from([0xff, 0xff]), Buffer.alloc(4), Buffer.from([0, 0])])
    expect(decodeRequest(frame)).toMatchObject({ _tag: "MalformedRequest", apiKey: 12 })
  })

  it("random garbage after a valid header never escapes as an exception", () => {
    let seed = 12345
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed
    }
    const keys = [...SUPPORTED.keys()]
    for (let i = 0; i < 3000; i++) {
      const apiKey = keys[next() % keys.length]!
      const range = SUPPORTED.get(apiKey)!
      const version = range.minVersion + (next() % (range.maxVersion - range.minVersion + 1))
      const body = Buffer.alloc(next() % 64)
      for (let j = 0; j < body.length; j++) body[j] = next() & 0xff
      const result = decodeRequest(Buffer.concat([header(apiKey, version, i), body]))
      expect(["Request", "MalformedRequest"]).toContain(result._tag)
      expect(result).toMatchObject({ apiKey, apiVersion: version })
    }
  })

  it("a null client id is accepted (header v1 allows it)", () => {
    const result = decodeRequest(header(ApiKey.ListGroups, 1, 4, null))
    expect(result).toMatchObject({ _tag: "Request", header: { clientId: null, correlationId: 4 }, body: {} })
  })
})

describe("ApiVersions at an unsupported version", () => {
  it("answers UNSUPPORTED_VERSION (35) as a v0 body under response header v0, listing every range", () => {
    const all = Buffer.concat(encodeApiVersionsUnsupported(0x01020304))
    const entries = [...SUPPORTED].map(([apiKey, s]) => {
      const e = Buffer.alloc(6)
      e.writeInt16BE(apiKey, 0)
      e.writeInt16BE(apiKey === ApiKey.Produce ? 0 : s.minVersion, 2) // Produce is listed from v0 for librdkafka (registry.ts)
      e.writeInt16BE(s.maxVersion, 4)
      return e
    })
    const body = Buffer.alloc(4 + 2 + 4)
    body.writeInt32BE(0x01020304, 0) // correlation id, header v0
    body.writeInt16BE(35, 4)
    body.writeInt32BE(entries.length, 6)
    const expected = Buffer.concat([body, ...entries])
    const size = Buffer.alloc(4)
    size.writeInt32BE(expected.length)
    expect(all.toString("hex")).toBe(Buffer.concat([size, expected]).toString("hex"))
    expect(all.subarray(4, 14).toString("hex")).toBe("0102030400230000001d") // 29 APIs
  })

  it("kafkajs's v0 decoder reads the error code and the ranges", async () => {
    // kafkajs throws on UNSUPPORTED_VERSION in decode, as a client must notice it.
    await expect(kafkajsDecodeResponse("apiVersions", 0, encodeApiVersionsUnsupported(1))).rejects.toThrow(/version/i)
    const decoded = decodeResponse(ApiKey.ApiVersions, 0, Buffer.concat(encodeApiVersionsUnsupported(1)).subarray(4))
    if (decoded._tag !== "Response") throw new Error(decoded.reason)
    expect(decoded.body.errorCode).toBe(35)
    expect(decoded.body.apiKeys).toContainEqual({ apiKey: 18, minVersion: 0, maxVersion: 3 })
  })
})

describe("client direction: encodeRequest then decodeRequest", () => {
  it("round-trips ApiVersions v3 through request header v2", () => {
    const chunks = encodeRequest(
      { apiKey: ApiKey.ApiVersions, apiVersion: 3, correlationId: 11, clientId: "me" },
      { clientSoftwareName: "robustmq-test", clientSoftwareVersion: "0.1" }
    )
    const frame = Buffer.concat(chunks)
    expect(frame.readInt32BE(0)).toBe(frame.length - 4)
    const result = decodeRequest(frame.subarray(4))
    expect(result).toEqual({
      _tag: "Request",
      apiKey: 18,
      apiVersion: 3,
      header: { apiKey: 18, apiVersion: 3, correlationId: 11, clientId: "me" },
      body: { clientSoftwareName: "robustmq-test", clientSoftwareVersion: "0.1" }
    })
  })

  it("round-trips a Fetch v11 request with every field set", () => {
    const body = {
      replicaId: -1,
      maxWaitMs: 100,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        { topic: "t", partitions: [{ partition: 0, currentLeaderEpoch: 2, fetchOffset: 2 ** 40, logStartOffset: -1, partitionMaxBytes: 1024 }] }
      ],
      forgottenTopicsData: [],
      rackId: "r"
    }
    const frame = Buffer.concat(encodeRequest({ apiKey: ApiKey.Fetch, apiVersion: 11, correlationId: 1, clientId: null }, body))
    expect(decodeRequest(frame.subarray(4))).toMatchObject({ _tag: "Request", body })
  })
})
