/** The auth decider (declared files vs the read model -> events) and evolve/replay. Pure. */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import type { AclRule } from "../../domain/auth/AclRule.js"
import { type AuthState, emptyAuthState, evolve } from "../../domain/auth/AuthState.js"
import { decideSync, type DeclaredAuth } from "../../domain/auth/decide.js"
import { AclCleared, AclReplaced, AuthEvent, UserAdded, UserPasswordChanged, UserRemoved } from "../../domain/auth/events.js"

const rule = (topic: string, access: AclRule["access"] = "readwrite", username: string | null = null): AclRule => ({ kind: "topic", username, access, topic })
const fold = (events: ReadonlyArray<AuthEvent>, state: AuthState = emptyAuthState()) => events.reduce(evolve, state)
const declared = (users: Record<string, string> | null, acl: ReadonlyArray<AclRule> | null): DeclaredAuth => ({
  users: users === null ? null : Object.entries(users).map(([username, passwordHash]) => ({ username, passwordHash })),
  acl
})

describe("decideSync", () => {
  it("from nothing: one UserAdded per user in file order, then the ACL", () => {
    const events = decideSync(emptyAuthState(), declared({ b: "$7$b", a: "$7$a" }, [rule("x/#")]))
    expect(events).toEqual([
      new UserAdded({ username: "b", passwordHash: "$7$b" }),
      new UserAdded({ username: "a", passwordHash: "$7$a" }),
      new AclReplaced({ rules: [rule("x/#")] })
    ])
  })

  it("no event when the files say what the read model holds", () => {
    const d = declared({ a: "$7$a" }, [rule("x/#"), rule("y", "deny")])
    const state = fold(decideSync(emptyAuthState(), d))
    expect(decideSync(state, d)).toEqual([])
    expect(decideSync(emptyAuthState(), declared(null, null))).toEqual([])
  })

  it("only the differences: removed, changed, added users; a replaced ACL", () => {
    const state = fold(decideSync(emptyAuthState(), declared({ a: "$7$a", b: "$7$b", c: "$7$c" }, [rule("x/#")])))
    const events = decideSync(state, declared({ c: "$7$c", b: "$7$b2", d: "$7$d" }, [rule("x/#"), rule("x/secret", "deny")]))
    expect(events).toEqual([
      new UserRemoved({ username: "a" }),
      new UserPasswordChanged({ username: "b", passwordHash: "$7$b2" }),
      new UserAdded({ username: "d", passwordHash: "$7$d" }),
      new AclReplaced({ rules: [rule("x/#"), rule("x/secret", "deny")] })
    ])
    const next = fold(events, state)
    expect([...next.users]).toEqual([["b", "$7$b2"], ["c", "$7$c"], ["d", "$7$d"]])
    expect(next.acl).toEqual([rule("x/#"), rule("x/secret", "deny")])
  })

  it("the same rules in another order are a different ACL", () => {
    const state = fold([new AclReplaced({ rules: [rule("a"), rule("b")] })])
    expect(decideSync(state, declared(null, [rule("b"), rule("a")])).map((e) => e._tag)).toEqual(["AclReplaced"])
  })

  it("files no longer configured: every user removed, the ACL cleared", () => {
    const state = fold(decideSync(emptyAuthState(), declared({ a: "$7$a" }, [])))
    expect(state.acl).toEqual([])
    const events = decideSync(state, declared(null, null))
    expect(events).toEqual([new UserRemoved({ username: "a" }), new AclCleared()])
    const next = fold(events, state)
    expect(next.users.size).toBe(0)
    expect(next.acl).toBeNull()
  })
})

describe("events through the store's encoding", () => {
  it("replaying the encoded stream rebuilds the read model", () => {
    const history: Array<AuthEvent> = [
      ...decideSync(emptyAuthState(), declared({ a: "$7$a", b: "$6$b" }, [rule("x/#", "read", "a")])),
      new UserRemoved({ username: "b" }),
      new UserPasswordChanged({ username: "a", passwordHash: "$7$a2" }),
      new AclReplaced({ rules: [{ kind: "pattern", username: null, access: "write", topic: "d/%c" }] })
    ]
    const stored = history.map((e) => JSON.parse(JSON.stringify(Schema.encodeSync(AuthEvent)(e))))
    const replayed = fold(stored.map((d) => Schema.decodeUnknownSync(AuthEvent)(d)))
    expect(replayed).toEqual(fold(history))
    expect([...replayed.users]).toEqual([["a", "$7$a2"]])
    expect(replayed.acl).toEqual([{ kind: "pattern", username: null, access: "write", topic: "d/%c" }])
  })
})
