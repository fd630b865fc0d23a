/**
 * The families added for issue 10 item 2, scraped during real traffic: MQTT packets and bytes by
 * direction, drops by reason (no subscribers, queue full, expired, too large, not authorized),
 * the sampled delivery latency, authentications by result; Kafka produce and fetch by topic, the
 * request latency histogram, log start offsets; storage commit counters and the SQLite WAL. Each
 * is checked against what the traffic did, and promtool accepts both formats.
 */
import mqtt from "mqtt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { authDir, writeAcl, writeUsers } from "../auth/authFiles.js"
import { connect, quiet } from "../support/clients.js"
import { consumeN, kafkaClient, useKafkaClients } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"
import { promtoolAccepts, promtoolAcceptsOpenMetrics, sample, scrape } from "../support/metrics.js"
import { RawClient } from "../support/RawClient.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const clients = useKafkaClients()

/** The delta of each named series between two scrapes (0 when absent before). */
const delta = (before: string, after: string, series: string): number => (sample(after, series) ?? 0) - (sample(before, series) ?? 0)

describe("/metrics during MQTT and Kafka traffic (SQLite)", () => {
  let broker: TestBroker
  let base: string
  beforeAll(async () => {
    broker = await startBroker({ storage: "sqlite", http: { port: 0 }, limits: { maxQueuedMessages: 2 } })
    base = `http://127.0.0.1:${broker.httpPort}`
  })
  afterAll(async () => {
    await broker.stop()
    broker.cleanup()
  })

  it("counts MQTT packets by type and bytes both ways, and samples delivery latency", async () => {
    const before = await scrape(base)
    const sub = await connect(broker.url, { protocolVersion: 4, clientId: "pk-sub" })
    const pub = await connect(broker.url, { protocolVersion: 4, clientId: "pk-pub" })
    await sub.client.subscribeAsync("pk/#", { qos: 1 })
    // 128 deliveries: the 1-in-64 sample times at least one.
    for (let i = 0; i < 128; i++) await pub.client.publishAsync(`pk/${i % 4}`, `payload-${i}`, { qos: 1 })
    await sub.waitFor(128)
    // The subscriber's last PUBACKs may still be on their way.
    let after = await scrape(base)
    const received = (type: string) => delta(before, after, `robustmq_mqtt_packets_received_total{type="${type}"}`)
    for (let i = 0; i < 50 && received("puback") < 128; i++) {
      await quiet(50)
      after = await scrape(base)
    }
    const sent = (type: string) => delta(before, after, `robustmq_mqtt_packets_sent_total{type="${type}"}`)
    expect(received("connect")).toBe(2)
    expect(sent("connack")).toBe(2)
    expect(received("subscribe")).toBe(1)
    expect(sent("suback")).toBe(1)
    expect(received("publish")).toBe(128)
    expect(sent("publish")).toBe(128)
    expect(sent("puback")).toBe(128) // to the publisher
    expect(received("puback")).toBe(128) // from the subscriber
    // Every PUBLISH carries at least its payload: bytes moved by more than the payloads.
    const payloadBytes = Array.from({ length: 128 }, (_, i) => `payload-${i}`.length).reduce((a, b) => a + b, 0)
    expect(delta(before, after, "robustmq_mqtt_received_bytes_total")).toBeGreaterThan(payloadBytes)
    expect(delta(before, after, "robustmq_mqtt_sent_bytes_total")).toBeGreaterThan(payloadBytes)
    expect(delta(before, after, "robustmq_mqtt_delivery_latency_seconds_count")).toBeGreaterThanOrEqual(2)
    expect(sample(after, `robustmq_mqtt_delivery_latency_seconds_bucket{le="+Inf"}`)).toBe(sample(after, "robustmq_mqtt_delivery_latency_seconds_count"))
    // The group commit wrote the QoS 1 messages: storage counters moved.
    expect(delta(before, after, "robustmq_storage_written_records_total")).toBeGreaterThanOrEqual(128)
    expect(delta(before, after, "robustmq_storage_written_bytes_total")).toBeGreaterThan(payloadBytes)
    expect(delta(before, after, "robustmq_storage_commit_latency_seconds_count")).toBeGreaterThan(0)
    expect(delta(before, after, "robustmq_storage_append_latency_seconds_count")).toBe(delta(before, after, "robustmq_storage_commit_latency_seconds_count"))
    expect(sample(after, "robustmq_storage_sqlite_wal_bytes")).toBeGreaterThan(0)
    expect(sample(after, "robustmq_storage_events")).toBeGreaterThan(0) // the subscriber's session events
    expect(sample(after, `robustmq_storage_snapshot_age_seconds{snapshot="mqtt-sessions"}`)).toBeGreaterThanOrEqual(0)
    expect(sample(after, "robustmq_storage_segment_files")).toBe(0) // SQLite holds every partition
    await pub.end()
    await sub.end()
    promtoolAccepts(after)
  })

  it("counts drops by reason: no subscribers, too large for the subscriber, queue full and expired", async () => {
    const before = await scrape(base)
    const pub = await connect(broker.url, { protocolVersion: 5, clientId: "drop-pub" })
    for (let i = 0; i < 3; i++) await pub.client.publishAsync("nobody/listens", "x", { qos: 0 })
    // A v5 subscriber that takes packets of at most 64 bytes: a 200-byte QoS 0 message is dropped.
    const small = await connect(broker.url, { protocolVersion: 5, clientId: "drop-small", properties: { maximumPacketSize: 64 } })
    await small.client.subscribeAsync("drop/big", { qos: 0 })
    await pub.client.publishAsync("drop/big", Buffer.alloc(200), { qos: 0 })
    // A subscriber that never acknowledges, with a window of one: one in flight, two queued
    // (limits.max_queued_messages = 2), the rest dropped; the queued ones expire in a second.
    const { client: stuck } = await RawClient.handshake(broker.port, 5, { clientId: "drop-stuck", properties: { receiveMaximum: 1 } })
    stuck.sendPacket({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "drop/q", qos: 1 }] })
    await stuck.expect("suback")
    for (let i = 0; i < 6; i++) await pub.client.publishAsync("drop/q", `q${i}`, { qos: 1, properties: { messageExpiryInterval: 1 } })
    const first = await stuck.expect("publish")
    await quiet(1200)
    stuck.sendPacket({ cmd: "puback", messageId: first.messageId! }) // the queue moves: both queued have expired
    await quiet(200)
    const after = await scrape(base)
    const dropped = (reason: string) => delta(before, after, `robustmq_mqtt_messages_dropped_total{reason="${reason}"}`)
    expect(dropped("no_subscribers")).toBe(3)
    expect(dropped("too_large")).toBe(1)
    expect(dropped("queue_full")).toBe(3)
    expect(dropped("expired")).toBe(2)
    await stuck.destroy()
    await small.end()
    await pub.end()
  })

  it("counts Kafka records and bytes by topic, times requests by API, and shows log start offsets", async () => {
    const before = await scrape(base)
    const kafka = kafkaClient(broker.kafkaPort, "metrics-more")
    const producer = await clients.producer(kafka)
    const topic = "metrics-more-orders"
    await producer.send({ topic, messages: Array.from({ length: 7 }, (_, i) => ({ value: `order-${i}` })) })
    await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: `order-${7 + i}` })) })
    const consumer = await clients.consumer(kafka, { groupId: "metrics-more-group" })
    await consumeN(consumer, topic, 12)
    const after = await scrape(base)
    const t = `{topic="${topic}"}`
    expect(sample(after, `robustmq_kafka_produced_records_total${t}`)).toBe(12)
    expect(sample(after, `robustmq_kafka_produced_bytes_total${t}`)).toBeGreaterThan(12 * "order-0".length)
    expect(sample(after, `robustmq_kafka_fetched_records_total${t}`)).toBeGreaterThanOrEqual(12)
    expect(sample(after, `robustmq_kafka_fetched_bytes_total${t}`)).toBeGreaterThanOrEqual(sample(after, `robustmq_kafka_produced_bytes_total${t}`)!)
    // One latency observation per request handled.
    for (const api of ["Produce", "Fetch", "Metadata"]) {
      const count = sample(after, `robustmq_kafka_request_duration_seconds_count{api="${api}"}`)
      expect(count, api).toBe(sample(after, `robustmq_kafka_requests_total{api="${api}"}`))
      expect(sample(after, `robustmq_kafka_request_duration_seconds_bucket{api="${api}",le="+Inf"}`)).toBe(count)
    }
    expect(delta(before, after, `robustmq_kafka_request_duration_seconds_count{api="Produce"}`)).toBe(2)
    // Log start offsets are read after a scrape, for the next one.
    let text = after
    for (let i = 0; i < 50 && sample(text, `kafka_topic_partition_oldest_offset{topic="${topic}",partition="0"}`) === undefined; i++) {
      await quiet(50)
      text = await scrape(base)
    }
    expect(sample(text, `kafka_topic_partition_oldest_offset{topic="${topic}",partition="0"}`)).toBe(0)
    expect(sample(text, `kafka_topic_partition_current_offset{topic="${topic}",partition="0"}`)).toBe(12)
    promtoolAccepts(text)
  })

  it("serves every family in OpenMetrics too, before # EOF, and promtool accepts it", async () => {
    const text = await scrape(base, true)
    expect(text.endsWith("# EOF\n")).toBe(true)
    expect(text.indexOf("# EOF")).toBe(text.length - "# EOF\n".length)
    // OpenMetrics names a counter family without _total; its samples keep it.
    expect(text).toContain("# TYPE robustmq_kafka_produced_records counter")
    expect(text).toContain(`robustmq_kafka_produced_records_total{topic="metrics-more-orders"} 12`)
    expect(text).toContain("# TYPE robustmq_storage_commit_latency_seconds histogram")
    expect(text).toContain("# TYPE robustmq_mqtt_packets_received counter")
    promtoolAcceptsOpenMetrics(text)
  })
})

describe("/metrics counts authentications and refused publishes", () => {
  const life = useBrokers()
  const dir = authDir()

  it("by result and mechanism, and drops a publish the ACL refuses as not_authorized", async () => {
    const passwordFile = writeUsers(dir, { dev: "right" })
    const aclFile = writeAcl(dir, "user dev\ntopic readwrite allowed/#\n")
    const b = await life.broker({ http: { port: 0 }, kafka: { enabled: false }, auth: { allowAnonymous: false, passwordFile, aclFile } })
    const base = `http://127.0.0.1:${b.httpPort}`
    const before = await scrape(base)
    for (let i = 0; i < 2; i++) {
      const refused = mqtt.connect(b.url, { protocolVersion: 5, clientId: `bad-${i}`, username: "dev", password: "wrong", reconnectPeriod: 0 })
      await new Promise<void>((resolve) => {
        refused.once("error", () => resolve())
        refused.once("close", () => resolve())
      })
      refused.end(true)
    }
    const good = await connect(b.url, { protocolVersion: 5, clientId: "good", username: "dev", password: "right" })
    await good.client.publishAsync("denied/topic", "no", { qos: 1 }).catch(() => {})
    await good.client.publishAsync("denied/topic", "no", { qos: 0 })
    await good.client.publishAsync("allowed/topic", "yes", { qos: 1 })
    const after = await scrape(base)
    expect(delta(before, after, `robustmq_mqtt_authentications_total{result="failure",mechanism="password"}`)).toBe(2)
    expect(delta(before, after, `robustmq_mqtt_authentications_total{result="success",mechanism="password"}`)).toBe(1)
    expect(delta(before, after, `robustmq_mqtt_messages_dropped_total{reason="not_authorized"}`)).toBe(2)
    await good.end()
    promtoolAccepts(after)
  })
})
