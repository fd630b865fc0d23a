/**
 * The pure parts of the segment store: file names, the sparse index formats (round trip,
 * lookups, rejection of torn or stale files) and the retention rule.
 */
import { describe, expect, it } from "@effect/vitest"
import { topicPartition } from "../../domain/ids.js"
import { defaultPolicyFor, expiredSegmentCount, UNLIMITED } from "../../layers/storage-segment/Retention.js"
import { batchBytesMaxTimestamp, SegmentIndexer } from "../../layers/storage-segment/Segment.js"
import {
  baseOffsetOf,
  partitionDirName,
  segmentFileName,
  topicPartitionOfDir
} from "../../layers/storage-segment/SegmentFiles.js"
import { OffsetIndex, TimeIndex } from "../../layers/storage-segment/SparseIndex.js"
import { batch, freshPartition } from "./LogDriver.contract.js"

describe("SegmentFiles", () => {
  it("names segments by 20-digit base offset and parses them back", () => {
    expect(segmentFileName(0, ".log")).toBe("00000000000000000000.log")
    expect(segmentFileName(368769, ".index")).toBe("00000000000000368769.index")
    expect(baseOffsetOf("00000000000000368769.index", ".index")).toBe(368769)
    expect(baseOffsetOf("00000000000000368769.index", ".log")).toBe(undefined)
    expect(baseOffsetOf("0000000000000036876x.log", ".log")).toBe(undefined)
    expect(baseOffsetOf("368769.log", ".log")).toBe(undefined)
    expect(baseOffsetOf("00000000000000368769.log.tmp", ".log")).toBe(undefined)
  })

  it("keeps Kafka topic names as directory names and escapes anything else", () => {
    const plain = topicPartition("orders.v2_eu-west", 7)
    expect(partitionDirName(plain)).toBe("orders.v2_eu-west-7")
    expect(topicPartitionOfDir("orders.v2_eu-west-7")).toBe(plain)
    const odd = topicPartition("../a/b c", 1)
    const dir = partitionDirName(odd)
    expect(dir).not.toContain("/")
    expect(topicPartitionOfDir(dir)).toBe(odd)
    expect(topicPartitionOfDir("lost+found")).toBe(undefined)
    expect(topicPartitionOfDir("%E0%A4%A-1")).toBe(undefined)
  })
})

describe("SparseIndex", () => {
  it("OffsetIndex: lookups find the last entry at or before an offset; files round-trip", () => {
    const index = new OffsetIndex(1)
    for (let i = 1; i <= 100; i++) index.append(i * 10, i * 4096)
    expect(index.lookup(0)).toBe(0)
    expect(index.lookup(9)).toBe(0)
    expect(index.lookup(10)).toBe(4096)
    expect(index.lookup(15)).toBe(4096)
    expect(index.lookup(1000)).toBe(409600)
    expect(index.lookup(5000)).toBe(409600)
    const decoded = OffsetIndex.decode(index.encode(), 409600 + 100)
    if (typeof decoded === "string") throw new Error(decoded)
    expect(decoded.length).toBe(100)
    expect(decoded.lookup(555)).toBe(55 * 4096)
  })

  it("OffsetIndex.decode rejects partial, unordered or out-of-range entries", () => {
    const index = new OffsetIndex()
    index.append(1, 100)
    index.append(2, 200)
    const bytes = index.encode()
    expect(OffsetIndex.decode(bytes.subarray(0, 12), 1000)).toMatch(/multiple of 8/)
    expect(OffsetIndex.decode(bytes, 200)).toMatch(/points at position 200/)
    expect(OffsetIndex.decode(Buffer.concat([bytes.subarray(8), bytes.subarray(0, 8)]), 1000)).toMatch(/out of order/)
    expect(OffsetIndex.decode(Buffer.alloc(16), 1000)).toMatch(/position 0/)
    expect(OffsetIndex.decode(Buffer.alloc(0), 0)).toBeInstanceOf(OffsetIndex)
  })

  it("TimeIndex: records only growth; startFor skips entries below the target; files round-trip", () => {
    const index = new TimeIndex(1)
    index.maybeAppend(1_700_000_000_000, 10)
    index.maybeAppend(1_700_000_000_000, 20) // not larger: ignored
    index.maybeAppend(1_700_000_000_500, 30)
    index.append(1_700_000_000_900, 45) // closing entry
    expect(index.length).toBe(3)
    expect(index.startFor(0)).toBe(0)
    expect(index.startFor(1_700_000_000_000)).toBe(0)
    expect(index.startFor(1_700_000_000_001)).toBe(10)
    expect(index.startFor(1_700_000_000_501)).toBe(30)
    expect(index.startFor(1_800_000_000_000)).toBe(45)
    const decoded = TimeIndex.decode(index.encode())
    if (typeof decoded === "string") throw new Error(decoded)
    expect(Array.from(decoded.ts.subarray(0, 3))).toEqual([1_700_000_000_000, 1_700_000_000_500, 1_700_000_000_900])
    expect(decoded.lastRel()).toBe(45)
    expect(TimeIndex.decode(Buffer.alloc(13))).toMatch(/multiple of 12/)
    const swapped = index.encode()
    expect(TimeIndex.decode(Buffer.concat([swapped.subarray(12, 24), swapped.subarray(0, 12)]))).toMatch(/out of order/)
  })

  it("SegmentIndexer adds an entry every interval bytes and a closing time entry on seal", () => {
    const seg = new SegmentIndexer(100)
    for (let i = 0; i < 10; i++) seg.note(100 + i * 3, 102 + i * 3, 5000 + i, 50, 120)
    // Entries before the batches at bytes 150 (after 3 batches), 300, 450.
    expect(Array.from(seg.index!.rel.subarray(0, seg.index!.length))).toEqual([9, 18, 27])
    expect(Array.from(seg.index!.pos.subarray(0, seg.index!.length))).toEqual([150, 300, 450])
    expect(Array.from(seg.timeIndex!.rel.subarray(0, seg.timeIndex!.length))).toEqual([9, 18, 27])
    expect(seg.size).toBe(500)
    expect(seg.nextOffset).toBe(130)
    expect(seg.lastBatchBase).toBe(127)
    expect(seg.maxTimestamp).toBe(5009)
    expect(seg.firstBatchMaxTimestamp).toBe(5000)
    seg.seal()
    expect(seg.timeIndex!.lastTimestamp()).toBe(5009)
    expect(seg.timeIndex!.lastRel()).toBe(30)
  })

  it("reads a batch's max timestamp from its header bytes", () => {
    expect(batchBytesMaxTimestamp(batch(freshPartition(), 0, 3, 0, 1_700_000_000_000).bytes)).toBe(1_700_000_000_002)
    expect(batchBytesMaxTimestamp(batch(freshPartition(), 0, 1, 0, 5).bytes)).toBe(5)
  })
})

describe("Retention", () => {
  // Segments of 10 offsets each: [0,10), [10,20), ...
  let next = 0
  const seg = (size: number, maxTimestamp: number) => ({ size, maxTimestamp, nextOffset: (next += 10) })
  const segments = [seg(100, 1000), seg(100, 2000), seg(100, 3000), seg(100, 4000)]

  it("by age deletes the prefix of segments older than retention_ms", () => {
    const policy = { retentionBytes: -1, retentionMs: 1000 }
    expect(expiredSegmentCount(segments, 3, policy, 2000)).toBe(0)
    expect(expiredSegmentCount(segments, 3, policy, 2001)).toBe(1)
    expect(expiredSegmentCount(segments, 3, policy, 3500)).toBe(2)
    expect(expiredSegmentCount(segments, 3, policy, 99999)).toBe(3) // never past `deletable`
    // A segment without timestamps stops the prefix; an empty one goes.
    expect(expiredSegmentCount([seg(100, -1), ...segments], 4, policy, 99999)).toBe(0)
    expect(expiredSegmentCount([seg(0, Number.NEGATIVE_INFINITY), ...segments], 4, policy, 2500)).toBe(2)
  })

  it("by size deletes while what remains is at least retention_bytes", () => {
    const policy = { retentionBytes: 250, retentionMs: -1 }
    expect(expiredSegmentCount(segments, 3, policy, 0)).toBe(1)
    expect(expiredSegmentCount(segments, 3, { ...policy, retentionBytes: 200 }, 0)).toBe(2)
    expect(expiredSegmentCount(segments, 3, { ...policy, retentionBytes: 0 }, 0)).toBe(3)
    expect(expiredSegmentCount(segments, 3, { ...policy, retentionBytes: 400 }, 0)).toBe(0)
    // Both rules: age first, then size counts what age left.
    expect(expiredSegmentCount(segments, 3, { retentionBytes: 150, retentionMs: 1000 }, 2001)).toBe(2)
    expect(expiredSegmentCount(segments, 3, UNLIMITED, 99999)).toBe(0)
  })

  it("never deletes a segment holding offsets a persistent session still needs (keepFrom)", () => {
    const old = { retentionBytes: 0, retentionMs: 1 }
    expect(expiredSegmentCount(segments, 3, old, 99999)).toBe(3)
    expect(expiredSegmentCount(segments, 3, { ...old, keepFrom: 20 }, 99999)).toBe(2) // [20,30) is needed
    expect(expiredSegmentCount(segments, 3, { ...old, keepFrom: 19 }, 99999)).toBe(1)
    expect(expiredSegmentCount(segments, 3, { ...old, keepFrom: 0 }, 99999)).toBe(0)
  })

  it("default policy: the configured limits, but none for the broker's internal streams", () => {
    const policyFor = defaultPolicyFor({ retentionBytes: 10, retentionMs: 20 })
    expect(policyFor(topicPartition("mqtt", 0))).toEqual({ retentionBytes: 10, retentionMs: 20 })
    expect(policyFor(topicPartition("__retained", 0))).toEqual(UNLIMITED)
  })
})
