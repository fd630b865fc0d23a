/** Session deciders: given state, when command, then events and reason codes. Pure. */
import { describe, expect, it } from "@effect/vitest"
import { ReasonCode } from "../../domain/ReasonCode.js"
import { decideConnect, decideDisconnect, decideExpire, decideMergeRemnant, decideSubscribe, decideUnsubscribe } from "../../domain/session/decide.js"
import type { SessionEvent } from "../../domain/session/events.js"
import { evolve } from "../../domain/session/evolve.js"
import { emptySession, MERGED_KEYS_KEPT, NEVER_EXPIRES, type SessionState } from "../../domain/session/Session.js"

const fold = (events: ReadonlyArray<SessionEvent>, state?: SessionState) => events.reduce<SessionState | undefined>(evolve, state)
const request = (filter: string, qos = 1, noLocal = false) => ({ filter, qos, noLocal, retainAsPublished: false, retainHandling: 0 })
const subscribe = (state: SessionState, ...requests: Array<ReturnType<typeof request>>) =>
  decideSubscribe(state, { clientId: state.clientId, subscriptionId: 0, requests, maxTopicLevels: 128, maxTopicLength: 65535 })

describe("decideConnect", () => {
  it("starts a new session when none exists [MQTT-3.1.2-4]", () => {
    const { events, sessionPresent } = decideConnect(undefined, { clientId: "c", cleanStart: false, expiryInterval: 60 })
    expect(events.map((e) => e._tag)).toEqual(["SessionStarted"])
    expect(sessionPresent).toBe(false)
    expect(fold(events)?.expiryInterval).toBe(60)
  })

  it("resumes an existing session without clean start, with session present [MQTT-3.2.2-3]", () => {
    const state = fold(subscribe(emptySession("c", 60), request("a/#")).events, emptySession("c", 60))!
    const { events, sessionPresent } = decideConnect(state, { clientId: "c", cleanStart: false, expiryInterval: 120 })
    expect(events.map((e) => e._tag)).toEqual(["SessionResumed"])
    expect(sessionPresent).toBe(true)
    const next = fold(events, state)!
    expect(next.expiryInterval).toBe(120)
    expect([...next.subscriptions.keys()]).toEqual(["a/#"])
  })

  it("discards an existing session on clean start [MQTT-3.1.2-4]", () => {
    const state = fold(subscribe(emptySession("c", 60), request("a/#")).events, emptySession("c", 60))!
    const { events, sessionPresent } = decideConnect(state, { clientId: "c", cleanStart: true, expiryInterval: 0 })
    expect(events.map((e) => e._tag)).toEqual(["SessionEnded", "SessionStarted"])
    expect(sessionPresent).toBe(false)
    expect(fold(events, state)!.subscriptions.size).toBe(0)
  })
})

describe("decideSubscribe", () => {
  it("grants the requested QoS per filter and rejects invalid filters with 0x8F [MQTT-3.9.3-1]", () => {
    const { codes, events } = subscribe(emptySession("c", 0), request("a/+", 2), request("a/#/b", 1), request("x", 0))
    expect(codes).toEqual([2, ReasonCode.TopicFilterInvalid, 0])
    expect(events.map((e) => e.filter)).toEqual(["a/+", "x"])
  })

  it("accepts shared subscriptions and rejects a malformed share name", () => {
    const { codes } = subscribe(emptySession("c", 0), request("$share/g/a/#"), request("$share//a"), request("$share/g"))
    expect(codes).toEqual([1, ReasonCode.TopicFilterInvalid, ReasonCode.TopicFilterInvalid])
  })

  it("makes no-local on a shared subscription a protocol error [MQTT-3.8.3-4]", () => {
    expect(subscribe(emptySession("c", 0), request("$share/g/a", 1, true)).protocolError).toBe(ReasonCode.ProtocolError)
  })

  it("reports whether each subscription already existed (retain handling 1)", () => {
    const state = fold(subscribe(emptySession("c", 0), request("a")).events, emptySession("c", 0))!
    expect(subscribe(state, request("a"), request("b")).existed).toEqual([true, false])
  })
})

describe("decideUnsubscribe", () => {
  it("reports filters that were never subscribed with 0x11", () => {
    const state = fold(subscribe(emptySession("c", 0), request("a/+")).events, emptySession("c", 0))!
    const { events, codes } = decideUnsubscribe(state, "c", ["a/+", "b/#"])
    expect(codes).toEqual([ReasonCode.Success, ReasonCode.NoSubscriptionExisted])
    expect(fold(events, state)!.subscriptions.size).toBe(0)
  })
})

describe("disconnect and expiry", () => {
  it("ends a session with expiry 0 when its connection closes [MQTT-3.1.2-23]", () => {
    expect(decideDisconnect(emptySession("c", 0), 1000, 0)._tag).toBe("SessionEnded")
  })

  it("keeps a persistent session and expires it after its interval [MQTT-3.1.2-23]", () => {
    const event = decideDisconnect(emptySession("c", 10), 1000, 10)
    expect(event._tag).toBe("SessionDisconnected")
    const state = fold([event], emptySession("c", 10))!
    expect(decideExpire(state, 10_999)).toBeUndefined()
    expect(decideExpire(state, 11_000)?._tag).toBe("SessionEnded")
  })

  it("never expires an MQTT 3.1.1 persistent session", () => {
    const state = fold([decideDisconnect(emptySession("c", NEVER_EXPIRES), 0, NEVER_EXPIRES)], emptySession("c", NEVER_EXPIRES))!
    expect(decideExpire(state, Number.MAX_SAFE_INTEGER)).toBeUndefined()
  })
})

describe("decideMergeRemnant", () => {
  const merge = (state: SessionState, key: string) => decideMergeRemnant(state, { clientId: state.clientId, key, from: "n2", messages: 3 })

  it("merges a remnant once: the same key again decides nothing", () => {
    const first = merge(emptySession("c", 60), "n2@1#0")
    expect(first?._tag).toBe("RemnantMerged")
    const state = fold([first!], emptySession("c", 60))!
    expect(state.merged).toEqual(["n2@1#0"])
    expect(merge(state, "n2@1#0")).toBeUndefined()
    expect(merge(state, "n2@1#1")?._tag).toBe("RemnantMerged")
  })

  it("remembers the latest keys only", () => {
    const keys = Array.from({ length: MERGED_KEYS_KEPT + 5 }, (_, i) => `n2@1#${i}`)
    const state = fold(keys.map((key) => merge(emptySession("c", 60), key)!), emptySession("c", 60))!
    expect(state.merged).toEqual(keys.slice(5))
  })
})
