/**
 * The admin API's Kafka routes through real HTTP and real kafkajs clients: a topic created over
 * the API is produced to and consumed with kafkajs, its high watermarks follow the records, its
 * configs change (kafkajs's DescribeConfigs agrees), and deleting it removes it from kafkajs's
 * metadata; a kafkajs consumer group shows its members, assignment, committed offsets and lag,
 * cannot be deleted while it has members (409), and can once they left. Bad input: 400, 404, 401,
 * and a broker with Kafka off says so.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kafkaClient, useKafkaClients, waitFor } from "../support/kafka.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const TOKEN = "test-admin-token-kafka-0123456789"
const auth = { authorization: `Bearer ${TOKEN}` }

interface Answer<T> {
  readonly status: number
  readonly body: T
}

/** One admin API call with the token (unless `headers` replaces it), its JSON body parsed. */
const call = async <T = any>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = auth): Promise<Answer<T>> => {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as T }
}

interface Partition {
  partition: number
  highWatermark: number
  logStartOffset: number
  records: number
}

const configValue = (detail: { configs: Array<{ name: string; value: string; source: string }> }, name: string) =>
  detail.configs.find((c) => c.name === name)

describe("admin API: Kafka topics and consumer groups", () => {
  const clients = useKafkaClients()
  let broker: TestBroker
  let base: string
  const api = <T = any>(method: string, path: string, body?: unknown) => call<T>(base, method, path, body)
  beforeAll(async () => {
    broker = await startBroker({ http: { port: 0, adminTokens: [TOKEN] }, kafka: { enabled: true } })
    base = `http://127.0.0.1:${broker.httpPort}`
  })
  afterAll(async () => {
    await broker.stop()
    broker.cleanup()
  })

  it("refuses a missing token with 401", async () => {
    for (const path of ["/kafka/topics", "/kafka/groups", "/kafka/topics/mqtt"]) {
      const res = await call(base, "GET", path, undefined, {})
      expect(res.status).toBe(401)
      expect(res.body.message).toContain("http.admin_tokens")
    }
    expect((await call(base, "POST", "/kafka/topics", { name: "sneaky" }, {})).status).toBe(401)
    expect(broker.kafka!.context.topics.get("sneaky")).toBeUndefined()
  })

  it("creates a topic that kafkajs produces to and consumes from; its high watermarks follow", async () => {
    const created = await api("POST", "/kafka/topics", { name: "adm-orders", partitions: 3, configs: { "retention.ms": "3600000" } })
    expect(created.status).toBe(201)
    expect(created.body.name).toBe("adm-orders")
    expect(created.body.partitions).toEqual([0, 1, 2].map((partition) => ({ partition, highWatermark: 0, logStartOffset: 0, records: 0 })))
    expect(configValue(created.body, "retention.ms")).toEqual({ name: "retention.ms", value: "3600000", source: "topic" })
    expect(configValue(created.body, "cleanup.policy")).toEqual({ name: "cleanup.policy", value: "delete", source: "default" })

    const kafka = kafkaClient(broker.kafkaPort, "adm-topics")
    const admin = await clients.admin(kafka)
    const metadata = await admin.fetchTopicMetadata({ topics: ["adm-orders"] })
    expect(metadata.topics[0]!.partitions).toHaveLength(3)

    const producer = await clients.producer(kafka, { allowAutoTopicCreation: false })
    await producer.send({ topic: "adm-orders", messages: [1, 2, 3, 4, 5].map((i) => ({ value: `p1-${i}`, partition: 1 })) })
    await producer.send({ topic: "adm-orders", messages: [{ value: "p0-1", partition: 0 }, { value: "p0-2", partition: 0 }] })
    const shown = await api<{ partitions: Array<Partition> }>("GET", "/kafka/topics/adm-orders")
    expect(shown.status).toBe(200)
    expect(shown.body.partitions).toEqual([
      { partition: 0, highWatermark: 2, logStartOffset: 0, records: 2 },
      { partition: 1, highWatermark: 5, logStartOffset: 0, records: 5 },
      { partition: 2, highWatermark: 0, logStartOffset: 0, records: 0 }
    ])

    // What the API created, kafkajs reads back.
    const consumer = await clients.consumer(kafka, { groupId: "adm-readers" })
    const values: Array<string> = []
    await consumer.subscribe({ topic: "adm-orders", fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) })
    await waitFor(() => values.length >= 7, 10_000, () => `7 records, got ${values.length}`)
    expect(values.sort()).toEqual(["p0-1", "p0-2", "p1-1", "p1-2", "p1-3", "p1-4", "p1-5"])

    const listed = await api("GET", "/kafka/topics?prefix=adm-")
    expect(listed.body).toMatchObject({ items: [{ name: "adm-orders", partitions: 3, internal: false, mqtt: false, recordsWritten: 7 }], next: null })
  })

  it("lists topics in pages, filtered by prefix, and marks the MQTT topic", async () => {
    for (const name of ["adm-page-a", "adm-page-b", "adm-page-c"]) expect((await api("POST", "/kafka/topics", { name })).status).toBe(201)
    const first = await api("GET", "/kafka/topics?prefix=adm-page-&limit=2")
    expect(first.body.items.map((t: { name: string }) => t.name)).toEqual(["adm-page-a", "adm-page-b"])
    expect(first.body.next).toBe("adm-page-b")
    const rest = await api("GET", `/kafka/topics?prefix=adm-page-&limit=2&cursor=${first.body.next}`)
    expect(rest.body).toMatchObject({ items: [{ name: "adm-page-c", partitions: broker.config.kafka.defaultPartitions }], next: null })
    const mqtt = await api("GET", `/kafka/topics?prefix=${broker.config.kafka.mqttTopic}&limit=1`)
    expect(mqtt.body.items[0]).toMatchObject({ name: broker.config.kafka.mqttTopic, mqtt: true })
    expect((await api("GET", "/kafka/topics?limit=0")).status).toBe(400)
  })

  it("refuses bad topics with 400, an existing one with 409, unknown ones with 404", async () => {
    const invalid = await api("POST", "/kafka/topics", { name: "bad name!", partitions: 1 })
    expect(invalid.status).toBe(400)
    expect(invalid.body.message).toContain("characters other than")
    const reserved = await api("POST", "/kafka/topics", { name: "__mine" })
    expect(reserved.status).toBe(400)
    const noPartitions = await api("POST", "/kafka/topics", { name: "adm-zero", partitions: 0 })
    expect(noPartitions.status).toBe(400)
    expect(noPartitions.body.message).toContain("partitions")
    const badConfig = await api("POST", "/kafka/topics", { name: "adm-typo", configs: { "retention.msec": "1" } })
    expect(badConfig.status).toBe(400)
    expect(badConfig.body.message).toContain("retention.msec")
    expect((await api("POST", "/kafka/topics", { partitions: 1 })).status).toBe(400)
    const exists = await api("POST", "/kafka/topics", { name: "adm-orders" })
    expect(exists.status).toBe(409)
    expect(exists.body.message).toContain("already exists")
    for (const name of ["adm-zero", "adm-typo", "__mine"]) expect(broker.kafka!.context.topics.get(name)).toBeUndefined()

    const unknown = await api("GET", "/kafka/topics/adm-nothing")
    expect(unknown.status).toBe(404)
    expect(unknown.body.message).toContain("/api/v1/kafka/topics")
    expect((await api("DELETE", "/kafka/topics/adm-nothing")).status).toBe(404)
    expect((await api("PATCH", "/kafka/topics/adm-nothing/configs", { set: { "retention.ms": "1000" } })).status).toBe(404)
    const unknownGroup = await api("GET", "/kafka/groups/adm-nobody")
    expect(unknownGroup.status).toBe(404)
    expect(unknownGroup.body.message).toContain("/api/v1/kafka/groups")
    expect((await api("DELETE", "/kafka/groups/adm-nobody")).status).toBe(404)
    expect((await api("GET", "/kafka/groups?state=Sleeping")).status).toBe(400)
  })

  it("alters a topic's configs; kafkajs's DescribeConfigs sees the change", async () => {
    const altered = await api("PATCH", "/kafka/topics/adm-orders/configs", { set: { "retention.bytes": "1048576" }, reset: ["retention.ms"] })
    expect(altered.status).toBe(200)
    expect(configValue(altered.body, "retention.bytes")).toEqual({ name: "retention.bytes", value: "1048576", source: "topic" })
    expect(configValue(altered.body, "retention.ms")!.source).toBe("default")

    const admin = await clients.admin(kafkaClient(broker.kafkaPort, "adm-configs"))
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: "adm-orders", configNames: ["retention.bytes", "retention.ms"] }] })
    const entries = Object.fromEntries(described.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]))
    expect(entries["retention.bytes"]).toBe("1048576")
    expect(entries["retention.ms"]).toBe(String(broker.config.storage.retentionMs))

    const bad = await api("PATCH", "/kafka/topics/adm-orders/configs", { set: { "cleanup.policy": "compact" } })
    expect(bad.status).toBe(400)
    expect(bad.body.message).toContain("cleanup.policy")

    const replaced = await api("PUT", "/kafka/topics/adm-orders/configs", { configs: { "max.message.bytes": "2000000" } })
    expect(replaced.status).toBe(200)
    expect(replaced.body.configs.filter((c: { source: string }) => c.source === "topic")).toEqual([{ name: "max.message.bytes", value: "2000000", source: "topic" }])
  })

  it("shows a kafkajs consumer group with members, assignment, committed offsets and lag; deletes it only once empty", async () => {
    const kafka = kafkaClient(broker.kafkaPort, "adm-group-client")
    const producer = await clients.producer(kafka, { allowAutoTopicCreation: false })
    const consumer = await clients.consumer(kafka, { groupId: "adm-group" })
    let seen = 0
    await consumer.subscribe({ topic: "adm-orders", fromBeginning: true })
    await consumer.run({ eachMessage: async () => void seen++ })
    await waitFor(() => seen >= 7, 10_000, () => `7 records, got ${seen}`)
    // kafkajs commits after each batch: wait for the committed offsets of both written partitions.
    const committed = async () => {
      const group = await api("GET", "/kafka/groups/adm-group")
      const offsets = group.status === 200 ? (group.body.offsets as Array<{ partition: number; offset: number }>) : []
      return offsets.some((o) => o.partition === 0 && o.offset === 2) && offsets.some((o) => o.partition === 1 && o.offset === 5)
    }
    await waitFor(committed, 10_000, () => "adm-group's commits of partitions 0 and 1")

    // Paused, the member stays in the group (heartbeats go on) while records pile up.
    consumer.pause([{ topic: "adm-orders" }])
    await producer.send({ topic: "adm-orders", messages: [1, 2, 3, 4].map((i) => ({ value: `late-${i}`, partition: 1 })) })

    const list = await api("GET", "/kafka/groups?prefix=adm-group")
    expect(list.status).toBe(200)
    expect(list.body).toEqual({ items: [{ groupId: "adm-group", state: "Stable", protocolType: "consumer", members: 1, lag: 4 }], next: null })
    expect((await api("GET", "/kafka/groups?prefix=adm-group&state=Empty")).body.items).toEqual([])
    const overview = await api("GET", "/overview")
    expect(overview.body.counts.kafkaGroups).toBeGreaterThanOrEqual(1)
    expect(overview.body.counts.kafkaConnections).toBeGreaterThanOrEqual(1)

    const shown = await api("GET", "/kafka/groups/adm-group")
    expect(shown.status).toBe(200)
    expect(shown.body).toMatchObject({ groupId: "adm-group", state: "Stable", protocolType: "consumer", lag: 4 })
    expect(shown.body.generation).toBeGreaterThan(0)
    expect(shown.body.members).toHaveLength(1)
    const member = shown.body.members[0]
    expect(member).toMatchObject({ clientId: "adm-group-client", host: "127.0.0.1", groupInstanceId: null, assignment: { "adm-orders": [0, 1, 2] } })
    expect(shown.body.leader).toBe(member.memberId)
    const byPartition = Object.fromEntries(shown.body.offsets.map((o: { partition: number }) => [o.partition, o]))
    expect(byPartition[0]).toEqual({ topic: "adm-orders", partition: 0, offset: 2, highWatermark: 2, lag: 0 })
    expect(byPartition[1]).toEqual({ topic: "adm-orders", partition: 1, offset: 5, highWatermark: 9, lag: 4 })

    const refused = await api("DELETE", "/kafka/groups/adm-group")
    expect(refused.status).toBe(409)
    expect(refused.body.message).toContain("NON_EMPTY_GROUP")
    expect(refused.body.message).toContain("1 member")

    // The consumer leaves (LeaveGroup): the group is Empty, keeps its offsets, and can go.
    await consumer.disconnect()
    await waitFor(async () => (await api("GET", "/kafka/groups/adm-group")).body.state === "Empty", 10_000, () => "adm-group to be Empty")
    const emptied = await api("GET", "/kafka/groups?state=Empty&prefix=adm-group")
    expect(emptied.body.items).toEqual([{ groupId: "adm-group", state: "Empty", protocolType: "consumer", members: 0, lag: 4 }])
    const deleted = await api("DELETE", "/kafka/groups/adm-group")
    expect(deleted.status).toBe(200)
    expect(deleted.body).toEqual({ groupId: "adm-group" })
    expect((await api("GET", "/kafka/groups/adm-group")).status).toBe(404)
    expect((await api("GET", "/kafka/groups?prefix=adm-group")).body.items).toEqual([])
    const admin = await clients.admin(kafka)
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain("adm-group")
  })

  it("deletes a topic: kafkajs's metadata no longer lists it; the MQTT topic cannot be deleted", async () => {
    const deleted = await api("DELETE", "/kafka/topics/adm-orders")
    expect(deleted.status).toBe(200)
    expect(deleted.body).toEqual({ name: "adm-orders" })
    const admin = await clients.admin(kafkaClient(broker.kafkaPort, "adm-delete"))
    expect(await admin.listTopics()).not.toContain("adm-orders")
    expect((await api("GET", "/kafka/topics/adm-orders")).status).toBe(404)
    expect((await api("GET", "/kafka/topics?prefix=adm-orders")).body.items).toEqual([])

    const mqtt = await api("DELETE", `/kafka/topics/${broker.config.kafka.mqttTopic}`)
    expect(mqtt.status).toBe(409)
    expect(mqtt.body.message).toContain("kafka.mqtt_topic")
    expect(await admin.listTopics()).toContain(broker.config.kafka.mqttTopic)

    // What the API did is in the `topics` stream, read back through the API.
    const events = await api("GET", "/events?stream=topics")
    const mine = events.body.items.filter((e: { data: { name?: string } }) => e.data.name === "adm-orders").map((e: { type: string }) => e.type)
    expect(mine[0]).toBe("TopicCreated")
    expect(mine.at(-1)).toBe("TopicDeleted")
  })

  it("documents the Kafka routes and their fields in the OpenAPI document", async () => {
    const doc = await (await fetch(`${base}/api/v1/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, any> } }
    expect(Object.keys(doc.paths["/api/v1/kafka/topics"]!).sort()).toEqual(["get", "post"])
    expect(Object.keys(doc.paths["/api/v1/kafka/topics/{name}"]!).sort()).toEqual(["delete", "get"])
    expect(Object.keys(doc.paths["/api/v1/kafka/topics/{name}/configs"]!).sort()).toEqual(["patch", "put"])
    expect(Object.keys(doc.paths["/api/v1/kafka/groups"]!)).toEqual(["get"])
    expect(Object.keys(doc.paths["/api/v1/kafka/groups/{groupId}"]!).sort()).toEqual(["delete", "get"])
    expect(doc.components.schemas.KafkaGroup.properties.lag.description).toContain("records behind")
    expect(doc.components.schemas.KafkaPartition.properties.logStartOffset.description).toContain("first offset")
  })

  it("says kafka.enabled is off when it is: 404 for reads, 409 for changes", async () => {
    const off = await startBroker({ http: { port: 0, adminTokens: [TOKEN] }, kafka: { enabled: false } })
    try {
      const url = `http://127.0.0.1:${off.httpPort}`
      for (const path of ["/kafka/topics", "/kafka/groups", "/kafka/topics/mqtt"]) {
        const res = await call(url, "GET", path)
        expect(res.status).toBe(404)
        expect(res.body.message).toContain("kafka.enabled")
      }
      const create = await call(url, "POST", "/kafka/topics", { name: "adm-off" })
      expect(create.status).toBe(409)
      expect(create.body.message).toContain("kafka.enabled")
    } finally {
      await off.stop()
      off.cleanup()
    }
  })
})
