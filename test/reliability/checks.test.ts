/**
 * The torture harness's checks (scripts/torture/checks.ts): what counts as lost, as a QoS 2 or
 * QoS 1 duplicate, as an offset gap and as a committed offset that went back.
 */
import { describe, expect, it } from "vitest"
import { checkKafka, checkMqtt, missingDeliveries, regressedOffsets } from "../../scripts/torture/checks.js"
import { isKafkaValue } from "../../scripts/torture/KafkaLoad.js"

const deliveries = (entries: ReadonlyArray<[string, ReadonlyArray<[number, boolean]>]>) =>
  new Map(entries.map(([payload, list]) => [payload, list.map(([qos, dup]) => ({ qos, dup }))]))

describe("checkMqtt", () => {
  it("counts an acknowledged message missing at any receiver once, and duplicates per QoS", () => {
    const full = deliveries([["a", [[2, false]]], ["b", [[2, false], [2, true]]], ["c", [[1, false], [1, true], [1, false]]]])
    const partial = deliveries([["a", [[2, false]]]])
    const check = checkMqtt(["a", "b", "c"], [
      { name: "one", members: [full] },
      { name: "two", members: [partial] }
    ])
    expect(check).toMatchObject({ checked: 3, lost: 2, missing: { one: 0, two: 2 }, qos2Dups: 1, qos1Dups: 2, qos1DupsWithoutFlag: 1, qos1DupsWithoutFlagBy: { one: 1 } })
  })

  it("tells a QoS 1 repeat the publisher caused (it sent the payload twice: DUP 0 is right) from the broker's own", () => {
    const got = deliveries([["r", [[1, false], [1, false]]], ["s", [[1, false], [1, false]]]])
    const check = checkMqtt(["r", "s"], [{ name: "one", members: [got] }], new Set(["r"]))
    expect(check).toMatchObject({ qos1Dups: 2, qos1DupsWithoutFlag: 1, qos1DupsFromPublisherRetries: 1 })
  })

  it("counts apart a repeat of a Kafka-produced record (appended again by its producer's retry after a crash)", () => {
    const got = deliveries([["k0.0:5", [[1, false], [1, false]]], ["pub0-qos1-sequence:5", [[1, false], [1, false]]]])
    const check = checkMqtt(["pub0-qos1-sequence:5"], [{ name: "one", members: [got] }], new Set(), isKafkaValue)
    expect(check).toMatchObject({ qos1Dups: 2, qos1DupsWithoutFlag: 1, qos1DupsOfKafkaRecords: 1 })
  })

  it("treats a shared group as one receiver: a message is owed to one member, twice is a duplicate", () => {
    const a = deliveries([["x", [[2, false]]], ["y", [[2, false]]]])
    const b = deliveries([["y", [[2, true]]], ["z", [[2, false]]]])
    expect(checkMqtt(["x", "y", "z"], [{ name: "group", members: [a, b] }])).toMatchObject({ lost: 0, qos2Dups: 1 })
  })
})

describe("checkKafka", () => {
  it("finds lost values, duplicated values and missing offsets", () => {
    const records = [
      { partition: 0, offset: 0, value: "p:0" },
      { partition: 0, offset: 1, value: "p:1" },
      { partition: 0, offset: 3, value: "p:1" },
      { partition: 1, offset: 0, value: "q:0" }
    ]
    const check = checkKafka(new Set(["p:0", "p:1", "q:0", "q:1"]), records, new Map([[0, 4], [1, 1]]))
    expect(check).toMatchObject({ checked: 4, lost: 1, duplicated: 1, offsetGaps: 1 })
  })
})

describe("regressedOffsets", () => {
  it("reports partitions whose committed offset is below one the broker acknowledged", () => {
    expect(regressedOffsets(new Map([[0, 10], [1, 5]]), new Map([[0, 12], [1, 4]]))).toEqual(["partition 1: committed 5, now 4"])
    expect(regressedOffsets(new Map([[0, 10]]), new Map())).toHaveLength(1)
  })
})

describe("missingDeliveries", () => {
  it("lists each receiver's missing acknowledged payloads", () => {
    const one = { name: "one", members: [deliveries([["a", [[1, false]]]])] }
    const group = { name: "group", members: [deliveries([["b", [[2, false]]]]), deliveries([["a", [[2, false]]]])] }
    expect(missingDeliveries(["a", "b"], [one, group]).map(([r, p]) => `${r.name}:${p}`)).toEqual(["one:b"])
  })
})
