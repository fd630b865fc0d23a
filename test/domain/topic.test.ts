import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { validateTopicName } from "../../domain/topic/TopicName.js"
import { parseShared, validateTopicFilter } from "../../domain/topic/TopicFilter.js"
import { matches } from "../../domain/topic/matches.js"

const NameInvalid = 0x90
const FilterInvalid = 0x8f
const noLimit = Infinity
const wire = 65535

describe("validateTopicName", () => {
  const valid: ReadonlyArray<readonly [string, string]> = [
    ["a single level", "a"],
    ["several levels", "device/123/telemetry"],
    ["a leading slash (empty first level)", "/a"],
    ["a trailing slash (empty last level)", "a/"],
    ["only a slash (two empty levels)", "/"],
    ["empty middle levels", "a//b"],
    ["a $SYS topic", "$SYS/broker/uptime"],
    ["spaces and punctuation", "my topic/-_.~!"],
    ["multi-byte UTF-8", "température/日本/😀"]
  ]
  for (const [what, name] of valid) {
    it(`accepts ${what}: ${JSON.stringify(name)}`, () => {
      expect(validateTopicName(name, noLimit, wire)).toBe(0)
    })
  }

  const invalid: ReadonlyArray<readonly [string, string]> = [
    ["an empty name [MQTT-4.7.3-1]", ""],
    ["+ in topic name [MQTT-3.3.2-2]", "a/+/b"],
    ["+ inside a level [MQTT-3.3.2-2]", "a+"],
    ["# in topic name [MQTT-3.3.2-2]", "a/#"],
    ["# inside a level [MQTT-3.3.2-2]", "#a"],
    ["U+0000 [MQTT-4.7.3-2]", "a\u0000b"],
    ["a lone high surrogate [MQTT-1.5.4-1]", "a\ud83d"],
    ["a lone low surrogate [MQTT-1.5.4-1]", "a\ude00b"],
    ["a high surrogate followed by a non-surrogate [MQTT-1.5.4-1]", "\ud83dx"]
  ]
  for (const [what, name] of invalid) {
    it(`rejects ${what}`, () => {
      expect(validateTopicName(name, noLimit, wire)).toBe(NameInvalid)
    })
  }

  it("limits the UTF-8 byte length, not the UTF-16 length [MQTT-4.7.3-3]", () => {
    expect(validateTopicName("abc", noLimit, 3)).toBe(0)
    expect(validateTopicName("abcd", noLimit, 3)).toBe(NameInvalid)
    expect(validateTopicName("é", noLimit, 2)).toBe(0) // 2 bytes
    expect(validateTopicName("é", noLimit, 1)).toBe(NameInvalid)
    expect(validateTopicName("日", noLimit, 3)).toBe(0) // 3 bytes
    expect(validateTopicName("日", noLimit, 2)).toBe(NameInvalid)
    expect(validateTopicName("😀", noLimit, 4)).toBe(0) // 4 bytes, 2 UTF-16 units
    expect(validateTopicName("😀", noLimit, 3)).toBe(NameInvalid)
  })

  it("never accepts more than 65,535 bytes, whatever the configured limit [MQTT-4.7.3-3]", () => {
    expect(validateTopicName("a".repeat(65535), noLimit, 1e9)).toBe(0)
    expect(validateTopicName("a".repeat(65536), noLimit, 1e9)).toBe(NameInvalid)
    expect(validateTopicName("é".repeat(32768), noLimit, 1e9)).toBe(NameInvalid)
  })

  it("limits the number of levels, counting empty ones", () => {
    expect(validateTopicName("a/b/c", 3, wire)).toBe(0)
    expect(validateTopicName("a/b/c/d", 3, wire)).toBe(NameInvalid)
    expect(validateTopicName("a//", 3, wire)).toBe(0)
    expect(validateTopicName("///", 3, wire)).toBe(NameInvalid)
  })

  it.prop(
    "agrees with Buffer.byteLength on well-formed strings",
    [FastCheck.string({ unit: "binary", minLength: 1, maxLength: 20 })],
    ([s]) => {
      const bytes = Buffer.byteLength(s, "utf8")
      const hasForbidden = /[+#\u0000]/.test(s)
      expect(validateTopicName(s, noLimit, bytes)).toBe(hasForbidden ? NameInvalid : 0)
      expect(validateTopicName(s, noLimit, bytes - 1)).toBe(NameInvalid)
    }
  )
})

describe("validateTopicFilter", () => {
  const valid: ReadonlyArray<string> = [
    "a",
    "a/b/c",
    "#",
    "+",
    "+/+",
    "a/#",
    "a/+/b",
    "+/a/#",
    "/",
    "/#",
    "/+",
    "a//+",
    "+/",
    "$SYS/#",
    "$share/g/a/#",
    "日本/+/😀"
  ]
  for (const filter of valid) {
    it(`accepts ${JSON.stringify(filter)} [MQTT-4.7.1-2] [MQTT-4.7.1-3]`, () => {
      expect(validateTopicFilter(filter, noLimit, wire)).toBe(0)
    })
  }

  const invalid: ReadonlyArray<readonly [string, string]> = [
    ["an empty filter [MQTT-4.7.3-1]", ""],
    ["# not last [MQTT-4.7.1-2]", "a/#/b"],
    ["# followed by a slash [MQTT-4.7.1-2]", "#/"],
    ["# sharing a level, after [MQTT-4.7.1-2]", "a/b#"],
    ["# sharing a level, before [MQTT-4.7.1-2]", "a/#b"],
    ["## [MQTT-4.7.1-2]", "##"],
    ["+ sharing a level, after [MQTT-4.7.1-3]", "a/b+"],
    ["+ sharing a level, before [MQTT-4.7.1-3]", "a/+b/c"],
    ["+ sharing the first level [MQTT-4.7.1-3]", "+a"],
    ["++ [MQTT-4.7.1-3]", "++"],
    ["+# [MQTT-4.7.1-2]", "+#"],
    ["U+0000 [MQTT-4.7.3-2]", "a/\u0000"],
    ["a lone surrogate [MQTT-1.5.4-1]", "\ud800/#"]
  ]
  for (const [what, filter] of invalid) {
    it(`rejects ${what}: ${JSON.stringify(filter)}`, () => {
      expect(validateTopicFilter(filter, noLimit, wire)).toBe(FilterInvalid)
    })
  }

  it("limits UTF-8 byte length and levels [MQTT-4.7.3-3]", () => {
    expect(validateTopicFilter("a/+/日", noLimit, 7)).toBe(0)
    expect(validateTopicFilter("a/+/日", noLimit, 6)).toBe(FilterInvalid)
    expect(validateTopicFilter("a/+/#", 3, wire)).toBe(0)
    expect(validateTopicFilter("a/+/b/#", 3, wire)).toBe(FilterInvalid)
    expect(validateTopicFilter("#".padStart(65536, "a"), noLimit, 1e9)).toBe(FilterInvalid)
  })
})

describe("parseShared", () => {
  it("returns null for ordinary filters, including look-alikes", () => {
    for (const raw of ["a/b", "#", "$share", "$SHARE/g/a", "$shared/g/a", "share/g/a", "$sys/share/g"]) {
      expect(parseShared(raw)).toBeNull()
    }
  })

  it("parses $share/{group}/{filter} [MQTT-4.8.2-1]", () => {
    expect(parseShared("$share/g/a/b")).toEqual({ group: "g", filter: "a/b" })
    expect(parseShared("$share/consumers/sensor/+/temp")).toEqual({ group: "consumers", filter: "sensor/+/temp" })
    expect(parseShared("$share/g/#")).toEqual({ group: "g", filter: "#" })
    expect(parseShared("$share/g/+")).toEqual({ group: "g", filter: "+" })
    expect(parseShared("$share/g/$SYS/#")).toEqual({ group: "g", filter: "$SYS/#" })
  })

  it("keeps a filter that starts with a slash: $share/g//x is the filter /x [MQTT-4.8.2-2]", () => {
    expect(parseShared("$share/g//x")).toEqual({ group: "g", filter: "/x" })
    expect(parseShared("$share/g//")).toEqual({ group: "g", filter: "/" })
  })

  const malformed: ReadonlyArray<readonly [string, string]> = [
    ["an empty group [MQTT-4.8.2-1]", "$share//a"],
    ["no group at all [MQTT-4.8.2-1]", "$share/"],
    ["a group without a filter [MQTT-4.8.2-2]", "$share/g"],
    ["a group followed by an empty filter [MQTT-4.8.2-2]", "$share/g/"],
    ["+ in the group [MQTT-4.8.2-2]", "$share/g+/a"],
    ["a + group [MQTT-4.8.2-2]", "$share/+/a"],
    ["# in the group [MQTT-4.8.2-2]", "$share/#/a"],
    ["U+0000 in the group [MQTT-4.7.3-2]", "$share/g\u0000/a"],
    ["an invalid filter after the group [MQTT-4.7.1-2]", "$share/g/a/#/b"],
    ["a + sharing a level in the filter [MQTT-4.7.1-3]", "$share/g/a+"]
  ]
  for (const [what, raw] of malformed) {
    it(`rejects ${what}: ${JSON.stringify(raw)}`, () => {
      expect(parseShared(raw)).toBe(FilterInvalid)
    })
  }
})

describe("matches (reference matcher)", () => {
  const cases: ReadonlyArray<readonly [filter: string, topic: string, expected: boolean, why: string]> = [
    ["a/b", "a/b", true, "exact"],
    ["a/b", "a/c", false, "different last level"],
    ["a/b", "a", false, "filter longer than topic"],
    ["a", "a/b", false, "topic longer than filter"],
    ["A/b", "a/b", false, "case-sensitive"],
    ["a/+", "a/b", true, "+ matches one level [MQTT-4.7.1-3]"],
    ["a/+", "a/b/c", false, "+ matches only one level [MQTT-4.7.1-3]"],
    ["a/+", "a", false, "+ needs the level to exist"],
    ["a/+", "a/", true, "+ matches an empty level"],
    ["+/+", "/", true, "+ matches empty levels on both sides of /"],
    ["+", "/a", false, "+ does not span a leading /"],
    ["+/a", "/a", true, "leading / is an empty first level"],
    ["/+", "/a", true, "leading / in both"],
    ["a/+/c", "a//c", true, "+ matches an empty middle level"],
    ["a/#", "a/b/c", true, "# matches several levels [MQTT-4.7.1-2]"],
    ["a/#", "a", true, "# matches the parent level [MQTT-4.7.1-2]"],
    ["a/#", "a/", true, "# matches an empty level"],
    ["a/#", "ab", false, "# does not match a longer level name"],
    ["a/b/#", "a", false, "# matches only one parent level"],
    ["#", "a/b/c", true, "# alone matches everything"],
    ["#", "/", true, "# matches a topic of empty levels"],
    ["+/#", "a", true, "+/# matches a single level via the parent rule"],
    ["/#", "/a/b", true, "leading / then #"],
    ["/#", "a/b", false, "leading / is a level of its own"],
    ["a/", "a/", true, "trailing / is an empty last level"],
    ["a/", "a", false, "trailing / makes one more level"],
    ["#", "$SYS/uptime", false, "# does not match $ topics [MQTT-4.7.2-1]"],
    ["+/uptime", "$SYS/uptime", false, "+ does not match a $ first level [MQTT-4.7.2-1]"],
    ["+", "$", false, "+ does not match a bare $ [MQTT-4.7.2-1]"],
    ["$SYS/#", "$SYS/uptime", true, "$SYS/# matches $ topics [MQTT-4.7.2-1]"],
    ["$SYS/#", "$SYS", true, "$SYS/# matches $SYS by the parent rule"],
    ["$SYS/+", "$SYS/uptime", true, "+ after a literal $ level"],
    ["a/+", "a/$x", true, "$ only matters in the first level"],
    ["a/#", "a/$x", true, "$ only matters in the first level"]
  ]
  for (const [filter, topic, expected, why] of cases) {
    it(`${JSON.stringify(filter)} ${expected ? "matches" : "does not match"} ${JSON.stringify(topic)}: ${why}`, () => {
      expect(matches(filter, topic)).toBe(expected)
    })
  }
})
