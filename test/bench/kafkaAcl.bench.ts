/**
 * The per-request Kafka ACL check of one topic: with no ACL stored and acl_default = allow (one
 * boolean), a cached decision (a Map hit), and an uncached one against 100 literal and 20
 * prefixed bindings (the cost after every ACL change). Each bench call does 1,000 checks over
 * 50 topics: ns per check = 1e6 / hz.
 * Run: npx vitest bench --run test/bench/kafkaAcl.bench.ts
 */
import { bench, describe } from "vitest"
import { AclBinding, AclOperation, PatternType, Permission, ResourceType } from "../../domain/kafka/acl/AclBinding.js"
import { decideCreateAcls } from "../../domain/kafka/acl/decide.js"
import { emptyKafkaAclState, evolve } from "../../domain/kafka/acl/KafkaAclState.js"
import { ConnectionAcl } from "../../src/kafka/acl/ConnectionAcl.js"

const Ops = 1000
const state = emptyKafkaAclState()
const binding = (name: string, patternType: number) =>
  new AclBinding({ resourceType: ResourceType.Topic, resourceName: name, patternType, principal: "User:alice", host: "*", operation: AclOperation.Write, permission: Permission.Allow })
const bindings = [
  ...Array.from({ length: 100 }, (_, i) => binding(`topic-${i}`, PatternType.Literal)),
  ...Array.from({ length: 20 }, (_, i) => binding(`prefix-${i}-`, PatternType.Prefixed))
]
for (const e of decideCreateAcls(state, bindings).events) evolve(state, e)

const open = { state: emptyKafkaAclState(), generation: 0, defaultAllow: true, open: true }
const stored = { state, generation: 0, defaultAllow: true, open: false }
const topics = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? `topic-${i}` : `prefix-${i % 20}-x`))
let sink = 0

describe(`Kafka ACL check (x${Ops} per call)`, () => {
  const openAcl = new ConnectionAcl(open, "User:alice", "10.0.0.1")
  bench("no ACL stored, acl_default = allow", () => {
    for (let i = 0; i < Ops; i++) if (openAcl.allows(AclOperation.Write, ResourceType.Topic, topics[i % 50]!)) sink++
  })
  const cached = new ConnectionAcl(stored, "User:alice", "10.0.0.1")
  bench("120 bindings, decision cached", () => {
    for (let i = 0; i < Ops; i++) if (cached.allows(AclOperation.Write, ResourceType.Topic, topics[i % 50]!)) sink++
  })
  bench("120 bindings, uncached (after an ACL change)", () => {
    stored.generation++
    const fresh = new ConnectionAcl(stored, "User:alice", "10.0.0.1")
    for (let i = 0; i < Ops; i++) {
      stored.generation += i % 50 === 0 ? 1 : 0
      if (fresh.allows(AclOperation.Write, ResourceType.Topic, topics[i % 50]!)) sink++
    }
  })
})

export const _sink = () => sink
