/** The JWT `acl` claim (domain/auth/aclClaim.ts): both EMQX forms, first match, placeholders, refusals. */
import { describe, expect, it } from "vitest"
import { type AclClaim, bothVerdicts, claimMayPublish, claimMayRead, claimVerdict, compileAclClaim, parseAclClaim } from "../../domain/auth/aclClaim.js"
import { SubscribeVerdict } from "../../domain/auth/authorize.js"

const parse = (claim: unknown): AclClaim => {
  const parsed = parseAclClaim(claim)
  if (typeof parsed === "string") throw new Error(parsed)
  return parsed
}
const compile = (claim: unknown, username = "alice", clientId = "dev-1") => compileAclClaim(parse(claim), username, clientId)
const verdict = (claim: ReturnType<typeof compile>, filter: string) => claimVerdict(claim, filter.split("/"))
const { Refused, Granted, Filtered } = SubscribeVerdict

describe("acl claim, map form", () => {
  const acl = compile({ pub: ["up/${username}/#"], sub: ["down/${clientid}", "news/#"], all: ["chat/+"] })

  it("pub and all allow publishing; nothing else does", () => {
    expect(claimMayPublish(acl, "up/alice/temp")).toBe(true)
    expect(claimMayPublish(acl, "chat/room")).toBe(true)
    expect(claimMayPublish(acl, "up/bob/temp")).toBe(false)
    expect(claimMayPublish(acl, "news/today")).toBe(false)
    expect(claimMayPublish(acl, "down/dev-1")).toBe(false)
  })

  it("sub and all decide subscriptions once, as the ACL file does", () => {
    expect(verdict(acl, "down/dev-1")).toBe(Granted)
    expect(verdict(acl, "news/sport/#")).toBe(Granted)
    expect(verdict(acl, "chat/room")).toBe(Granted)
    expect(verdict(acl, "up/alice/#")).toBe(Refused)
    expect(verdict(acl, "#")).toBe(Filtered)
    expect(claimMayRead(acl, "news/x")).toBe(true)
    expect(claimMayRead(acl, "up/alice/x")).toBe(false)
  })

  it("an empty claim allows nothing", () => {
    const none = compile({})
    expect(claimMayPublish(none, "a")).toBe(false)
    expect(verdict(none, "#")).toBe(Refused)
  })

  it("a name that would become a wildcard grants nothing", () => {
    const wild = compile({ all: ["u/${username}/#"] }, "a+b")
    expect(claimMayPublish(wild, "u/a+b/x")).toBe(false)
    expect(verdict(wild, "u/#")).toBe(Refused)
  })
})

describe("acl claim, EMQX 5 rule list", () => {
  it("first match wins: an allow before a deny-all stands, the deny-all takes the rest", () => {
    const acl = compile([
      { permission: "allow", action: "publish", topic: "t/${clientid}" },
      { permission: "allow", action: "subscribe", topic: "t/1/#" },
      { permission: "deny", action: "all", topic: "#" }
    ])
    expect(claimMayPublish(acl, "t/dev-1")).toBe(true)
    expect(claimMayPublish(acl, "t/other")).toBe(false)
    expect(verdict(acl, "t/1/#")).toBe(Granted)
    expect(verdict(acl, "t/2")).toBe(Refused)
  })

  it("a deny before an allow shadows it", () => {
    const acl = compile([
      { permission: "deny", action: "all", topic: "a/secret/#" },
      { permission: "allow", action: "all", topic: "a/#" }
    ])
    expect(claimMayPublish(acl, "a/open")).toBe(true)
    expect(claimMayPublish(acl, "a/secret/x")).toBe(false)
    expect(verdict(acl, "a/#")).toBe(Filtered)
    expect(claimMayRead(acl, "a/open")).toBe(true)
    expect(claimMayRead(acl, "a/secret/x")).toBe(false)
    expect(verdict(acl, "a/secret/#")).toBe(Refused)
  })

  it("`eq F` grants the subscription to F itself, not its narrower filters, and no publish", () => {
    const acl = compile([{ permission: "allow", action: "all", topic: "eq t/#" }])
    expect(verdict(acl, "t/#")).toBe(Granted)
    expect(verdict(acl, "t/a")).toBe(Refused)
    expect(claimMayPublish(acl, "t/a")).toBe(false)
    expect(claimMayRead(acl, "t/a")).toBe(true)
    const plain = compile([{ permission: "allow", action: "publish", topic: "eq t/a" }])
    expect(claimMayPublish(plain, "t/a")).toBe(true)
  })

  it("pub and sub are accepted as actions too", () => {
    const acl = compile([{ permission: "allow", action: "pub", topic: "x" }, { permission: "allow", action: "sub", topic: "y" }])
    expect(claimMayPublish(acl, "x")).toBe(true)
    expect(verdict(acl, "y")).toBe(Granted)
  })
})

describe("acl claim refusals", () => {
  it.each([
    ["a string", "pub", /must be an object/],
    ["an unknown map key", { publish: ["a"] }, /unknown key "publish"/],
    ["a list that is not one", { pub: "a/#" }, /"pub" must be a list/],
    ["an invalid filter", { sub: ["a/#/b"] }, /not a valid topic filter/],
    ["an unknown placeholder", { sub: ["a/${peerhost}"] }, /placeholder/],
    ["qos conditions", [{ permission: "allow", action: "publish", topic: "a", qos: [0] }], /"qos" conditions are not supported/],
    ["a bad permission", [{ permission: "maybe", action: "all", topic: "a" }], /"permission"/],
    ["a bad action", [{ permission: "allow", action: "read", topic: "a" }], /"action"/]
  ])("%s", (_, claim, reason) => {
    expect(parseAclClaim(claim)).toMatch(reason)
  })
})

describe("an ACL file and a claim together", () => {
  it("intersect: refused if either refuses, granted only if both grant", () => {
    expect(bothVerdicts(Granted, Granted)).toBe(Granted)
    expect(bothVerdicts(Granted, Filtered)).toBe(Filtered)
    expect(bothVerdicts(Filtered, Granted)).toBe(Filtered)
    expect(bothVerdicts(Refused, Granted)).toBe(Refused)
    expect(bothVerdicts(Granted, Refused)).toBe(Refused)
  })
})
