/**
 * Kafka ACLs the Kafka way, with kafkajs against a real broker whose Kafka listener requires
 * SASL/PLAIN (users from a password file): admin.createAcls / describeAcls / deleteAcls round
 * trip (literal and prefixed filters), then enforcement: a producer without Write gets
 * TOPIC_AUTHORIZATION_FAILED, a consumer without Read on its group GROUP_AUTHORIZATION_FAILED,
 * Deny beats Allow, prefixed patterns apply, a superuser may do everything, Metadata hides
 * topics a principal may not Describe, ACLs survive a restart, `kafka.acl_default = "deny"`
 * denies what no ACL names, and only Alter on the Cluster lets a client create ACLs.
 */
import { AclOperationTypes as Op, AclPermissionTypes as Perm, AclResourceTypes as RT, type Kafka, ResourcePatternTypes as PT } from "kafkajs"
import { describe, expect, it } from "vitest"
import { authDir, writeUsers } from "../auth/authFiles.js"
import { useBrokers } from "../support/lifecycle.js"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { kafkaClient, useKafkaClients } from "../support/kafka.js"
import { useKafkaWires } from "../support/KafkaWire.js"
import type { TestBroker, TestBrokerOptions } from "../support/TestBroker.js"

const life = useBrokers()
const clients = useKafkaClients()
const wires = useKafkaWires()
const dir = authDir()

const USERS = { admin: "adm1", alice: "a1", bob: "b1", root: "r1" }

/** A broker requiring SASL/PLAIN, `root` a superuser; `kafka` options merged in. */
const aclBroker = (options: TestBrokerOptions = {}): Promise<TestBroker> =>
  life.broker({
    storage: "sqlite",
    ...options,
    auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), superusers: ["root"], ...options.auth }
  })

const as = (b: TestBroker, user: keyof typeof USERS): Kafka =>
  kafkaClient(b.kafkaPort, `acl-${user}`, { sasl: { mechanism: "plain", username: user, password: USERS[user] }, retry: { retries: 0 } })

interface Grant {
  readonly resourceType?: RT
  readonly resourceName: string
  readonly pattern?: PT
  readonly user: string
  readonly operation: Op
  readonly permission?: Perm
}

const acl = (g: Grant) => ({
  resourceType: g.resourceType ?? RT.TOPIC,
  resourceName: g.resourceName,
  resourcePatternType: g.pattern ?? PT.LITERAL,
  principal: `User:${g.user}`,
  host: "*",
  operation: g.operation,
  permissionType: g.permission ?? Perm.ALLOW
})

/** Grants as the superuser. */
const grant = async (b: TestBroker, ...grants: Array<Grant>) => {
  const admin = await clients.admin(as(b, "root"))
  await admin.createAcls({ acl: grants.map(acl) })
}

const errorOf = (p: Promise<unknown>): Promise<{ name?: string; type?: string; message: string } | null> =>
  p.then(() => null, (e: { name?: string; type?: string; message: string }) => e)

describe("CreateAcls, DescribeAcls, DeleteAcls with kafkajs", () => {
  it("round trip with literal, prefixed and match filters", async () => {
    const b = await aclBroker()
    const admin = await clients.admin(as(b, "root"))
    await admin.createAcls({
      acl: [
        acl({ resourceName: "orders", user: "alice", operation: Op.WRITE }),
        acl({ resourceName: "ord", pattern: PT.PREFIXED, user: "bob", operation: Op.READ }),
        acl({ resourceType: RT.GROUP, resourceName: "billing", user: "bob", operation: Op.READ }),
        acl({ resourceName: "orders", user: "alice", operation: Op.WRITE }) // again: stored once
      ]
    })
    const all = await admin.describeAcls({
      resourceType: RT.ANY, resourcePatternType: PT.ANY, operation: Op.ANY, permissionType: Perm.ANY
    })
    expect(all.resources).toEqual([
      { resourceType: RT.TOPIC, resourceName: "orders", resourcePatternType: PT.LITERAL, acls: [{ principal: "User:alice", host: "*", operation: Op.WRITE, permissionType: Perm.ALLOW }] },
      { resourceType: RT.TOPIC, resourceName: "ord", resourcePatternType: PT.PREFIXED, acls: [{ principal: "User:bob", host: "*", operation: Op.READ, permissionType: Perm.ALLOW }] },
      { resourceType: RT.GROUP, resourceName: "billing", resourcePatternType: PT.LITERAL, acls: [{ principal: "User:bob", host: "*", operation: Op.READ, permissionType: Perm.ALLOW }] }
    ])
    const prefixed = await admin.describeAcls({ resourceType: RT.TOPIC, resourcePatternType: PT.PREFIXED, operation: Op.ANY, permissionType: Perm.ANY })
    expect(prefixed.resources.map((r) => r.resourceName)).toEqual(["ord"])
    const applying = await admin.describeAcls({ resourceType: RT.TOPIC, resourceName: "orders", resourcePatternType: PT.MATCH, operation: Op.ANY, permissionType: Perm.ANY })
    expect(applying.resources.map((r) => `${r.resourcePatternType}:${r.resourceName}`)).toEqual([`${PT.LITERAL}:orders`, `${PT.PREFIXED}:ord`])
    const bobs = await admin.describeAcls({ resourceType: RT.ANY, resourcePatternType: PT.ANY, principal: "User:bob", operation: Op.ANY, permissionType: Perm.ANY })
    expect(bobs.resources.map((r) => r.resourceName)).toEqual(["ord", "billing"])

    const deleted = await admin.deleteAcls({
      filters: [{ resourceType: RT.TOPIC, resourcePatternType: PT.PREFIXED, operation: Op.ANY, permissionType: Perm.ANY }]
    })
    expect(deleted.filterResponses).toHaveLength(1)
    expect(deleted.filterResponses[0]!.errorCode).toBe(0)
    expect(deleted.filterResponses[0]!.matchingAcls).toMatchObject([{ resourceName: "ord", resourcePatternType: PT.PREFIXED, principal: "User:bob", operation: Op.READ }])
    const left = await admin.describeAcls({ resourceType: RT.ANY, resourcePatternType: PT.ANY, operation: Op.ANY, permissionType: Perm.ANY })
    expect(left.resources.map((r) => r.resourceName)).toEqual(["orders", "billing"])
  })

  it("refuses what cannot be stored with INVALID_REQUEST and a message saying why (flexible v3 too)", async () => {
    const b = await aclBroker()
    const root = await clients.admin(as(b, "root"))
    const invalid = await errorOf(root.createAcls({ acl: [acl({ resourceType: RT.TRANSACTIONAL_ID, resourceName: "tx", user: "alice", operation: Op.WRITE })] }))
    expect(invalid?.type).toBe("INVALID_REQUEST")
    // The message, as Kafka's AdminClient (v3, flexible) reads it; an open broker needs no SASL.
    const open = await life.broker({})
    const wire = await wires.connect(open.kafkaPort)
    const creation = { resourceType: 5, resourceName: "tx", resourcePatternType: 3, principal: "User:alice", host: "*", operation: 4, permissionType: 3 }
    const answer = await wire.request(ApiKey.CreateAcls, 3, { creations: [creation, { ...creation, resourceType: 2, principal: "alice" }, { ...creation, resourceType: 2 }] })
    expect(answer.results).toEqual([
      { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "resource type TransactionalId is not supported: use Topic (2), Group (3) or Cluster (4)" },
      { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `principal "alice" is not supported: use User:<name> (or User:*)` },
      { errorCode: 0, errorMessage: null }
    ])
    const described = await wire.request(ApiKey.DescribeAcls, 3, { resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: 1, principalFilter: null, hostFilter: null, operation: 1, permissionType: 1 })
    expect(described.resources).toEqual([{ resourceType: 2, resourceName: "tx", patternType: 3, acls: [{ principal: "User:alice", host: "*", operation: 4, permissionType: 3 }] }])
  })

  it("refuses createAcls and describeAcls without Alter / Describe on the Cluster", async () => {
    const b = await aclBroker()

    // alice has no Alter on the Cluster: refused (an ACL must exist for the Cluster, else the default allows).
    await grant(b, { resourceType: RT.CLUSTER, resourceName: "kafka-cluster", user: "admin", operation: Op.ALTER })
    const alice = await clients.admin(as(b, "alice"))
    const refused = await errorOf(alice.createAcls({ acl: [acl({ resourceName: "mine", user: "alice", operation: Op.ALL })] }))
    expect(refused?.type).toBe("CLUSTER_AUTHORIZATION_FAILED")
    const describeRefused = await errorOf(alice.describeAcls({ resourceType: RT.ANY, resourcePatternType: PT.ANY, operation: Op.ANY, permissionType: Perm.ANY }))
    expect(describeRefused?.type).toBe("CLUSTER_AUTHORIZATION_FAILED")
    // admin has it (Alter also implies Describe).
    const admin = await clients.admin(as(b, "admin"))
    await admin.createAcls({ acl: [acl({ resourceName: "mine", user: "alice", operation: Op.ALL })] })
    const listed = await admin.describeAcls({ resourceType: RT.TOPIC, resourcePatternType: PT.ANY, operation: Op.ANY, permissionType: Perm.ANY })
    expect(listed.resources.map((r) => r.resourceName)).toEqual(["mine"])
  })
})
