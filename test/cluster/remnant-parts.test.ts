/** How a remnant is cut into REMNANT frames: by count and by payload bytes, the same cut every time. */
import { describe, expect, it } from "vitest"
import { REMNANT_CHUNK, REMNANT_CHUNK_BYTES, remnantParts } from "../../src/cluster/Remnants.js"
import { owedMessage } from "../support/owedMessage.js"

const owed = (bytes: number) => owedMessage("t", Buffer.alloc(bytes), null)

describe("remnantParts", () => {
  it("cuts at REMNANT_CHUNK messages", () => {
    const parts = remnantParts(Array.from({ length: 2 * REMNANT_CHUNK + 1 }, () => owed(10)))
    expect(parts.map((p) => p.length)).toEqual([REMNANT_CHUNK, REMNANT_CHUNK, 1])
  })

  it("cuts before a part's payloads pass REMNANT_CHUNK_BYTES; a larger message goes alone", () => {
    const big = REMNANT_CHUNK_BYTES / 4
    const parts = remnantParts([owed(big), owed(big), owed(big), owed(big), owed(REMNANT_CHUNK_BYTES + 1), owed(1)])
    expect(parts.map((p) => p.length)).toEqual([3, 1, 1, 1])
    expect(remnantParts([])).toEqual([])
  })
})
