/**
 * Kafka ACLs the Kafka way, with kafkajs against a real broker whose Kafka listener requires
 * SASL/PLAIN (users from a password file): admin.createAcls / describeAcls / deleteAcls round
 * trip (literal and prefixed filters), then enforcement: a producer without Write gets
 * TOPIC_AUTHORIZATION_FAILED, a consumer without Read on its group GROUP_AUTHORIZATION_FAILED,
 * Deny beats Allow, prefixed patterns apply, a superuser may do everything, Metadata hides
 * topics a principal may not Describe, ACLs survive a restart, `kafka.acl_default = "deny"`
 * denies what no ACL names, only Alter on the Cluster lets a client create ACLs, and with mTLS
 * and `tls.cn_as_username` the certificate's CN is the principal.
 */
import { AclOperationTypes as Op, AclPermissionTypes as Perm, AclResourceTypes as RT, ConfigResourceTypes, type Kafka, ResourcePatternTypes as PT } from "kafkajs"
import { describe, expect, it } from "vitest"
import { authDir, writeUsers } from "../auth/authFiles.js"
import { readFileSync } from "node:fs"
import { useCertificates } from "../support/certificates.js"
import { useBrokers } from "../support/lifecycle.js"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { consumeN, kafkaClient, useKafkaClients, waitFor } from "../support/kafka.js"
import { useKafkaWires } from "../support/KafkaWire.js"
import type { TestBroker, TestBrokerOptions } from "../support/TestBroker.js"

const life = useBrokers()
const clients = useKafkaClients()
const wires = useKafkaWires()
const dir = authDir()
const certs = useCertificates({ clientName: "kafka-client" })

const USERS = { admin: "adm1", alice: "a1", bob: "b1", root: "r1" }

/** A broker requiring SASL/PLAIN, `root` a superuser; `kafka` options merged in. */
const aclBroker = (options: TestBrokerOptions = {}): Promise<TestBroker> =>
  life.broker({
    storage: "sqlite",
    ...options,
    auth: { allowAnonymous: false, passwordFile: writeUsers(dir, USERS), superusers: ["root"], ...options.auth }
  })

/** A kafkajs client of `user`; no retries unless asked (idempotent producers need some). */
const as = (b: TestBroker, user: keyof typeof USERS, retries = 0): Kafka =>
  kafkaClient(b.kafkaPort, `acl-${user}`, { sasl: { mechanism: "plain", username: user, password: USERS[user] }, retry: { retries } })

/** A raw Kafka connection authenticated as `user` (SASL/PLAIN). */
const wireAs = async (b: TestBroker, user: keyof typeof USERS) => {
  const wire = await wires.connect(b.kafkaPort)
  await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })
  const auth = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(`\u0000${user}\u0000${USERS[user]}`) })
  expect(auth.errorCode).toBe(0)
  return wire
}

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

interface ClientError {
  readonly name?: string
  readonly type?: string
  readonly message: string
  readonly cause?: ClientError
  readonly originalError?: ClientError
  readonly errors?: ReadonlyArray<ClientError>
}

const errorOf = (p: Promise<unknown>): Promise<ClientError | null> => p.then(() => null, (e: ClientError) => e)

/** The Kafka error type of a kafkajs error, also when it is wrapped (retries exceeded). */
const typeOf = (e: ClientError | null | undefined): string | undefined =>
  e == null ? undefined : e.type ?? typeOf(e.originalError) ?? typeOf(e.cause) ?? typeOf(e.errors?.[0])

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

describe("enforcement on Kafka clients", () => {
  it("a producer without Write gets TOPIC_AUTHORIZATION_FAILED, and may produce once granted (same connection)", async () => {
    const b = await aclBroker()
    await grant(b, { resourceName: "orders", user: "alice", operation: Op.DESCRIBE }, { resourceName: "orders", user: "root", operation: Op.ALL })
    const root = await clients.producer(as(b, "root"))
    await root.send({ topic: "orders", messages: [{ value: "from root" }] })
    const alice = await clients.producer(as(b, "alice"))
    const refused = await errorOf(alice.send({ topic: "orders", messages: [{ value: "x" }] }))
    expect(typeOf(refused)).toBe("TOPIC_AUTHORIZATION_FAILED")
    // The decision cache of alice's live connection is dropped when the ACLs change.
    await grant(b, { resourceName: "orders", user: "alice", operation: Op.WRITE })
    const [sent] = await alice.send({ topic: "orders", messages: [{ value: "from alice" }] })
    expect(sent!.errorCode).toBe(0)
    expect(sent!.baseOffset).toBe("1")
  })

  it("a consumer without Read on its group gets GROUP_AUTHORIZATION_FAILED; with it, it consumes", async () => {
    const b = await aclBroker()
    // alice may Describe the group (so FindCoordinator answers, as on Kafka) but not Read it.
    await grant(b,
      { resourceName: "events", user: "alice", operation: Op.READ },
      { resourceType: RT.GROUP, resourceName: "billing", user: "alice", operation: Op.DESCRIBE },
      { resourceType: RT.GROUP, resourceName: "payroll", user: "bob", operation: Op.READ })
    const root = await clients.producer(as(b, "root"))
    await root.send({ topic: "events", messages: [{ value: "e1" }] })

    const crashOf = async (groupId: string): Promise<ClientError> => {
      const consumer = await clients.consumer(as(b, "alice"), { groupId })
      let crash: ClientError | undefined
      consumer.on(consumer.events.CRASH, (e) => void (crash = e.payload.error as ClientError))
      await consumer.subscribe({ topic: "events", fromBeginning: true })
      await consumer.run({ eachMessage: async () => {} })
      await waitFor(() => crash !== undefined, 10_000, () => `the consumer's crash (group ${groupId})`)
      return crash!
    }
    expect(typeOf(await crashOf("billing"))).toBe("GROUP_AUTHORIZATION_FAILED")
    // Not even Describe: FindCoordinator is refused with GROUP_AUTHORIZATION_FAILED, which
    // kafkajs reports as "coordinator not found" (it drops the code, with a Kafka broker too).
    expect((await crashOf("payroll")).name).toBe("KafkaJSGroupCoordinatorNotFound")
    const wire = await wireAs(b, "alice")
    const found = await wire.request(ApiKey.FindCoordinator, 1, { key: "payroll", keyType: 0 })
    expect(found.errorCode).toBe(ErrorCode.GROUP_AUTHORIZATION_FAILED)

    await grant(b, { resourceType: RT.GROUP, resourceName: "billing", user: "alice", operation: Op.READ })
    const again = await clients.consumer(as(b, "alice"), { groupId: "billing" })
    const got = await consumeN(again, "events", 1)
    expect(got.map((m) => m.value)).toEqual(["e1"])
  })

  it("Deny beats Allow, and a prefixed pattern applies to every topic it starts", async () => {
    const b = await aclBroker()
    await grant(b,
      { resourceName: "logs-", pattern: PT.PREFIXED, user: "alice", operation: Op.ALL },
      { resourceName: "logs-secret", user: "alice", operation: Op.WRITE, permission: Perm.DENY })
    const alice = await clients.producer(as(b, "alice"))
    await alice.send({ topic: "logs-app", messages: [{ value: "ok" }] })
    await alice.send({ topic: "logs-web", messages: [{ value: "ok" }] })
    expect(typeOf(await errorOf(alice.send({ topic: "logs-secret", messages: [{ value: "no" }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    // bob is named by no binding, but the prefix names the topic: denied, whatever the default.
    const bob = await clients.producer(as(b, "bob"))
    expect(typeOf(await errorOf(bob.send({ topic: "logs-app", messages: [{ value: "no" }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    // A topic no binding names follows acl_default (allow).
    await bob.send({ topic: "free", messages: [{ value: "ok" }] })
  })

  it("Metadata hides a topic the principal may not Describe", async () => {
    const b = await aclBroker()
    const root = await clients.admin(as(b, "root"))
    await root.createTopics({ topics: [{ topic: "visible" }, { topic: "hidden" }] })
    await grant(b, { resourceName: "visible", user: "alice", operation: Op.READ }, { resourceName: "hidden", user: "bob", operation: Op.DESCRIBE })
    const alice = await clients.admin(as(b, "alice"))
    const topics = await alice.listTopics()
    expect(topics).toContain("visible")
    expect(topics).not.toContain("hidden")
    expect(await root.listTopics()).toEqual(expect.arrayContaining(["visible", "hidden"]))
    const asked = await errorOf(alice.fetchTopicMetadata({ topics: ["hidden"] }))
    expect(typeOf(asked)).toBe("TOPIC_AUTHORIZATION_FAILED")
  })

  it("ACLs survive a restart (replayed from the kafka-acl stream)", async () => {
    const b = await aclBroker()
    await grant(b, { resourceName: "kept", user: "bob", operation: Op.WRITE }, { resourceName: "kept", user: "alice", operation: Op.WRITE, permission: Perm.DENY })
    const restarted = life.adopt(await b.restart())
    const root = await clients.admin(as(restarted, "root"))
    const listed = await root.describeAcls({ resourceType: RT.TOPIC, resourceName: "kept", resourcePatternType: PT.LITERAL, operation: Op.ANY, permissionType: Perm.ANY })
    expect(listed.resources).toEqual([{
      resourceType: RT.TOPIC, resourceName: "kept", resourcePatternType: PT.LITERAL,
      acls: [
        { principal: "User:bob", host: "*", operation: Op.WRITE, permissionType: Perm.ALLOW },
        { principal: "User:alice", host: "*", operation: Op.WRITE, permissionType: Perm.DENY }
      ]
    }])
    const alice = await clients.producer(as(restarted, "alice"))
    expect(typeOf(await errorOf(alice.send({ topic: "kept", messages: [{ value: "no" }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    const bob = await clients.producer(as(restarted, "bob"))
    await bob.send({ topic: "kept", messages: [{ value: "yes" }] })
  })

  it("acl_default = deny: what no ACL names is denied, and a superuser may do everything", async () => {
    const b = await aclBroker({ kafka: { aclDefault: "deny" } })
    const root = await clients.admin(as(b, "root"))
    await root.createTopics({ topics: [{ topic: "work", numPartitions: 2 }] })
    const rootProducer = await clients.producer(as(b, "root"))
    await rootProducer.send({ topic: "work", messages: [{ key: "k", value: "v" }] })
    const rootConsumer = await clients.consumer(as(b, "root"), { groupId: "root-group" })
    expect((await consumeN(rootConsumer, "work", 1)).map((m) => m.value)).toEqual(["v"])
    await root.createPartitions({ topicPartitions: [{ topic: "work", count: 3 }] })
    expect((await root.fetchTopicMetadata({ topics: ["work"] })).topics[0]!.partitions).toHaveLength(3)

    const alice = await clients.admin(as(b, "alice"))
    expect(await alice.listTopics()).toEqual([])
    expect(typeOf(await errorOf(alice.createTopics({ topics: [{ topic: "mine" }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    expect(typeOf(await errorOf(alice.deleteTopics({ topics: ["work"] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    const producer = await clients.producer(as(b, "alice"))
    expect(typeOf(await errorOf(producer.send({ topic: "work", messages: [{ value: "no" }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    expect(typeOf(await errorOf(alice.createAcls({ acl: [acl({ resourceName: "work", user: "alice", operation: Op.ALL })] })))).toBe("CLUSTER_AUTHORIZATION_FAILED")

    await root.deleteTopics({ topics: ["work"] })
    expect(await root.listTopics()).not.toContain("work")
  })
})

describe("admin and group APIs under acl_default = deny", () => {
  it("configs, records, groups and idempotent producers each need their operation", async () => {
    const b = await aclBroker({ kafka: { aclDefault: "deny" } })
    const root = await clients.admin(as(b, "root"))
    await root.createTopics({ topics: [{ topic: "cfg" }, { topic: "mine" }] })
    const rootProducer = await clients.producer(as(b, "root"))
    await rootProducer.send({ topic: "mine", messages: [{ value: "a" }, { value: "b" }] })
    await grant(b,
      { resourceName: "cfg", user: "alice", operation: Op.DESCRIBE },
      { resourceName: "mine", user: "alice", operation: Op.ALL },
      { resourceType: RT.GROUP, resourceName: "g-", pattern: PT.PREFIXED, user: "alice", operation: Op.READ })
    const alice = await clients.admin(as(b, "alice"))

    // DescribeConfigs: Describe is not DescribeConfigs; broker configs need it on the cluster.
    const described = await alice.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: "mine" }], includeSynonyms: false })
    expect(described.resources[0]!.errorCode).toBe(0)
    expect(typeOf(await errorOf(alice.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: "cfg" }], includeSynonyms: false })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    expect(typeOf(await errorOf(alice.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: "0" }], includeSynonyms: false })))).toBe("CLUSTER_AUTHORIZATION_FAILED")
    expect(typeOf(await errorOf(alice.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "cfg", configEntries: [{ name: "retention.ms", value: "1000" }] }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
    await alice.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "mine", configEntries: [{ name: "retention.ms", value: "100000" }] }] })

    // DeleteRecords and CreatePartitions: Delete / Alter on the topic.
    await alice.deleteTopicRecords({ topic: "mine", partitions: [{ partition: 0, offset: "1" }] })
    expect(typeOf(await errorOf(alice.createPartitions({ topicPartitions: [{ topic: "cfg", count: 2 }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")

    // Groups: Read on g-* implies Describe; other groups are refused or left out.
    const consumer = await clients.consumer(as(b, "alice"), { groupId: "g-one" })
    expect((await consumeN(consumer, "mine", 1)).map((m) => m.value)).toEqual(["b"])
    await root.createTopics({ topics: [{ topic: "other" }] })
    const rootConsumer = await clients.consumer(as(b, "root"), { groupId: "h-root" })
    await rootProducer.send({ topic: "other", messages: [{ value: "x" }] })
    await consumeN(rootConsumer, "other", 1)
    expect((await alice.listGroups()).groups.map((g) => g.groupId)).toEqual(["g-one"])
    expect((await root.listGroups()).groups.map((g) => g.groupId).sort()).toEqual(["g-one", "h-root"])
    // kafkajs stops at FindCoordinator (refused, reported as "coordinator not found"); on the wire:
    const wire = await wireAs(b, "alice")
    const fetched = await wire.request(ApiKey.OffsetFetch, 5, { groupId: "h-root", topics: [{ name: "other", partitionIndexes: [0] }] })
    expect(fetched.errorCode).toBe(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    const mineOffsets = await wire.request(ApiKey.OffsetFetch, 5, { groupId: "g-one", topics: [{ name: "mine", partitionIndexes: [0] }, { name: "other", partitionIndexes: [0] }] })
    expect(mineOffsets.topics.map((t) => [t.name, t.partitions[0]!.errorCode])).toEqual([["mine", 0], ["other", ErrorCode.TOPIC_AUTHORIZATION_FAILED]])
    const deleted = await wire.request(ApiKey.DeleteGroups, 1, { groupsNames: ["h-root"] })
    expect(deleted.results).toEqual([{ groupId: "h-root", errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }])
    const groups = await wire.request(ApiKey.DescribeGroups, 4, { groups: ["h-root", "g-one"], includeAuthorizedOperations: false })
    expect(groups.groups.map((g) => [g.groupId, g.errorCode])).toEqual([["g-one", 0], ["h-root", ErrorCode.GROUP_AUTHORIZATION_FAILED]])
    expect(await root.listGroups().then((r) => r.groups.length)).toBe(2)

    // InitProducerId: IdempotentWrite on the cluster, or Write on some topic (alice has All on mine).
    const idempotent = await clients.producer(as(b, "alice", 2), { idempotent: true, maxInFlightRequests: 1 })
    await idempotent.send({ topic: "mine", messages: [{ value: "c" }] })
    // kafkajs asks for its producer id at connect.
    const bobIdempotent = clients.track(as(b, "bob", 2).producer({ idempotent: true, maxInFlightRequests: 1 }))
    expect(typeOf(await errorOf(bobIdempotent.connect()))).toBe("CLUSTER_AUTHORIZATION_FAILED")
  })
})

describe("principal of a TLS client certificate", () => {
  it("with tls.cn_as_username the verified CN is the principal (here a superuser under acl_default = deny)", async () => {
    const c = certs.get()
    const b = await life.broker({
      kafka: { tlsPort: 0, aclDefault: "deny" },
      auth: { superusers: ["kafka-client"] },
      tls: { certFile: c.serverCert, keyFile: c.serverKey, caFile: c.caCert, verifyClient: "required", cnAsUsername: true }
    })
    const ssl = { ca: [readFileSync(c.caCert)], cert: readFileSync(c.clientCert), key: readFileSync(c.clientKey) }
    const certified = await clients.producer(kafkaClient(b.kafkaTlsPort, "cn-client", { ssl }))
    await certified.send({ topic: "by-cert", messages: [{ value: "ok" }] })
    // The same broker on its plain listener: User:ANONYMOUS, named by no ACL, denied.
    const anonymous = await clients.producer(kafkaClient(b.kafkaPort, "anonymous", { retry: { retries: 0 } }))
    expect(typeOf(await errorOf(anonymous.send({ topic: "by-cert", messages: [{ value: "no" }] })))).toBe("TOPIC_AUTHORIZATION_FAILED")
  })
})
