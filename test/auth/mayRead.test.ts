/**
 * `mayRead`, the per-topic read check of a subscription the ACL grants only in part (each
 * delivery) and of what a session owes after the ACL changed: deny wins, write-only rules grant nothing, `$` topics follow the rules like any topic,
 * and it agrees with `maySubscribe` on topic names (a wildcard-free filter is one topic), checked
 * over every small topic against a few ACLs.
 */
import { describe, expect, it } from "@effect/vitest"
import type { AclRule } from "../../domain/auth/AclRule.js"
import { parseAclFile } from "../../domain/auth/aclFile.js"
import { compileAcl, mayRead, maySubscribe } from "../../domain/auth/authorize.js"

const acl = (text: string): ReadonlyArray<AclRule> => {
  const parsed = parseAclFile(text)
  if (parsed._tag !== "Parsed") throw new Error(JSON.stringify(parsed.errors))
  return parsed.value
}

describe("mayRead", () => {
  const rules = acl(`
user alice
topic read a/#
topic deny a/secret/#
topic write out/#
topic readwrite both/+
topic read $SYS/broker/#
pattern read users/%u/+
`)
  const alice = compileAcl(rules, "alice", "phone")

  it("read and readwrite rules grant, deny wins, write grants nothing", () => {
    expect(mayRead(alice, "a")).toBe(true) // `a/#` matches its parent level
    expect(mayRead(alice, "a/x/y")).toBe(true)
    expect(mayRead(alice, "a/secret")).toBe(false)
    expect(mayRead(alice, "a/secret/x")).toBe(false)
    expect(mayRead(alice, "out/x")).toBe(false)
    expect(mayRead(alice, "both/x")).toBe(true)
    expect(mayRead(alice, "both/x/y")).toBe(false)
    expect(mayRead(alice, "users/alice/inbox")).toBe(true)
    expect(mayRead(alice, "users/bob/inbox")).toBe(false)
    expect(mayRead(alice, "$SYS/broker/uptime")).toBe(true)
    expect(mayRead(alice, "$SYS/other")).toBe(false)
    expect(mayRead(compileAcl(rules, "bob", "x"), "a/x")).toBe(false)
  })

  it("agrees with maySubscribe on every small topic name", () => {
    const levels = ["a", "secret", "both", "x", "$SYS", "broker", ""]
    const topics: Array<string> = []
    for (const x of levels) {
      topics.push(x)
      for (const y of levels) {
        topics.push(`${x}/${y}`)
        for (const z of levels) topics.push(`${x}/${y}/${z}`)
      }
    }
    const acls = [alice, compileAcl(acl("topic read #\ntopic deny +/secret\n"), null, "c"), compileAcl(acl("topic read +/+\n"), null, "c")]
    for (const compiled of acls) {
      for (const topic of topics) {
        if (topic.startsWith("$share/")) continue
        expect([topic, mayRead(compiled, topic)]).toEqual([topic, maySubscribe(compiled, topic)])
      }
    }
  })
})
