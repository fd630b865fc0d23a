/**
 * Authorization against a compiled ACL: which rules apply to a client (%c / %u substitution,
 * anonymous clients), deny wins, and the filter relations SUBSCRIBE relies on (`covers`,
 * `intersects`), the latter checked against brute force over every small filter and topic, and
 * the SUBSCRIBE verdict (refused / granted / granted with a read check per delivery) checked
 * against random ACLs: refusing never hides a readable topic, no check never leaks a denied one.
 */
import { describe, expect, it } from "@effect/vitest"
import type { AclRule } from "../../domain/auth/AclRule.js"
import { parseAclFile } from "../../domain/auth/aclFile.js"
import { FastCheck as fc } from "effect"
import {
  type CompiledAcl,
  compileAcl,
  covers,
  filterVerdict,
  intersects,
  matchesTopic,
  mayPublish,
  mayRead,
  maySubscribe,
  SubscribeVerdict,
  subscribeVerdict
} from "../../domain/auth/authorize.js"
import { matches } from "../../domain/topic/matches.js"

const acl = (text: string): ReadonlyArray<AclRule> => {
  const parsed = parseAclFile(text)
  if (parsed._tag !== "Parsed") throw new Error(JSON.stringify(parsed.errors))
  return parsed.value
}
const L = (filter: string) => filter.split("/")

describe("compileAcl", () => {
  const rules = acl(`
topic read public/#
user alice
topic readwrite alice/#
user bob
topic write bob/out
pattern readwrite devices/%c/#
pattern read users/%u/inbox
`)

  it("a user gets its own section and the patterns; anonymous clients the lines before the first user", () => {
    const alice = compileAcl(rules, "alice", "phone")
    expect(mayPublish(alice, "alice/x")).toBe(true)
    expect(mayPublish(alice, "bob/out")).toBe(false)
    expect(mayPublish(alice, "public/x")).toBe(false) // the anonymous section is not alice's
    expect(mayPublish(alice, "devices/phone/state")).toBe(true)
    expect(mayPublish(alice, "devices/other/state")).toBe(false)
    expect(maySubscribe(alice, "users/alice/inbox")).toBe(true)
    expect(maySubscribe(alice, "users/bob/inbox")).toBe(false)

    const anon = compileAcl(rules, null, "sensor-1")
    expect(maySubscribe(anon, "public/#")).toBe(true)
    expect(mayPublish(anon, "public/x")).toBe(false) // read only
    expect(mayPublish(anon, "devices/sensor-1/t")).toBe(true) // %c applies to anonymous clients
    expect(maySubscribe(anon, "users/+/inbox")).toBe(false) // a %u pattern never matches an anonymous client
  })

  it("a user not named in the file gets only the patterns", () => {
    const carol = compileAcl(rules, "carol", "c1")
    expect(mayPublish(carol, "devices/c1/x")).toBe(true)
    expect(maySubscribe(carol, "public/#")).toBe(false)
  })

  it("a name holding a wildcard gains nothing from a pattern, but pattern denies still apply", () => {
    const r = acl("pattern readwrite devices/%c/#\npattern deny secret/%u")
    expect(mayPublish(compileAcl(r, null, "a+b"), "devices/a+b/x")).toBe(false)
    expect(mayPublish(compileAcl(r, null, "#"), "devices/x/y")).toBe(false)
    const sneaky = compileAcl(acl("topic #\npattern deny secret/%u"), null, "c")
    expect(mayPublish(sneaky, "secret/x")).toBe(true) // anonymous: no %u pattern
    const dangerous = compileAcl(acl("user +\ntopic #\npattern deny secret/%u"), "+", "c")
    expect(mayPublish(dangerous, "secret/x")).toBe(false) // the deny became secret/+
    expect(mayPublish(dangerous, "other")).toBe(true)
  })
})

describe("deny wins", () => {
  const rules = acl("user u\npattern deny %c/secret/#\ntopic readwrite #\ntopic deny admin/#\ntopic read $SYS/#")
  const u = compileAcl(rules, "u", "me")

  it("whatever the order of the lines", () => {
    expect(mayPublish(u, "anything")).toBe(true)
    expect(mayPublish(u, "admin/x")).toBe(false)
    expect(mayPublish(u, "admin")).toBe(false) // admin/# matches its parent
    expect(mayPublish(u, "me/secret/k")).toBe(false)
  })

  it("a subscription a deny rule reaches is granted and filtered, as Mosquitto does; one a deny rule covers is refused", () => {
    expect(subscribeVerdict(u, "#")).toBe(SubscribeVerdict.Filtered) // admin/x is filtered out
    expect(subscribeVerdict(u, "+/x")).toBe(SubscribeVerdict.Filtered)
    expect(subscribeVerdict(u, "+/+/k")).toBe(SubscribeVerdict.Filtered) // me/secret/k is filtered out
    expect(subscribeVerdict(u, "news/#")).toBe(SubscribeVerdict.Granted)
    expect(subscribeVerdict(u, "$share/g/news/+")).toBe(SubscribeVerdict.Granted) // decided on the filter after $share/g/
    expect(subscribeVerdict(u, "$share/g/+/x")).toBe(SubscribeVerdict.Filtered)
    expect(subscribeVerdict(u, "$share/g/admin/#")).toBe(SubscribeVerdict.Refused) // all denied
    expect(subscribeVerdict(u, "me/secret/+")).toBe(SubscribeVerdict.Refused)
    expect(maySubscribe(u, "#")).toBe(true)
    expect(maySubscribe(u, "admin/x")).toBe(false)
  })

  it("a filter no read rule reaches is refused; one reached only in part is filtered", () => {
    const a = compileAcl(acl("topic read a/#\ntopic write w/#"), null, "c")
    expect(subscribeVerdict(a, "b/#")).toBe(SubscribeVerdict.Refused)
    expect(subscribeVerdict(a, "w/#")).toBe(SubscribeVerdict.Refused) // write grants no reading
    expect(subscribeVerdict(a, "+/x")).toBe(SubscribeVerdict.Filtered) // a/x yes, b/x no
    expect(subscribeVerdict(a, "#")).toBe(SubscribeVerdict.Filtered)
    expect(subscribeVerdict(a, "a/+")).toBe(SubscribeVerdict.Granted)
  })

  it("$ topics follow the ACL like any topic: # neither grants nor denies them", () => {
    expect(maySubscribe(u, "$SYS/broker/#")).toBe(true) // read $SYS/#; the deny rules cannot match $ topics
    expect(mayPublish(u, "$SYS/broker/x")).toBe(false) // only read access to $SYS
    const onlyHash = compileAcl(acl("topic readwrite #"), null, "c")
    expect(maySubscribe(onlyHash, "$SYS/#")).toBe(false)
    expect(mayPublish(onlyHash, "$SYS/x")).toBe(false)
    const denyHash = compileAcl(acl("topic deny #\ntopic read $SYS/#"), null, "c")
    expect(maySubscribe(denyHash, "$SYS/broker/uptime")).toBe(true)
  })
})

describe("covers and intersects", () => {
  it("the cases that matter for SUBSCRIBE", () => {
    expect(covers(L("a/#"), L("a/+/b"))).toBe(true)
    expect(covers(L("a/#"), L("a/#"))).toBe(true)
    expect(covers(L("a/#"), L("a"))).toBe(true) // a/# matches its parent
    expect(covers(L("a/+"), L("a/#"))).toBe(false)
    expect(covers(L("a/+"), L("a/b"))).toBe(true)
    expect(covers(L("a/b"), L("a/+"))).toBe(false)
    expect(covers(L("#"), L("+/x"))).toBe(true)
    expect(covers(L("#"), L("$SYS/x"))).toBe(false)
    expect(covers(L("+/x"), L("$SYS/x"))).toBe(false)
    expect(intersects(L("#"), L("secret/x"))).toBe(true)
    expect(intersects(L("a/+"), L("+/b"))).toBe(true)
    expect(intersects(L("a/b"), L("a/c"))).toBe(false)
    expect(intersects(L("a/#"), L("a"))).toBe(true)
    expect(intersects(L("a/+"), L("a"))).toBe(false)
    expect(intersects(L("#"), L("$SYS/#"))).toBe(false)
    expect(intersects(L("+/#"), L("$SYS/x"))).toBe(false)
    expect(intersects(L("$SYS/#"), L("$SYS/+"))).toBe(true)
  })

  // Every filter of up to 3 levels over {a, $s, +, #} and every topic of up to 4 levels over
  // {a, $s, z, ""}: "z" stands for any level a filter does not name, "" for the empty level.
  const filterLevels = ["a", "$s", "+", "#"]
  const topicLevels = ["a", "$s", "z", ""]
  const all = (alphabet: ReadonlyArray<string>, depth: number): Array<string> => {
    let out: Array<Array<string>> = [[]]
    const result: Array<string> = []
    for (let d = 1; d <= depth; d++) {
      const next: Array<Array<string>> = []
      for (const prefix of out) {
        if (prefix.at(-1) === "#") continue
        for (const level of alphabet) next.push([...prefix, level])
      }
      out = next
      for (const levels of out) result.push(levels.join("/"))
    }
    return result
  }
  const filters = all(filterLevels, 3)
  const topics = all(topicLevels, 4).filter((t) => t !== "")

  it("matchesTopic agrees with the reference matcher", () => {
    for (const f of filters) for (const t of topics) expect(matchesTopic(L(f), t), `${f} ~ ${t}`).toBe(matches(f, t))
  })

  it("covers(r, f) holds exactly when every topic f matches is matched by r; intersects when one topic matches both", () => {
    const matched = new Map(filters.map((f) => [f, topics.filter((t) => matches(f, t))]))
    let checked = 0
    for (const r of filters) {
      for (const f of filters) {
        const fTopics = matched.get(f)!
        expect(covers(L(r), L(f)), `${r} covers ${f}`).toBe(fTopics.every((t) => matches(r, t)))
        expect(intersects(L(r), L(f)), `${r} meets ${f}`).toBe(fTopics.some((t) => matches(r, t)))
        checked++
      }
    }
    expect(checked).toBe(filters.length ** 2)
  })
  it("a refused filter hides no readable topic; a filter granted without a check delivers no unreadable one", () => {
    const matched = new Map(filters.map((f) => [f, topics.filter((t) => matches(f, t))]))
    const rule = fc.constantFrom(...filters).map(L)
    const anAcl = fc.record({ read: fc.array(rule, { maxLength: 3 }), deny: fc.array(rule, { maxLength: 3 }) }).map((x): CompiledAcl => ({ ...x, write: [] }))
    fc.assert(fc.property(anAcl, (compiled) => {
      for (const f of filters) {
        const readable = matched.get(f)!.filter((t) => mayRead(compiled, t))
        const verdict = filterVerdict(compiled, L(f))
        if (verdict === SubscribeVerdict.Refused) expect(readable, `refused ${f}`).toEqual([])
        if (verdict === SubscribeVerdict.Granted) expect(readable, `granted ${f} unchecked`).toEqual(matched.get(f))
      }
    }), { numRuns: 300 })
  })
})
