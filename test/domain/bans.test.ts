/** The ban domain: address ranges over BlockList, the add/remove decider, the read model with expiry. */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { addressMatcher, type AddressRange, parseAddressRange } from "../../domain/ban/addressRange.js"
import { addressBan, bannedBy, bansInForce, type BanState, coverOf, emptyBanState, evolve, findBan, pruneExpired } from "../../domain/ban/BanState.js"
import { type AddBan, decideAddBan, decideRemoveBan } from "../../domain/ban/decide.js"
import { BanEvent } from "../../domain/ban/events.js"

const T0 = 1_800_000_000_000

const range = (text: string): AddressRange => {
  const r = parseAddressRange(text)
  if (typeof r === "string") throw new Error(r)
  return r
}

/** Adds through the decider, as the service does; the events go through their JSON form. */
const ban = (state: BanState, cmd: AddBan, now = T0): BanState => {
  const decided = decideAddBan(cmd, now)
  if ("_tag" in decided) throw new Error(decided.message)
  const roundTrip = Schema.decodeUnknownSync(BanEvent)
  for (const e of decided.events) evolve(state, roundTrip(JSON.parse(JSON.stringify(Schema.encodeSync(BanEvent)(e)))))
  return state
}

describe("parseAddressRange", () => {
  it("reads IPv4 and IPv6 addresses and ranges into one normal form", () => {
    expect(range("192.0.2.7")).toEqual({ value: "192.0.2.7", family: "ipv4", address: "192.0.2.7", prefix: 32 })
    expect(range(" 10.0.0.0/8 ").value).toBe("10.0.0.0/8")
    expect(range("192.0.2.7/32").value).toBe("192.0.2.7")
    expect(range("2001:DB8::/32")).toEqual({ value: "2001:db8::/32", family: "ipv6", address: "2001:db8::", prefix: 32 })
    expect(range("::1/128").value).toBe("::1")
    // How a dual-stack listener spells an IPv4 client: stored as the IPv4 address.
    expect(range("::ffff:192.0.2.7")).toMatchObject({ value: "192.0.2.7", family: "ipv4" })
  })

  it("says what is wrong with anything else", () => {
    expect(parseAddressRange("example.com")).toMatch(/not an IP address or CIDR range: give one like/)
    expect(parseAddressRange("10.0.0/8")).toMatch(/not an IP address/)
    expect(parseAddressRange("fe80::1%eth0")).toMatch(/not an IP address/)
    expect(parseAddressRange("10.0.0.0/33")).toMatch(/prefix length after "\/" must be 0 to 32/)
    expect(parseAddressRange("2001:db8::/129")).toMatch(/0 to 128/)
    expect(parseAddressRange("10.0.0.0/x")).toMatch(/prefix length/)
    expect(parseAddressRange("10.0.0.0/")).toMatch(/prefix length/)
  })
})

describe("addressMatcher", () => {
  it("matches addresses inside IPv4 and IPv6 ranges and nothing outside", () => {
    const matches = addressMatcher([range("10.0.0.0/8"), range("192.0.2.7"), range("2001:db8::/32")])
    expect(matches("10.255.1.2")).toBe(true)
    expect(matches("11.0.0.1")).toBe(false)
    expect(matches("192.0.2.7")).toBe(true)
    expect(matches("192.0.2.8")).toBe(false)
    expect(matches("2001:db8:1::5")).toBe(true)
    expect(matches("2001:db9::5")).toBe(false)
  })

  it("treats an IPv4-mapped IPv6 address as the IPv4 one, both ways", () => {
    expect(addressMatcher([range("127.0.0.0/8")])("::ffff:127.0.0.1")).toBe(true)
    expect(addressMatcher([range("::ffff:10.0.0.0/104")])("10.1.2.3")).toBe(true)
  })

  it("never matches what is not an address, nor anything with no ranges", () => {
    expect(addressMatcher([range("0.0.0.0/0")])("")).toBe(false)
    expect(addressMatcher([range("0.0.0.0/0")])("not-an-ip")).toBe(false)
    expect(addressMatcher([])("10.0.0.1")).toBe(false)
  })
})

describe("decideAddBan", () => {
  it("stores the absolute expiry, the reason and the author", () => {
    const decided = decideAddBan({ kind: "ip", value: "10.1.0.0/16", durationSeconds: 60, reason: "scanner", by: "ops" }, T0)
    expect("_tag" in decided).toBe(false)
    if ("_tag" in decided) return
    expect(decided.events).toHaveLength(1)
    expect(decided.ban).toEqual({ kind: "ip", value: "10.1.0.0/16", at: T0, until: T0 + 60_000, reason: "scanner", by: "ops" })
    const forever = decideAddBan({ kind: "clientid", value: "c1" }, T0)
    expect("_tag" in forever ? null : forever.ban.until).toBeNull()
  })

  it("refuses what cannot be a ban, saying what to send", () => {
    const message = (cmd: AddBan) => {
      const d = decideAddBan(cmd, T0)
      return "_tag" in d ? d.message : null
    }
    expect(message({ kind: "clientid", value: "" })).toMatch(/client id to ban is empty/)
    expect(message({ kind: "username", value: "" })).toMatch(/user name to ban is empty/)
    expect(message({ kind: "ip", value: "10.0.0.300" })).toMatch(/not an IP address/)
    expect(message({ kind: "clientid", value: "c", durationSeconds: 0 })).toMatch(/whole number of seconds above 0/)
    expect(message({ kind: "clientid", value: "c", durationSeconds: 1.5 })).toMatch(/whole number/)
    expect(message({ kind: "clientid", value: "c", durationSeconds: -5 })).toMatch(/leave it out for a ban without end/)
    expect(message({ kind: "clientid", value: "c", reason: "x".repeat(1025) })).toMatch(/reason is longer than 1024/)
  })

  it("replaces an existing ban of the same value (a new expiry)", () => {
    const state = ban(emptyBanState(), { kind: "username", value: "mallory", durationSeconds: 10 })
    ban(state, { kind: "username", value: "mallory", durationSeconds: 3600, reason: "again" }, T0 + 5000)
    expect(state.usernames.size).toBe(1)
    expect(findBan(state, "username", "mallory", T0 + 20_000)).toMatchObject({ until: T0 + 5000 + 3_600_000, reason: "again" })
  })
})

describe("decideRemoveBan", () => {
  it("removes a ban in force, by its value as typed or in normal form", () => {
    const state = ban(emptyBanState(), { kind: "ip", value: "2001:DB8::/32" })
    const decided = decideRemoveBan(state, "ip", "2001:db8::/32", T0)
    expect("events" in decided && decided.events.map((e) => e._tag)).toEqual(["BanRemoved"])
    if ("events" in decided) for (const e of decided.events) evolve(state, e)
    expect(addressBan(state, "2001:db8::1", T0)).toBeNull()
    expect(state.addresses.size).toBe(0)
  })

  it("reports a ban never added, or run out, as absent, and a bad value as rejected", () => {
    const state = ban(emptyBanState(), { kind: "clientid", value: "c1", durationSeconds: 5 })
    expect(decideRemoveBan(state, "clientid", "c2", T0)).toEqual({ _tag: "BanAbsent" })
    expect(decideRemoveBan(state, "clientid", "c1", T0 + 5000)).toEqual({ _tag: "BanAbsent" })
    expect(decideRemoveBan(state, "ip", "nope", T0)).toMatchObject({ _tag: "BanRejected" })
  })
})

describe("the read model", () => {
  const state = () => {
    const s = emptyBanState()
    ban(s, { kind: "clientid", value: "bad-client" })
    ban(s, { kind: "username", value: "mallory", durationSeconds: 60 })
    ban(s, { kind: "ip", value: "127.0.0.0/8", durationSeconds: 10 })
    ban(s, { kind: "ip", value: "2001:db8::/32" })
    return s
  }

  it("matches exact client ids and user names, and addresses in a range", () => {
    const s = state()
    expect(bannedBy(s, "bad-client", undefined, "", T0)?.kind).toBe("clientid")
    expect(bannedBy(s, "bad-client-2", "mallory", "", T0)?.value).toBe("mallory")
    expect(bannedBy(s, "c", "Mallory", "", T0)).toBeNull() // exact, case included
    expect(bannedBy(s, "c", null, "127.0.0.1", T0)?.value).toBe("127.0.0.0/8")
    expect(bannedBy(s, "c", null, "::ffff:127.0.0.1", T0)?.value).toBe("127.0.0.0/8")
    expect(bannedBy(s, "c", null, "2001:db8::7", T0)?.value).toBe("2001:db8::/32")
    expect(bannedBy(s, "c", "alice", "192.0.2.1", T0)).toBeNull()
  })

  it("makes a ban inert the moment it runs out, and prunes it later", () => {
    const s = state()
    expect(bannedBy(s, "c", null, "127.0.0.1", T0 + 9_999)).not.toBeNull()
    expect(bannedBy(s, "c", null, "127.0.0.1", T0 + 10_000)).toBeNull()
    expect(bannedBy(s, "c", "mallory", "", T0 + 60_000)).toBeNull()
    expect(pruneExpired(s, T0 + 60_000)).toBe(2)
    expect([s.clientIds.size, s.usernames.size, s.addresses.size]).toEqual([1, 0, 1])
    expect(bannedBy(s, "c", null, "2001:db8::7", T0 + 60_000)).not.toBeNull()
  })

  it("says which connections a new ban covers, reading the address only for an IP ban", () => {
    let reads = 0
    const address = (a: string) => () => (reads++, a)
    const byUser = coverOf({ kind: "username", value: "mallory", at: T0, until: null, reason: "", by: "" })
    expect(byUser("c", "mallory", address("10.0.0.1"))).toBe(true)
    expect(byUser("c", null, address("10.0.0.1"))).toBe(false)
    expect(reads).toBe(0)
    const byIp = coverOf({ kind: "ip", value: "10.0.0.0/8", at: T0, until: null, reason: "", by: "" })
    expect(byIp("c", null, address("10.9.9.9"))).toBe(true)
    expect(byIp("c", null, address("11.0.0.1"))).toBe(false)
    expect(reads).toBe(2)
  })

  it("lists only the bans in force, before any sweep", () => {
    const s = state()
    const values = (now: number) => [...bansInForce(s, now)].map((b) => b.value).sort()
    expect(values(T0)).toEqual(["127.0.0.0/8", "2001:db8::/32", "bad-client", "mallory"])
    expect(values(T0 + 60_000)).toEqual(["2001:db8::/32", "bad-client"])
  })
})
