/** The Kafka ACL domain: validation, filters, the create/delete decider, the read model and the authorizer. */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { AclBinding, type AclBindingFilter, AclOperation as Op, matchesFilter, PatternType, Permission, ResourceType as RT, validateBinding } from "../../domain/kafka/acl/AclBinding.js"
import { authorize } from "../../domain/kafka/acl/authorize.js"
import { decideCreateAcls, decideDeleteAcls, describeAcls } from "../../domain/kafka/acl/decide.js"
import { KafkaAclEvent } from "../../domain/kafka/acl/events.js"
import { emptyKafkaAclState, evolve, type KafkaAclState } from "../../domain/kafka/acl/KafkaAclState.js"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"

const binding = (over: Partial<AclBinding> = {}): AclBinding =>
  new AclBinding({ resourceType: RT.Topic, resourceName: "orders", patternType: PatternType.Literal, principal: "User:alice", host: "*", operation: Op.Write, permission: Permission.Allow, ...over })

const anyFilter: AclBindingFilter = { resourceType: RT.Any, resourceName: null, patternType: PatternType.Any, principal: null, host: null, operation: Op.Any, permission: Permission.Any }

const stateWith = (...bindings: Array<AclBinding>): KafkaAclState => {
  const state = emptyKafkaAclState()
  for (const e of decideCreateAcls(state, bindings).events) evolve(state, e)
  return state
}

const may = (state: KafkaAclState, principal: string, op: number, rt: number, name: string, defaultAllow = true, host = "10.0.0.1") =>
  authorize(state, principal, host, op, rt, name, defaultAllow)

describe("validateBinding", () => {
  it("accepts topic, group and cluster bindings with User principals", () => {
    expect(validateBinding(binding())).toBeNull()
    expect(validateBinding(binding({ resourceType: RT.Group, resourceName: "g", patternType: PatternType.Prefixed, operation: Op.Read }))).toBeNull()
    expect(validateBinding(binding({ resourceType: RT.Cluster, resourceName: "kafka-cluster", operation: Op.Alter }))).toBeNull()
    expect(validateBinding(binding({ principal: "User:*", permission: Permission.Deny, host: "10.0.0.2" }))).toBeNull()
  })

  it("refuses other resource types, filter-only values and odd principals, saying why", () => {
    expect(validateBinding(binding({ resourceType: RT.TransactionalId }))).toMatch(/resource type TransactionalId is not supported: use Topic \(2\), Group \(3\) or Cluster \(4\)/)
    expect(validateBinding(binding({ patternType: PatternType.Match }))).toMatch(/LITERAL \(3\) or PREFIXED \(4\)/)
    expect(validateBinding(binding({ operation: Op.Any }))).toMatch(/operation 1 cannot be stored/)
    expect(validateBinding(binding({ permission: Permission.Any }))).toMatch(/ALLOW \(3\) or DENY \(2\)/)
    expect(validateBinding(binding({ principal: "Group:ops" }))).toMatch(/use User:<name>/)
    expect(validateBinding(binding({ resourceType: RT.Cluster, resourceName: "other" }))).toMatch(/kafka-cluster/)
  })
})

describe("decideCreateAcls / decideDeleteAcls", () => {
  it("creates once: an existing or repeated binding succeeds without a second event", () => {
    const state = stateWith(binding())
    const { events, results } = decideCreateAcls(state, [binding(), binding({ operation: Op.Read }), binding({ operation: Op.Read })])
    expect(results.map((r) => r.errorCode)).toEqual([0, 0, 0])
    expect(events).toHaveLength(1)
    expect(events[0]!._tag).toBe("KafkaAclsCreated")
    expect((events[0] as { bindings: ReadonlyArray<AclBinding> }).bindings.map((b) => b.operation)).toEqual([Op.Read])
  })

  it("answers an invalid creation with INVALID_REQUEST and still creates the valid ones", () => {
    const { events, results } = decideCreateAcls(emptyKafkaAclState(), [binding({ resourceType: RT.User }), binding()])
    expect(results[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST)
    expect(results[1]).toEqual({ errorCode: 0, errorMessage: null })
    expect(events).toHaveLength(1)
  })

  it("deletes what filters match, each binding once, and the read model forgets it", () => {
    const state = stateWith(binding(), binding({ resourceName: "ord", patternType: PatternType.Prefixed, operation: Op.Read }), binding({ resourceType: RT.Group, resourceName: "g" }))
    const { events, results } = decideDeleteAcls(state, [{ ...anyFilter, resourceType: RT.Topic }, anyFilter])
    expect(results.map((r) => r.matching.length)).toEqual([2, 1])
    for (const e of events) evolve(state, e)
    expect([...state.bindings.values()].map((b) => b.resourceName)).toEqual([])
    expect(may(state, "User:bob", Op.Write, RT.Topic, "orders", false)).toBe(false)
  })

  it("events survive their Schema encoding (what the event store keeps)", () => {
    const { events } = decideCreateAcls(emptyKafkaAclState(), [binding()])
    const encoded = JSON.parse(JSON.stringify(Schema.encodeSync(KafkaAclEvent)(events[0]!)))
    expect(Schema.decodeUnknownSync(KafkaAclEvent)(encoded)).toEqual(events[0])
  })
})

describe("filters", () => {
  const literal = binding()
  const prefixed = binding({ resourceName: "ord", patternType: PatternType.Prefixed })
  const wildcard = binding({ resourceName: "*" })

  it("LITERAL and PREFIXED select that pattern type only; ANY both; MATCH what applies to the name", () => {
    const names = (f: Partial<AclBindingFilter>) =>
      [literal, prefixed, wildcard].filter((b) => matchesFilter(b, { ...anyFilter, ...f })).map((b) => `${b.patternType}:${b.resourceName}`)
    expect(names({ patternType: PatternType.Literal })).toEqual(["3:orders", "3:*"])
    expect(names({ patternType: PatternType.Prefixed })).toEqual(["4:ord"])
    expect(names({ patternType: PatternType.Any, resourceName: "ord" })).toEqual(["4:ord"])
    expect(names({ patternType: PatternType.Match, resourceName: "orders" })).toEqual(["3:orders", "4:ord", "3:*"])
    expect(names({ patternType: PatternType.Match, resourceName: "other" })).toEqual(["3:*"])
  })

  it("describeAcls keeps creation order and filters on principal, operation and permission", () => {
    const state = stateWith(literal, binding({ principal: "User:bob" }), binding({ operation: Op.Read, permission: Permission.Deny }))
    expect(describeAcls(state, { ...anyFilter, principal: "User:bob" }).map((b) => b.principal)).toEqual(["User:bob"])
    expect(describeAcls(state, { ...anyFilter, permission: Permission.Deny }).map((b) => b.operation)).toEqual([Op.Read])
    expect(describeAcls(state, { ...anyFilter, operation: Op.Write })).toHaveLength(2)
  })
})

describe("authorize", () => {
  it("no binding names the resource: the default decides", () => {
    const state = stateWith(binding())
    expect(may(state, "User:bob", Op.Read, RT.Topic, "other", true)).toBe(true)
    expect(may(state, "User:bob", Op.Read, RT.Topic, "other", false)).toBe(false)
    // Bindings exist for `orders`, none for bob: denied whatever the default.
    expect(may(state, "User:bob", Op.Write, RT.Topic, "orders", true)).toBe(false)
    expect(may(state, "User:alice", Op.Write, RT.Topic, "orders", false)).toBe(true)
  })

  it("Deny wins over Allow, also through User:*, All and prefixes", () => {
    const state = stateWith(
      binding({ operation: Op.All }),
      binding({ principal: "User:*", resourceName: "ord", patternType: PatternType.Prefixed, operation: Op.Write, permission: Permission.Deny })
    )
    expect(may(state, "User:alice", Op.Write, RT.Topic, "orders")).toBe(false)
    expect(may(state, "User:alice", Op.Read, RT.Topic, "orders")).toBe(true)
  })

  it("All covers every operation; Read/Write/Delete/Alter imply Describe; AlterConfigs implies DescribeConfigs", () => {
    const state = stateWith(
      binding({ operation: Op.Write }),
      binding({ resourceName: "cfg", operation: Op.AlterConfigs }),
      binding({ resourceType: RT.Group, resourceName: "g", operation: Op.All })
    )
    expect(may(state, "User:alice", Op.Describe, RT.Topic, "orders")).toBe(true)
    expect(may(state, "User:alice", Op.Read, RT.Topic, "orders")).toBe(false)
    expect(may(state, "User:alice", Op.DescribeConfigs, RT.Topic, "cfg")).toBe(true)
    expect(may(state, "User:alice", Op.Describe, RT.Topic, "cfg")).toBe(false)
    for (const op of [Op.Read, Op.Describe, Op.Delete]) expect(may(state, "User:alice", op, RT.Group, "g")).toBe(true)
  })

  it("a Deny of Read does not deny Describe (Kafka's rule), a Deny of All does", () => {
    const state = stateWith(binding({ operation: Op.All }), binding({ operation: Op.Read, permission: Permission.Deny }))
    expect(may(state, "User:alice", Op.Describe, RT.Topic, "orders")).toBe(true)
    expect(may(stateWith(binding({ operation: Op.Read }), binding({ operation: Op.All, permission: Permission.Deny })), "User:alice", Op.Describe, RT.Topic, "orders")).toBe(false)
  })

  it("hosts: * or the exact address; the literal wildcard resource applies to every name", () => {
    const state = stateWith(binding({ host: "10.0.0.9" }), binding({ resourceName: "*", operation: Op.Read }))
    expect(may(state, "User:alice", Op.Write, RT.Topic, "orders", false, "10.0.0.9")).toBe(true)
    expect(may(state, "User:alice", Op.Write, RT.Topic, "orders", false, "10.0.0.1")).toBe(false)
    expect(may(state, "User:alice", Op.Read, RT.Topic, "anything", false)).toBe(true)
  })
})
