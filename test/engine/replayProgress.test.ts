/**
 * The progress journal's pure parts: its op encoding, and the replay that turns a session's
 * checkpointed backlog plus the ops after it into what a restarted broker owes the client.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { topicPartition } from "../../domain/ids.js"
import { decodeBatch, encodeBatch } from "../../domain/message/RecordBatch.js"
import { emptySession, type QoS } from "../../domain/session/Session.js"
import { InboundRef, LiveSession, Outgoing } from "../../src/mqtt/engine/LiveSession.js"
import { Message } from "../../src/mqtt/engine/Message.js"
import { type DecodedOp, decodeOps, DONE, ProgressRecord, RECEIVED, RELEASED, SENT1, SENT2 } from "../../src/mqtt/engine/ProgressJournal.js"
import { ProgressReplay } from "../../src/mqtt/engine/replayProgress.js"

const tp = topicPartition("mqtt", 0)

const message = (offset: number): Message => {
  const m = new Message(`t/${offset}`, Buffer.from(`m${offset}`), 2, false, null, 0, "pub", 1)
  m.tp = tp
  m.offset = offset
  return m
}

/** A restored session: `inflight` as [offset, packet id, stage], `queued` as offsets. */
const restoredSession = (inflight: ReadonlyArray<readonly [number, number, 0 | 1]>, queued: ReadonlyArray<number>) => {
  const s = new LiveSession("c", emptySession("c", 60), 1000)
  for (const [offset, id, stage] of inflight) {
    const o = new Outgoing(message(offset), 2, false, null)
    o.packetId = id
    o.stage = stage
    s.restore(o)
  }
  for (const offset of queued) s.restore(new Outgoing(message(offset), 2, false, null))
  return s
}

const sent = (packetId: number, offset: number, qos: QoS = 2): DecodedOp => ({ op: qos === 2 ? SENT2 : SENT1, packetId, tp, offset })
const ack = (op: typeof RECEIVED | typeof DONE, packetId: number): DecodedOp => ({ op, packetId, tp: "", offset: -1 })
const released = (packetId: number, offset: number): DecodedOp => ({ op: RELEASED, packetId, tp: offset === -1 ? "" : tp, offset })

const owed = (s: LiveSession) => ({
  inflight: [...(s.inflight?.values() ?? [])].map((o) => [o.msg.offset, o.packetId, o.stage]),
  queued: [...(s.queue ?? [])].map((o) => o.msg.offset)
})

const inboundAt = (packetId: number, offset: number) => Object.assign(new InboundRef(tp, offset), { packetId })

const replay = (
  s: LiveSession,
  ops: ReadonlyArray<DecodedOp>,
  checkpointAt = 0,
  extra: ReadonlyMap<number, Message> = new Map(),
  scanned: ReadonlyArray<ReturnType<typeof inboundAt>> = []
) => {
  const r = new ProgressReplay(s, () => checkpointAt, scanned)
  for (const op of ops) r.apply(op)
  const missing = r.toRead()
  r.finish((_, offset, qos) => {
    const m = extra.get(offset)
    return m === undefined ? null : new Outgoing(m, qos, false, null)
  })
  return missing.map((p) => p.offset)
}

describe("progress journal ops", () => {
  it("round-trip through a log record, whatever the ops", () => {
    const op = fc.oneof(
      fc.record({ op: fc.constantFrom(SENT1, SENT2, RELEASED), packetId: fc.integer({ min: 0, max: 0xffff }), tp: fc.string({ minLength: 1 }), offset: fc.integer({ min: -1, max: 2 ** 48 }) }),
      fc.record({ op: fc.constantFrom(RECEIVED, DONE), packetId: fc.integer({ min: 1, max: 0xffff }), tp: fc.constant(""), offset: fc.constant(-1) })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
      const record = new ProgressRecord(Buffer.from("client"))
      for (const o of ops) record.ops.push(o.op, o.packetId, o.tp, o.offset)
      const decoded = decodeBatch(encodeBatch(0, [record]))
      if (typeof decoded === "string") throw new Error(decoded)
      expect(decodeOps(decoded[0]!)).toEqual(ops)
      expect(record.sealed).toBe(true)
    }), { numRuns: 300 })
  })

  it("a damaged record is reported, not misread", () => {
    const record = new ProgressRecord(Buffer.from("client"))
    record.ops.push(SENT2, 7, "mqtt-0", 12)
    const [stored] = decodeBatch(encodeBatch(0, [record])) as Array<import("../../domain/message/LogRecord.js").StoredRecord>
    const bytes = stored!.headers[0]!.value!
    const cut = { ...stored!, headers: [{ key: "ops", value: bytes.subarray(0, bytes.length - 3) }] }
    expect(decodeOps(cut)).toMatch(/truncated/)
    const bad = { ...stored!, headers: [{ key: "ops", value: Uint8Array.from([9, 0, 1]) }] }
    expect(decodeOps(bad)).toMatch(/unknown op 9/)
  })
})

describe("progress replay", () => {
  it("completed messages go, in-flight ones keep their packet id and stage, the rest stay queued in order", () => {
    const s = restoredSession([], [10, 11, 12, 13, 14])
    replay(s, [sent(1, 10), sent(2, 11), sent(3, 12), ack(RECEIVED, 1), ack(DONE, 1), ack(RECEIVED, 2)])
    expect(owed(s)).toEqual({ inflight: [[11, 2, 1], [12, 3, 0]], queued: [13, 14] })
  })

  it("a packet id reused after DONE names the new message", () => {
    const s = restoredSession([[10, 5, 0]], [11])
    replay(s, [ack(DONE, 5), sent(5, 11), ack(RECEIVED, 5)])
    expect(owed(s)).toEqual({ inflight: [[11, 5, 1]], queued: [] })
  })

  it("messages the backlog lacks (a share group's) are read back by position", () => {
    const s = restoredSession([], [])
    const missing = replay(s, [sent(0, 20, 1), sent(4, 21), sent(9, 22, 1), ack(DONE, 9)], 0, new Map([[20, message(20)], [21, message(21)]]))
    expect(missing.sort()).toEqual([20, 21])
    expect(owed(s)).toEqual({ inflight: [[21, 4, 0]], queued: [20] })
  })

  it("inbound ids: a release frees only the message it names; a checkpointed id any release below the checkpoint", () => {
    const s = restoredSession([], [])
    s.qos2Inbound = new Map<number, InboundRef | null>([[1, null], [2, null]])
    const scanned = [inboundAt(3, 50), inboundAt(4, 60), inboundAt(5, 70), inboundAt(5, 48)]
    replay(s, [released(1, 30), released(2, 55), released(3, 50), released(4, 40), released(5, 48)], 45, new Map(), scanned)
    // 1: released below the checkpoint (45): freed. 2: the release names a message past the
    // checkpoint, so not the one held since it: kept. 3: exact: freed. 4: an older use of id 4:
    // kept. 5: its first use (48, found after the later one in scan order) released, 70 held.
    expect([...s.qos2Inbound!.entries()].map(([id, at]) => [id, at?.offset ?? null])).toEqual([[2, null], [4, 60], [5, 70]])
  })
})
