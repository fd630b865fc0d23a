/**
 * MQTT in / Kafka out, and back, with real clients on both sides: MQTT.js and mosquitto_pub
 * publish, kafkajs and kcat read (MQTT topic as the key, properties as headers); kafkajs
 * produces, MQTT subscribers receive (headers back as user properties); bindings route an MQTT
 * filter to a Kafka topic of its own (QoS 0 included); unbound Kafka topics reach MQTT topics of
 * the same name; a QoS 1 PUBACK means a Kafka reader can already see the message.
 */
import { execFile } from "node:child_process"
import { describe, expect, it } from "vitest"
import { connect } from "../support/clients.js"
import { consumeN, hasKcat, kafkaClient, kcat, kcatBroker, useKafkaClients } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"

const mosquittoPub = (port: number, args: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) =>
    execFile("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 10_000 }, (error) =>
      error === null ? resolve() : reject(error)
    )
  )

describe("MQTT in, Kafka out", () => {
  const { broker, track } = useBrokers()
  const clients = useKafkaClients()

  it("a kafkajs consumer reads MQTT publishes: key = MQTT topic, headers = topic, QoS, content type, user properties", async () => {
    const b = await broker({ storage: "sqlite" })
    const pub = track(await connect(b.url, { protocolVersion: 5, clientId: "device-1" }))
    await pub.client.publishAsync("a/b/c", "21.5", {
      qos: 1,
      properties: { contentType: "text/plain", userProperties: { unit: "C", site: "north" } }
    })
    await pub.client.publishAsync("a/b/d", "22.0", { qos: 2 })
    const consumer = await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "bridge-1" })
    const got = await consumeN(consumer, "mqtt", 2)
    expect(got.map((m) => [m.key, m.value])).toEqual([["a/b/c", "21.5"], ["a/b/d", "22.0"]])
    expect(got[0]!.headers).toMatchObject({
      "mqtt.topic": "a/b/c",
      "mqtt.qos": "1",
      "mqtt.origin": "device-1",
      "mqtt.content-type": "text/plain",
      unit: "C",
      site: "north"
    })
    expect(got[1]!.headers["mqtt.qos"]).toBe("2")
  })

  it("a QoS 1 PUBACK means the message is already readable over Kafka (durable, below the high watermark)", async () => {
    const b = await broker({ storage: "sqlite" })
    const pub = track(await connect(b.url, { protocolVersion: 4 }))
    const admin = await clients.admin(kafkaClient(b.kafkaPort))
    for (let i = 1; i <= 5; i++) {
      await pub.client.publishAsync("acked/x", `m${i}`, { qos: 1 })
      const [offsets] = await admin.fetchTopicOffsets("mqtt")
      expect(Number(offsets!.high)).toBe(i)
    }
  })

  it.skipIf(!hasKcat())("mosquitto_pub publishes, kcat (librdkafka) reads the record with its key and headers", async () => {
    const b = await broker()
    await mosquittoPub(b.port, ["-V", "mqttv5", "-q", "1", "-t", "plant/7/pressure", "-m", "1.2bar", "-D", "publish", "user-property", "line", "3"])
    const out = await kcat([...kcatBroker(b.kafkaPort), "-C", "-t", "mqtt", "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\\n"])
    expect(out.code).toBe(0)
    const [key, value, headers] = out.stdout.trim().split("|")
    expect([key, value]).toEqual(["plant/7/pressure", "1.2bar"])
    expect(headers).toContain("mqtt.topic=plant/7/pressure")
    expect(headers).toContain("line=3")
  })
})

describe("Kafka in, MQTT out", () => {
  const { broker, track } = useBrokers()
  const clients = useKafkaClients()

  it("records produced to the MQTT topic reach MQTT subscribers of their key, headers as user properties", async () => {
    const b = await broker()
    const sub = track(await connect(b.url, { protocolVersion: 5 }))
    await sub.client.subscribeAsync("cmd/#", { qos: 1 })
    const producer = await clients.producer(kafkaClient(b.kafkaPort))
    await producer.send({
      topic: "mqtt",
      messages: [{ key: "cmd/device-9/reboot", value: "now", headers: { reason: "update", "mqtt.content-type": "text/plain" } }]
    })
    const [m] = await sub.waitFor(1)
    expect(m!.topic).toBe("cmd/device-9/reboot")
    expect(m!.payload).toBe("now")
    expect(m!.packet.qos).toBe(1)
    expect(m!.packet.properties?.userProperties).toEqual({ reason: "update" })
    expect(m!.packet.properties?.contentType).toBe("text/plain")
  })

  it("records of a Kafka-only topic reach MQTT subscribers of the topic's name; unusable keys are not delivered", async () => {
    const b = await broker()
    const sub = track(await connect(b.url, { protocolVersion: 4 }))
    await sub.client.subscribeAsync("#", { qos: 1 })
    const producer = await clients.producer(kafkaClient(b.kafkaPort))
    await producer.send({ topic: "orders", messages: [{ key: "o-1", value: "created" }] })
    await producer.send({ topic: "mqtt", messages: [{ key: "bad/+/wildcard", value: "x" }, { key: null, value: "y" }, { key: "ok", value: "z" }] })
    await sub.waitFor(2)
    expect(sub.messages.map((m) => [m.topic, m.payload])).toEqual([["orders", "created"], ["ok", "z"]])
  })
})

describe("bindings: an MQTT filter bound to a Kafka topic", () => {
  const { broker, track } = useBrokers()
  const clients = useKafkaClients()

  it("every QoS of a bound filter goes to its topic, keyed by MQTT topic; the rest to the default topic; and back", async () => {
    const b = await broker({ kafka: { bindings: [{ filter: "sensors/#", topic: "sensors" }] } })
    const pub = track(await connect(b.url, { protocolVersion: 4 }))
    await pub.client.publishAsync("sensors/1/temp", "20", { qos: 0 })
    await pub.client.publishAsync("sensors/2/temp", "21", { qos: 1 })
    await pub.client.publishAsync("other/x", "skipped", { qos: 0 }) // unbound QoS 0: not logged
    await pub.client.publishAsync("other/y", "logged", { qos: 1 })
    const kafka = kafkaClient(b.kafkaPort)
    const sensors = await consumeN(await clients.consumer(kafka, { groupId: "s" }), "sensors", 2)
    expect(sensors.map((m) => [m.key, m.value])).toEqual([["sensors/1/temp", "20"], ["sensors/2/temp", "21"]])
    const rest = await consumeN(await clients.consumer(kafka, { groupId: "r" }), "mqtt", 1)
    expect(rest.map((m) => [m.key, m.value])).toEqual([["other/y", "logged"]])

    const sub = track(await connect(b.url, { protocolVersion: 4 }))
    await sub.client.subscribeAsync("sensors/+/humidity", { qos: 1 })
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "sensors", messages: [{ key: "sensors/3/humidity", value: "40%" }] })
    const [m] = await sub.waitFor(1)
    expect([m!.topic, m!.payload]).toEqual(["sensors/3/humidity", "40%"])
  })

  it("with log_qos0 the default topic gets QoS 0 publishes too", async () => {
    const b = await broker({ mqtt: { logQos0: true } })
    const pub = track(await connect(b.url, { protocolVersion: 4 }))
    await pub.client.publishAsync("t/q0", "zero", { qos: 0 })
    const got = await consumeN(await clients.consumer(kafkaClient(b.kafkaPort), { groupId: "q0" }), "mqtt", 1)
    expect([got[0]!.key, got[0]!.value, got[0]!.headers["mqtt.qos"]]).toEqual(["t/q0", "zero", "0"])
  })
})
