/**
 * What a JWT `acl` claim costs per message: ClientAcl.mayPublish on its per-topic cache (the
 * publish path) with an ACL file alone and with a claim too, and the read check of a filtered
 * subscription with both. Each bench call does 1,000 checks: ns per check = 1e6 / hz.
 * Run: npx vitest bench --run test/bench/aclClaim.bench.ts
 */
import { bench, describe } from "vitest"
import { compileAclClaim, parseAclClaim } from "../../domain/auth/aclClaim.js"
import { parseAclFile } from "../../domain/auth/aclFile.js"
import { ClientAcl } from "../../src/auth/ClientAcl.js"

const Ops = 1000
const parsed = parseAclFile("user u\ntopic readwrite #\ntopic deny secret/#")
if (parsed._tag !== "Parsed") throw new Error("acl")
const source = { generation: 0, rules: parsed.value }
const claim = parseAclClaim({ pub: ["devices/${clientid}/#"], sub: ["cmd/${clientid}/#", "site1/#"] })
if (typeof claim === "string") throw new Error(claim)
const fileOnly = new ClientAcl(source, "u", "c")
const withClaim = new ClientAcl(source, "u", "c", compileAclClaim(claim, "u", "c"))

const flat = (s: string) => Buffer.from(s).toString()
const publishTopics = Array.from({ length: 8 }, (_, i) => flat(`devices/c/sensor${i}`))
const readTopics = Array.from({ length: Ops }, (_, i) => flat(`site1/${i % 7 === 0 ? "private" : "dev"}/${i}/temp`))
let sink = 0

describe(`ACL with and without a JWT acl claim (x${Ops} per call)`, () => {
  bench("mayPublish, cached, ACL file only", () => {
    for (let i = 0; i < Ops; i++) if (fileOnly.mayPublish(publishTopics[i & 7]!)) sink++
  })
  bench("mayPublish, cached, ACL file + claim", () => {
    for (let i = 0; i < Ops; i++) if (withClaim.mayPublish(publishTopics[i & 7]!)) sink++
  })
  bench("read check, ACL file only", () => {
    const check = fileOnly.readCheck
    for (let i = 0; i < Ops; i++) if (check(readTopics[i]!)) sink++
  })
  bench("read check, ACL file + claim", () => {
    const check = withClaim.readCheck
    for (let i = 0; i < Ops; i++) if (check(readTopics[i]!)) sink++
  })
})

export { sink }
