/**
 * What a receiver tells its senders it stored (STORED), what a SESSIONREPLAY says the dead holder
 * had stored (`held`), and a remnant's messages that another node had forwarded (`relayed`).
 */
import { describe, expect, it } from "vitest"
import { decodePublish, decodeRemnant, decodeStored, encodePublish, encodeRemnant, encodeStored, FrameType } from "../../src/cluster/linkFrames.js"
import { LinkProgress } from "../../src/cluster/LinkProgress.js"
import { Message } from "../../src/mqtt/engine/Message.js"
import { owedMessage } from "../support/owedMessage.js"

const body = (frame: Buffer, type: number): Buffer => {
  expect(frame.readUInt8(4)).toBe(type)
  return frame.subarray(5)
}

describe("STORED and what a session catch-up says was held", () => {
  it("STORED carries per partition where the receiver's durable copy ends; a malformed one is refused", () => {
    const positions = new Map([["mqtt-0", 120], ["mqtt-3", 7]])
    expect(decodeStored(body(encodeStored(positions), FrameType.Stored))).toEqual(positions)
    expect(decodeStored(Buffer.from('[["mqtt-0","x"]]'))).toBeNull()
    expect(decodeStored(Buffer.from("{"))).toBeNull()
  })

  it("a SESSIONREPLAY part carries the dead holder's stored positions; a PUBLISH carries none", () => {
    const m = new Message("t/1", Buffer.from("a"), 2, false, null, 0, "pub", 0)
    m.tp = "mqtt-1" as never
    m.offset = 41
    const held = new Map([["mqtt-1", 40], ["mqtt-2", 9]])
    const replay = decodePublish(body(encodePublish([m], [], [], FrameType.SessionReplay, -1, { request: 3, done: true, held }), FrameType.SessionReplay))
    if (typeof replay === "string") throw new Error(replay)
    expect(replay.request).toBe(3)
    expect(replay.held).toEqual(held)
    expect(replay.messages.map((f) => [f.tp, f.offset])).toEqual([["mqtt-1", 41]])
    const publish = decodePublish(body(encodePublish([m], [], []), FrameType.Publish))
    if (typeof publish === "string") throw new Error(publish)
    expect(publish.held).toBeUndefined()
  })

  it("a remnant's message another node had forwarded stays marked so: the holder never expects the origin's catch-up to bring it", () => {
    const forwarded = owedMessage("t/1", Buffer.from("f"), ["mqtt-0", 5])
    forwarded.message.relayed = true
    const own = owedMessage("t/1", Buffer.from("o"), ["mqtt-0", 6])
    const decoded = decodeRemnant(body(encodeRemnant({ id: 1, key: "n2@0#0", clientId: "c", owed: [forwarded, own] }), FrameType.Remnant))
    if (typeof decoded === "string") throw new Error(decoded)
    expect(decoded.owed.map((m) => [m.message.payload.toString(), m.message.relayed])).toEqual([["f", true], ["o", false]])
  })

  it("LinkProgress.safeOf: per partition of a sender's log, below what has all arrived", () => {
    const progress = new LinkProgress({ n1: { "mqtt-0": 10 } })
    progress.covered("n1", [{ tp: "mqtt-0", from: 10, to: 15 }, { tp: "mqtt-1", from: -1, to: 4 }])
    expect(progress.safeOf("n1")).toEqual(new Map([["mqtt-0", 15], ["mqtt-1", 4]]))
    // A new run whose coverage shows a gap: safe stays until the replay fills it.
    progress.covered("n1", [{ tp: "mqtt-0", from: -1, to: 30 }])
    expect(progress.safeOf("n1").get("mqtt-0")).toBe(15)
    expect(progress.safeOf("n9")).toEqual(new Map())
  })
})
