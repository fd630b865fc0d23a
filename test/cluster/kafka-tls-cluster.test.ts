/**
 * Kafka over TLS in a cluster: each node advertises its plain and its TLS Kafka listener, and
 * Metadata sends a client to the same kind of listener it came in on, so a TLS-only client
 * (kcat with security.protocol=SSL, kafkajs with `ssl`) given one node's TLS port reaches the
 * partitions every node leads; a plain client still gets the plain ports. Two nodes: the
 * workers of `robustmq start --workers 2 --kafka-tls-port`, certificates made per run.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kafkaNodeId } from "../../src/cluster/kafka/placement.js"
import { useCertificates } from "../support/certificates.js"
import { waitUntil } from "../support/clients.js"
import { freePair, freePort } from "../support/freePort.js"
import { hasKcat, kafkaClient, kcat, kcatBroker } from "../support/kafka.js"
import { startWorkersPrimary, untilWorkersUp, type WorkersPrimary } from "../support/workersPrimary.js"

const TOPIC = "tls-spread"

describe.skipIf(!hasKcat())("Kafka over TLS across two nodes (the workers of --workers 2)", () => {
  const certs = useCertificates({ clientName: "kafka-client" })
  const dir = mkdtempSync(join(tmpdir(), "robustmq-kafka-tls-cluster-"))
  let started: WorkersPrimary
  let kafkaPort = 0
  let tlsPort = 0

  beforeAll(async () => {
    const c = certs.get()
    const httpPort = await freePair()
    kafkaPort = await freePair()
    tlsPort = await freePair()
    started = startWorkersPrimary([
      "--mqtt-port", String(await freePort()), "--http-port", String(httpPort), "--data-dir", dir,
      "--kafka-port", String(kafkaPort), "--kafka-tls-port", String(tlsPort),
      "--tls-cert", c.serverCert, "--tls-key", c.serverKey, "--tls-ca", c.caCert
    ], { ROBUSTMQ_CLUSTER_NODE_ID: "tk", ROBUSTMQ_KAFKA_ENABLED: "true" })
    await untilWorkersUp(started, httpPort)
  }, 60_000)

  afterAll(async () => {
    await started.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const brokersListed = async (args: ReadonlyArray<string>): Promise<Array<string>> => {
    const listed = await kcat([...args, "-L", "-J"])
    expect(listed.code, listed.stderr).toBe(0)
    return (JSON.parse(listed.stdout) as { brokers: Array<{ name: string }> }).brokers.map((b) => b.name).sort()
  }

  it("Metadata over TLS lists every node at its TLS port; over plain TCP at its plain port", async () => {
    const ssl = ["-X", "security.protocol=SSL", "-X", `ssl.ca.location=${certs.get().caCert}`]
    expect(await brokersListed([...kcatBroker(tlsPort), ...ssl])).toEqual([`127.0.0.1:${tlsPort}`, `127.0.0.1:${tlsPort + 1}`])
    expect(await brokersListed(kcatBroker(kafkaPort + 1))).toEqual([`127.0.0.1:${kafkaPort}`, `127.0.0.1:${kafkaPort + 1}`])
  })

  it("a kafkajs client that knows one node's TLS port produces to and consumes from partitions led by both", async () => {
    const kafka = kafkaClient(tlsPort, "tls-cluster", { ssl: { ca: [readFileSync(certs.get().caCert)] } })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 4 }], waitForLeaders: true })
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC] })
    await admin.disconnect()
    expect(new Set(meta.topics[0]!.partitions.map((p) => p.leader))).toEqual(new Set([kafkaNodeId("tk-w0"), kafkaNodeId("tk-w1")]))
    const producer = kafka.producer()
    await producer.connect()
    for (let p = 0; p < 4; p++) await producer.send({ topic: TOPIC, acks: -1, messages: [{ partition: p, value: `over-tls-${p}` }] })
    await producer.disconnect()
    const consumer = kafka.consumer({ groupId: "tls-cluster-readers" })
    const got: Array<string> = []
    await consumer.connect()
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) })
    try {
      await waitUntil(() => got.length >= 4, 20_000, () => `4 records over TLS, got ${got.length}`)
    } finally {
      await consumer.disconnect()
    }
    expect(got.sort()).toEqual([0, 1, 2, 3].map((p) => `over-tls-${p}`))
  }, 60_000)
})
