/** The pure placement rules of Kafka in a cluster: broker ids, partition and slot spread. */
import { expect, it } from "vitest"
import { GROUP_SLOTS, groupSlot, kafkaNodeId, preferredLeader, preferredSlotOwner } from "../../src/cluster/kafka/placement.js"

it("a numeric node id is its Kafka id; any other hashes to the same int32 every time", () => {
  expect(kafkaNodeId("3")).toBe(3)
  expect(kafkaNodeId("node-a")).toBe(kafkaNodeId("node-a"))
  for (const id of ["n1", "n2", "node-a", "x".repeat(200)]) {
    expect(Number.isInteger(kafkaNodeId(id))).toBe(true)
    expect(kafkaNodeId(id)).toBeGreaterThanOrEqual(1000)
    expect(kafkaNodeId(id)).toBeLessThan(2 ** 31)
  }
  expect(new Set(["n1", "n2", "n3", "n4"].map(kafkaNodeId)).size).toBe(4)
})

it("partitions of a topic and group slots spread evenly over the members", () => {
  const members = ["n1", "n2", "n3"]
  for (const topic of ["orders", "a", "b.c"]) {
    const counts = new Map<string, number>()
    for (let p = 0; p < 9; p++) counts.set(preferredLeader(members, topic, p)!, (counts.get(preferredLeader(members, topic, p)!) ?? 0) + 1)
    expect([...counts.values()]).toEqual([3, 3, 3])
  }
  const slots = new Map<string, number>()
  for (let s = 0; s < GROUP_SLOTS; s++) slots.set(preferredSlotOwner(members, s)!, (slots.get(preferredSlotOwner(members, s)!) ?? 0) + 1)
  expect([...slots.values()].sort()).toEqual([21, 21, 22])
  expect(preferredLeader([], "t", 0)).toBeUndefined()
  const g = groupSlot("my-group")
  expect(g).toBe(groupSlot("my-group"))
  expect(g).toBeGreaterThanOrEqual(0)
  expect(g).toBeLessThan(GROUP_SLOTS)
})
