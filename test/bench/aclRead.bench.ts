/**
 * The per-delivery ACL read check of a subscription granted in part (`#` under `topic readwrite #`
 * and `topic deny secret/#`), against the null test every other subscription pays. Each bench
 * call does 1,000 checks over 1,000 distinct topics: ns per check = 1e6 / hz.
 * Run: npx vitest bench --run test/bench/aclRead.bench.ts
 */
import { bench, describe } from "vitest"
import { parseAclFile } from "../../domain/auth/aclFile.js"
import { ClientAcl } from "../../src/auth/ClientAcl.js"
import type { ReadCheck } from "../../src/mqtt/engine/Subscriptions.js"

const Ops = 1000

const aclOf = (text: string): ClientAcl => {
  const parsed = parseAclFile(text)
  if (parsed._tag !== "Parsed") throw new Error(JSON.stringify(parsed.errors))
  return new ClientAcl({ generation: 0, rules: parsed.value }, "u", "c")
}
const small = aclOf("user u\ntopic readwrite #\ntopic deny secret/#")
const larger = aclOf(`user u\n${Array.from({ length: 10 }, (_, i) => `topic read site${i}/#\ntopic deny site${i}/private/#`).join("\n")}\npattern readwrite users/%u/#`)

const flat = (s: string) => Buffer.from(s).toString()
const topics = Array.from({ length: Ops }, (_, i) => flat(`site${i % 12}/${i % 7 === 0 ? "private" : "dev"}/${i}/temp`))

const unchecked: ReadCheck | null = null
let sink = 0

describe(`subscription read check (x${Ops} per call)`, () => {
  bench("check null (granted whole: the common case)", () => {
    const check = unchecked as ReadCheck | null
    for (let i = 0; i < Ops; i++) if (check === null || check(topics[i]!)) sink++
  })
  bench("check: 1 read + 1 deny rule", () => {
    const check = small.readCheck
    for (let i = 0; i < Ops; i++) if (check(topics[i]!)) sink++
  })
  bench("check: 11 read + 10 deny rules", () => {
    const check = larger.readCheck
    for (let i = 0; i < Ops; i++) if (check(topics[i]!)) sink++
  })
})

export { sink }
