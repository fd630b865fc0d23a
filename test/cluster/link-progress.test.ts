/** LinkProgress: which forwarded messages a node delivers, which gaps it asks for, what it saves. */
import { describe, expect, it } from "vitest"
import type { Forwarded } from "../../src/cluster/linkFrames.js"
import { LinkProgress } from "../../src/cluster/LinkProgress.js"
import { Message } from "../../src/mqtt/engine/Message.js"

const at = (offset: number, tp = "mqtt-0"): Forwarded => ({
  message: new Message("t", Buffer.from(String(offset)), 1, false, null, 0, "", 0),
  groups: [],
  tp,
  offset
})

describe("LinkProgress", () => {
  it("willReplay: a record from where the sender's run started comes by the link; one below it, or of a partition never had, does not", () => {
    const p = new LinkProgress({ n1: { "mqtt-0": 20 } }) // saved before this node restarted
    // No batch of a run yet: its first one will ask from 20.
    expect(p.willReplay("n1", "mqtt-0", 19)).toBe(false)
    expect(p.willReplay("n1", "mqtt-0", 20)).toBe(true)
    expect(p.willReplay("n1", "mqtt-1", 5)).toBe(false)
    expect(p.willReplay("n2", "mqtt-0", 5)).toBe(false)
    // The run starts (a catch-up of [20, 50)); once replayed, safe moves on, and the run's start stays.
    p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 50 }])
    p.replayed("n1", [], [{ tp: "mqtt-0", from: 20, to: 50 }])
    expect(p.snapshot()).toEqual({ n1: { "mqtt-0": 50 } })
    expect(p.willReplay("n1", "mqtt-0", 19)).toBe(false)
    expect(p.willReplay("n1", "mqtt-0", 30)).toBe(true)
  })

  it("willReplay after the sender left: only what is past safe (its next run's catch-up asks from there), not what its ended run logged", () => {
    const p = new LinkProgress()
    p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 10 }]) // first contact: the run starts at 10
    p.covered("n1", [{ tp: "mqtt-0", from: 10, to: 40 }]) // records 10-39 matched no route here
    expect(p.willReplay("n1", "mqtt-0", 20)).toBe(true) // while the run lasts: live or replayed
    p.endRun("n1")
    expect(p.willReplay("n1", "mqtt-0", 20)).toBe(false) // never sent here, never replayed
    expect(p.willReplay("n1", "mqtt-0", 40)).toBe(true) // the next run asks from 40
    // The next run starts where safe stood.
    p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 60 }])
    expect(p.willReplay("n1", "mqtt-0", 39)).toBe(false)
    expect(p.willReplay("n1", "mqtt-0", 45)).toBe(true)
  })

  it("first contact with a sender's partition owes nothing before it", () => {
    const p = new LinkProgress()
    expect(p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 100 }])).toEqual([])
    expect(p.admit("n1", at(99))).toBe(true)
    expect(p.snapshot()).toEqual({ n1: { "mqtt-0": 100 } })
  })

  it("a new connection after a gap asks for [safe, to) and drops the live copies below to", () => {
    const p = new LinkProgress()
    p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 10 }])
    p.covered("n1", [{ tp: "mqtt-0", from: 10, to: 20 }])
    // The link dropped; the next connection's first batch covers up to 50.
    expect(p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 50 }])).toEqual([{ node: "n1", tp: "mqtt-0", from: 20, to: 50 }])
    expect(p.admit("n1", at(45))).toBe(false)
    expect(p.admit("n1", at(50))).toBe(true)
    expect(p.owed()).toBe(1)
    // Until the replay arrives, what is safe stays at 20, even as live coverage moves on.
    p.covered("n1", [{ tp: "mqtt-0", from: 50, to: 60 }])
    expect(p.snapshot()).toEqual({ n1: { "mqtt-0": 20 } })
    // The replay in two frames: messages already safe or live are not delivered twice.
    const first = p.replayed("n1", [at(21), at(30)], [{ tp: "mqtt-0", from: 20, to: 31 }])
    expect(first.map((f) => f.offset)).toEqual([21, 30])
    expect(p.replayed("n1", [at(30), at(40), at(55)], [{ tp: "mqtt-0", from: 31, to: 50 }]).map((f) => f.offset)).toEqual([40])
    expect(p.owed()).toBe(0)
    expect(p.snapshot()).toEqual({ n1: { "mqtt-0": 60 } })
  })

  it("starts from what it saved: a restart asks for everything since", () => {
    const p = new LinkProgress({ n1: { "mqtt-0": 7 } })
    expect(p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 9 }])).toEqual([{ node: "n1", tp: "mqtt-0", from: 7, to: 9 }])
  })

  it("a sender whose log is shorter than what was had of it (it lost its data) is followed from there", () => {
    const p = new LinkProgress({ n1: { "mqtt-0": 500 } })
    expect(p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 3 }])).toEqual([])
    expect(p.admit("n1", at(2))).toBe(true)
    expect(p.snapshot()).toEqual({ n1: { "mqtt-0": 3 } })
  })

  it("messages outside the log (QoS 0) are always delivered", () => {
    const p = new LinkProgress({ n1: { "mqtt-0": 0 } })
    p.covered("n1", [{ tp: "mqtt-0", from: -1, to: 9 }])
    expect(p.admit("n1", { ...at(0), tp: null, offset: -1 })).toBe(true)
  })
})
