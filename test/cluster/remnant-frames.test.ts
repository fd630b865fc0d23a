/** REMNANT frames on the link: the origin field (a worker sending on a dead sibling's behalf), and frames without it. */
import { describe, expect, it } from "vitest"
import { decodeRemnant, encodeRemnant, encodeSession, FrameType } from "../../src/cluster/linkFrames.js"
import { owedMessage } from "../support/owedMessage.js"

const owed = (text: string, offset: number) => owedMessage("t/1", Buffer.from(text), ["t", offset])

/** A frame's body, as the link's FrameSplitter hands it on: past the 4-byte length and the type byte. */
const body = (frame: Buffer): Buffer => {
  expect(frame.readUInt8(4)).toBe(FrameType.Remnant)
  return frame.subarray(5)
}

describe("REMNANT frames", () => {
  it("carry the node on whose behalf they are sent, and its log positions", () => {
    const decoded = decodeRemnant(body(encodeRemnant({ id: 7, key: "box-w0@12#0", clientId: "c", owed: [owed("a", 3), owed("b", 4)], origin: "box-w0" })))
    if (typeof decoded === "string") throw new Error(decoded)
    expect(decoded.origin).toBe("box-w0")
    expect(decoded.key).toBe("box-w0@12#0")
    expect(decoded.owed.map((m) => [m.message.payload.toString(), m.at])).toEqual([["a", ["t", 3]], ["b", ["t", 4]]])
  })

  it("without an origin (a node sending its own, or an older sender) decode with none: the sender's own", () => {
    const own = decodeRemnant(body(encodeRemnant({ id: 1, key: "na@0#0", clientId: "c", owed: [owed("a", 0)] })))
    if (typeof own === "string") throw new Error(own)
    expect(own.origin).toBeUndefined()
    // The layout older nodes write: a SESSION frame of type Remnant with a key and no origin.
    const old = encodeSession({ id: 2, key: "na@0#1", session: { clientId: "c", expiryInterval: 0, subscriptions: [], owed: [owed("b", 1)], qos2Inbound: [] } }, FrameType.Remnant)
    const decoded = decodeRemnant(body(old))
    if (typeof decoded === "string") throw new Error(decoded)
    expect(decoded).toMatchObject({ id: 2, key: "na@0#1", clientId: "c" })
    expect(decoded.origin).toBeUndefined()
  })
})
