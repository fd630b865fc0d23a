import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { matches } from "../../domain/topic/matches.js"
import { SubscriptionTrie } from "../../domain/topic/SubscriptionTrie.js"

const sorted = <A>(xs: Iterable<A>): Array<A> => [...xs].sort()

describe("SubscriptionTrie", () => {
  it("adds, replaces, gets and removes (filter, key) entries", () => {
    const trie = new SubscriptionTrie<number>()
    expect(trie.add("a/+", "c1", 0)).toBe(true)
    expect(trie.add("a/+", "c2", 1)).toBe(true)
    // [MQTT-3.8.4-3] a re-subscribe replaces the existing subscription
    expect(trie.add("a/+", "c1", 2)).toBe(false)
    expect(trie.size).toBe(2)
    expect(trie.get("a/+", "c1")).toBe(2)
    expect(trie.get("a/+", "c3")).toBeUndefined()
    expect(trie.get("a/b", "c1")).toBeUndefined()
    expect(trie.get("a", "c1")).toBeUndefined()
    expect(sorted(trie.match("a/x"))).toEqual([1, 2])
    expect(trie.remove("a/+", "c1")).toBe(true)
    expect(trie.remove("a/+", "c1")).toBe(false)
    expect(trie.remove("a/b", "c2")).toBe(false)
    expect(trie.remove("zz/#", "c2")).toBe(false)
    expect(trie.match("a/x")).toEqual([1])
    expect(trie.size).toBe(1)
  })

  it("returns one value per matching (filter, key), so a key can appear several times", () => {
    const trie = new SubscriptionTrie<string>()
    trie.add("a/b", "c1", "c1:exact")
    trie.add("a/+", "c1", "c1:plus")
    trie.add("#", "c1", "c1:all")
    trie.add("a/#", "c2", "c2:a")
    trie.add("b/#", "c3", "c3:b")
    expect(sorted(trie.match("a/b"))).toEqual(["c1:all", "c1:exact", "c1:plus", "c2:a"])
  })

  it("matches # against the parent level and + against empty levels [MQTT-4.7.1-2] [MQTT-4.7.1-3]", () => {
    const trie = new SubscriptionTrie<string>()
    trie.add("a/#", "k", "a/#")
    trie.add("+/+", "k", "+/+")
    trie.add("/+", "k", "/+")
    expect(trie.match("a")).toEqual(["a/#"])
    expect(sorted(trie.match("/"))).toEqual(["+/+", "/+"])
    expect(sorted(trie.match("a/"))).toEqual(["+/+", "a/#"])
    expect(trie.hasMatch("a")).toBe(true)
    expect(trie.hasMatch("b")).toBe(false)
  })

  it("does not match $ topics with leading wildcards [MQTT-4.7.2-1]", () => {
    const trie = new SubscriptionTrie<string>()
    trie.add("#", "k", "#")
    trie.add("+/uptime", "k", "+/uptime")
    trie.add("$SYS/#", "k", "$SYS/#")
    expect(trie.match("$SYS/uptime")).toEqual(["$SYS/#"])
    expect(trie.hasMatch("$other/uptime")).toBe(false)
    expect(sorted(trie.match("x/uptime"))).toEqual(["#", "+/uptime"])
  })

  it("returns a shared empty array, and cached arrays, without recomputing", () => {
    const trie = new SubscriptionTrie<number>()
    expect(trie.match("nobody")).toEqual([])
    expect(trie.match("nobody")).toBe(trie.match("nobody/else"))
    trie.add("a", "k", 1)
    const first = trie.match("a")
    expect(trie.match("a")).toBe(first)
    expect(Object.isFrozen(trie.match("nobody"))).toBe(true)
  })

  it("invalidates cached results on add, replace and remove", () => {
    const trie = new SubscriptionTrie<number>()
    expect(trie.match("a/b")).toEqual([])
    expect(trie.hasMatch("a/b")).toBe(false)
    trie.add("a/+", "k", 1)
    expect(trie.match("a/b")).toEqual([1])
    trie.add("a/+", "k", 2)
    expect(trie.match("a/b")).toEqual([2])
    trie.remove("a/+", "k")
    expect(trie.match("a/b")).toEqual([])
    expect(trie.hasMatch("a/b")).toBe(false)
  })

  it("keeps working when the cache fills up, and with the cache disabled", () => {
    for (const cacheSize of [0, 1, 2]) {
      const trie = new SubscriptionTrie<string>({ cacheSize })
      trie.add("t/+", "k", "v")
      for (let round = 0; round < 3; round++) {
        for (const topic of ["t/1", "t/2", "t/3", "u/1"]) {
          expect(trie.match(topic)).toEqual(topic.startsWith("t/") ? ["v"] : [])
        }
      }
    }
  })

  it("lists filters that hold entries", () => {
    const trie = new SubscriptionTrie<number>()
    for (const f of ["a/b", "a", "/x", "+/#", "#", "a//", "$SYS/+"]) trie.add(f, "k", 0)
    trie.add("a/b/c", "k", 0)
    trie.remove("a/b/c", "k")
    expect(sorted(trie.filters())).toEqual(sorted(["a/b", "a", "/x", "+/#", "#", "a//", "$SYS/+"]))
  })

  it("prunes empty nodes on remove", () => {
    const trie = new SubscriptionTrie<number>()
    trie.add("a/b/c", "k1", 0)
    trie.add("a/+/#", "k1", 0)
    trie.add("a/b", "k2", 0)
    expect(trie.nodeCount).toBe(5) // a, a/b, a/b/c, a/+, a/+/#
    trie.remove("a/b/c", "k1")
    expect(trie.nodeCount).toBe(4) // a/b stays: it still holds k2
    trie.remove("a/b", "k2")
    expect(trie.nodeCount).toBe(3) // a, a/+, a/+/#
    trie.remove("a/+/#", "k1")
    expect(trie.nodeCount).toBe(0)
    expect(trie.size).toBe(0)
    expect([...trie.filters()]).toEqual([])
  })

  it("rejects a # that is not the last level before changing anything (a caller bug)", () => {
    const trie = new SubscriptionTrie<number>()
    expect(() => trie.add("a/#/b", "k", 0)).toThrow()
    expect(trie.nodeCount).toBe(0)
  })
})

// A small alphabet makes collisions likely: `$x` exercises [MQTT-4.7.2-1], "" empty levels.
const level = FastCheck.constantFrom("a", "b", "$x", "")
const filterArb = FastCheck.tuple(
  FastCheck.array(FastCheck.oneof(level, FastCheck.constant("+")), { minLength: 0, maxLength: 3 }),
  FastCheck.boolean()
)
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
const topicArb = FastCheck.array(FastCheck.oneof(level, FastCheck.constant("c")), { minLength: 1, maxLength: 4 }).map(
  (levels) => levels.join("/")
)

describe("SubscriptionTrie agrees with the reference matcher", () => {
  it.prop(
    "match(topic) as a multiset equals the stored filters filtered by matches",
    [FastCheck.array(filterArb, { maxLength: 25 }), FastCheck.array(topicArb, { minLength: 1, maxLength: 15 })],
    ([filters, topics]) => {
      const trie = new SubscriptionTrie<number>()
      // One key per entry, so duplicate filters are distinct entries.
      filters.forEach((f, i) => trie.add(f, `k${i}`, i))
      expect(trie.size).toBe(filters.length)
      for (const topic of topics) {
        const expected = filters.flatMap((f, i) => (matches(f, topic) ? [i] : []))
        const numeric = (xs: ReadonlyArray<number>) => [...xs].sort((x, y) => x - y)
        expect(numeric(trie.match(topic))).toEqual(expected)
        // Again, now from the cache.
        expect(numeric(trie.match(topic))).toEqual(expected)
        expect(trie.hasMatch(topic)).toBe(expected.length > 0)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  const op = FastCheck.record({
    add: FastCheck.boolean(),
    filter: filterArb,
    key: FastCheck.constantFrom("k1", "k2", "k3"),
    value: FastCheck.nat(99)
  })

  it.prop(
    "stays correct through random add/remove sequences interleaved with cached matches",
    [
      FastCheck.array(op, { maxLength: 60 }),
      FastCheck.array(topicArb, { minLength: 1, maxLength: 6 }),
      FastCheck.constantFrom(0, 2, 10_000)
    ],
    ([ops, topics, cacheSize]) => {
      const trie = new SubscriptionTrie<string>({ cacheSize })
      const model = new Map<string, { filter: string; value: string }>()
      const check = () => {
        for (const topic of topics) {
          const expected = [...model.values()].filter((e) => matches(e.filter, topic)).map((e) => e.value)
          expect(sorted(trie.match(topic))).toEqual(sorted(expected))
          expect(trie.hasMatch(topic)).toBe(expected.length > 0)
        }
      }
      for (const { add, filter, key, value } of ops) {
        const id = `${filter}\u0000${key}`
        const v = `${key}=${value}@${filter}`
        if (add) {
          expect(trie.add(filter, key, v)).toBe(!model.has(id))
          model.set(id, { filter, value: v })
        } else {
          expect(trie.remove(filter, key)).toBe(model.delete(id))
        }
        expect(trie.size).toBe(model.size)
        check()
      }
      expect(sorted(trie.filters())).toEqual(sorted(new Set([...model.values()].map((e) => e.filter))))
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "prunes every node once every entry is removed, in any order",
    [FastCheck.array(FastCheck.tuple(filterArb, FastCheck.constantFrom("k1", "k2")), { maxLength: 40 })],
    ([entries]) => {
      const trie = new SubscriptionTrie<number>()
      entries.forEach(([f, k], i) => trie.add(f, k, i))
      // Remove in a different order from insertion, duplicates included (second remove is false).
      for (const [f, k] of [...entries].reverse().sort((x, y) => (x[0].length % 3) - (y[0].length % 3))) {
        trie.remove(f, k)
      }
      expect(trie.size).toBe(0)
      expect(trie.nodeCount).toBe(0)
      expect([...trie.filters()]).toEqual([])
      for (const [f] of entries) expect(trie.hasMatch(f.replace(/[+#]/g, "a"))).toBe(false)
    }
  )
})
