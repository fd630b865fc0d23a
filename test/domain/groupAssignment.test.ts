/** Reading a consumer group member's assignment bytes, as kafkajs's own encoder writes them. */
import { AssignerProtocol } from "kafkajs"
import { describe, expect, it } from "vitest"
import { assignedPartitions } from "../../domain/group/assignment.js"

const encode = (assignment: Record<string, Array<number>>, userData: Buffer | null = null): Uint8Array =>
  AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData: userData ?? Buffer.alloc(0) })

describe("assignedPartitions", () => {
  it("reads topic -> partitions (sorted) from a ConsumerProtocolAssignment", () => {
    expect(assignedPartitions(encode({ orders: [2, 0], "päyments": [1] }, Buffer.from("user data")))).toEqual({ orders: [0, 2], "päyments": [1] })
    expect(assignedPartitions(encode({}))).toEqual({})
  })

  it("treats empty bytes as nothing assigned yet", () => {
    expect(assignedPartitions(new Uint8Array(0))).toEqual({})
  })

  it("refuses bytes that are not an assignment", () => {
    const good = encode({ orders: [0, 1, 2] })
    expect(assignedPartitions(good.subarray(0, good.length - 6))).toBeUndefined()
    expect(assignedPartitions(Uint8Array.of(0, 1, 0x7f, 0xff, 0xff, 0xff))).toBeUndefined()
    expect(assignedPartitions(Uint8Array.of(0xff, 0xff, 0, 0, 0, 0))).toBeUndefined()
    expect(assignedPartitions(Uint8Array.of(1, 2, 3))).toBeUndefined()
  })
})
