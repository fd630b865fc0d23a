/**
 * Topic matching on the PUBLISH hot path: SubscriptionTrie.match with and without its result
 * cache, against the reference matcher as a linear scan, plus topic validation. Each bench call
 * does 1,000 operations over 1,000 distinct topics, because a single sub-microsecond call is
 * smaller than the harness's own timing noise: ns per operation = 1e6 / hz.
 * Run: npx vitest bench --run test/bench/trie.bench.ts
 */
import { bench, describe } from "vitest"
import { matches } from "../../domain/topic/matches.js"
import { SubscriptionTrie } from "../../domain/topic/SubscriptionTrie.js"
import { validateTopicFilter } from "../../domain/topic/TopicFilter.js"
import { validateTopicName } from "../../domain/topic/TopicName.js"

const Devices = 10_000
const Ops = 1000

/** 10k `dev/<n>/+/temp` subscriptions, a `dev/<n>/#` per hundred devices, and a few broad filters. */
const subscriptions: ReadonlyArray<readonly [filter: string, key: string]> = (() => {
  const subs: Array<readonly [string, string]> = []
  for (let n = 0; n < Devices; n++) subs.push([`dev/${n}/+/temp`, `client-${n}`])
  for (let n = 0; n < Devices; n += 100) subs.push([`dev/${n}/#`, `auditor-${n}`])
  subs.push(["+/+/+/humidity", "humidity"], ["$SYS/#", "monitor"], ["alerts/#", "alerts"])
  return subs
})()

const build = (cacheSize: number) => {
  const trie = new SubscriptionTrie<string>({ cacheSize })
  for (const [filter, key] of subscriptions) trie.add(filter, key, key)
  return trie
}

// Deterministic pseudo-random topics; 1,000 distinct ones, so all of them fit the default cache.
// Flattened once (as strings decoded from a socket are), so the first bench does not pay for it.
let seed = 42
const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
const flat = (s: string) => Buffer.from(s).toString()
const topics: Array<string> = []
for (let i = 0; i < Ops; i++) {
  topics.push(flat(`dev/${Math.floor(random() * Devices)}/sensor-${i % 8}/${i % 5 === 0 ? "humidity" : "temp"}`))
}
const missTopics = topics.map((t) => flat(`other/${t}`))
const filters = subscriptions.map(([f]) => flat(f))

const cached = build(10_000)
const uncached = build(0)
for (const t of topics) cached.match(t)

let sink = 0

describe(`SubscriptionTrie.match, ${subscriptions.length} subscriptions (x${Ops} per call)`, () => {
  bench("cached (hit)", () => {
    for (let i = 0; i < Ops; i++) sink += cached.match(topics[i]!).length
  })
  bench("uncached (cacheSize 0)", () => {
    for (let i = 0; i < Ops; i++) sink += uncached.match(topics[i]!).length
  })
  bench("uncached, no subscriber", () => {
    for (let i = 0; i < Ops; i++) sink += uncached.match(missTopics[i]!).length
  })
  bench("hasMatch, uncached", () => {
    for (let i = 0; i < Ops; i++) sink += uncached.hasMatch(topics[i]!) ? 1 : 0
  })
})

describe(`reference matcher, linear scan over ${subscriptions.length} subscriptions (x1 per call)`, () => {
  let i = 0
  bench("matches() over every filter", () => {
    const topic = topics[i++ % Ops]!
    for (let j = 0; j < filters.length; j++) if (matches(filters[j]!, topic)) sink++
  })
})

describe(`SubscriptionTrie churn (x${Ops} per call)`, () => {
  // A client subscribing and unsubscribing while publishes hit the cache: each change clears it.
  const trie = build(10_000)
  bench("add + remove + match", () => {
    for (let i = 0; i < Ops; i++) {
      trie.add(`dev/${i}/+/pressure`, "churn", "churn")
      trie.remove(`dev/${i}/+/pressure`, "churn")
      sink += trie.match(topics[i]!).length
    }
  })
})

describe(`validation (x${Ops} per call)`, () => {
  bench("validateTopicName dev/1234/sensor-3/temp", () => {
    for (let i = 0; i < Ops; i++) sink += validateTopicName(topics[i]!, 128, 65535)
  })
  bench("validateTopicFilter dev/1234/+/temp", () => {
    for (let i = 0; i < Ops; i++) sink += validateTopicFilter(filters[i]!, 128, 65535)
  })
})

export { sink }
