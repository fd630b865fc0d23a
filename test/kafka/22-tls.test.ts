/**
 * Kafka over TLS (kafka.tls_port) with real clients: kafkajs with `ssl` and kcat with
 * security.protocol=SSL produce and consume; with anonymous clients refused the TLS listener is
 * SASL_SSL (kcat and kafkajs with PLAIN, good and bad credentials); mTLS with a required client
 * certificate; Metadata advertising the port each client used; a plain Kafka request and garbage
 * on the TLS port closing only their own connection; a TLS port without a certificate refusing
 * to start; SIGHUP re-reading the certificates for the Kafka listener too. Certificates are made per run by the code behind `robustmq cert dev`.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tls from "node:tls"
import { afterAll, describe, expect, it } from "vitest"
import { inputFaults } from "../../src/net/inputFaults.js"
import { writeDevCertificates } from "../../src/tls/devCertificates.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { authDir, writeUsers } from "../auth/authFiles.js"
import { useCertificates } from "../support/certificates.js"
import { hasKcat, kafkaClient, kafkajsRoundTrip, kcat, kcatBroker, kcatRoundTrip, useKafkaClients, waitFor } from "../support/kafka.js"
import { KafkaWire } from "../support/KafkaWire.js"
import { useBrokers } from "../support/lifecycle.js"
import { startBroker, type TestBroker, type TestBrokerOptions } from "../support/TestBroker.js"

const certs = useCertificates({ clientName: "kafka-client" })
const life = useBrokers()
const clients = useKafkaClients()
const dir = authDir()
const scratch = mkdtempSync(join(tmpdir(), "robustmq-kafka-tls-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** A broker with the Kafka TLS listener on a free port and the run's certificates. */
const tlsBroker = (options: TestBrokerOptions = {}): Promise<TestBroker> =>
  life.broker({
    ...options,
    kafka: { tlsPort: 0, ...options.kafka },
    tls: { certFile: certs.get().serverCert, keyFile: certs.get().serverKey, caFile: certs.get().caCert, ...options.tls }
  })

/** A broker whose listeners require SASL (alice/a1): the TLS one is then SASL_SSL. */
const saslBroker = (options: TestBrokerOptions = {}) =>
  tlsBroker({ ...options, auth: { allowAnonymous: false, passwordFile: writeUsers(dir, { alice: "a1" }) } })

const ssl = () => ({ ssl: { ca: [readFileSync(certs.get().caCert)] } })
const withClientCert = () => ({ ssl: { ca: [readFileSync(certs.get().caCert)], cert: readFileSync(certs.get().clientCert), key: readFileSync(certs.get().clientKey) } })
const plainSasl = (username: string, password: string) => ({ sasl: { mechanism: "plain" as const, username, password } })

const kcatSsl = (b: TestBroker) => [...kcatBroker(b.kafkaTlsPort), "-X", "security.protocol=SSL", "-X", `ssl.ca.location=${certs.get().caCert}`]
const kcatSaslSsl = (b: TestBroker, username: string, password: string) => [
  ...kcatBroker(b.kafkaTlsPort),
  "-X", "security.protocol=SASL_SSL", "-X", `ssl.ca.location=${certs.get().caCert}`,
  "-X", "sasl.mechanisms=PLAIN", "-X", `sasl.username=${username}`, "-X", `sasl.password=${password}`
]
const kcatClientCert = () => ["-X", `ssl.certificate.location=${certs.get().clientCert}`, "-X", `ssl.key.location=${certs.get().clientKey}`]


/** Metadata's broker list as kcat reports it (`-L -J`): "host:port" names. */
const advertised = async (args: ReadonlyArray<string>): Promise<Array<string>> => {
  const listed = await kcat([...args, "-L", "-J"])
  expect(listed.code, listed.stderr).toBe(0)
  return (JSON.parse(listed.stdout) as { brokers: Array<{ name: string }> }).brokers.map((b) => b.name)
}

describe("Kafka over TLS (SSL)", () => {
  it("kafkajs with ssl: { ca } produces and consumes", async () => {
    const b = await tlsBroker()
    await kafkajsRoundTrip(clients, b.kafkaTlsPort, "ssl-js", ssl(), "tls-js")
  })

  it.skipIf(!hasKcat())("kcat with security.protocol=SSL produces and consumes", async () => {
    const b = await tlsBroker()
    await kcatRoundTrip(kcatSsl(b), "tls-kcat")
  })

  it.skipIf(!hasKcat())("Metadata tells a TLS client the TLS port and a plain client the plain port", async () => {
    const b = await tlsBroker()
    expect(b.kafkaTlsPort).not.toBe(b.kafkaPort)
    expect(await advertised(kcatSsl(b))).toEqual([`127.0.0.1:${b.kafkaTlsPort}`])
    expect(await advertised(kcatBroker(b.kafkaPort))).toEqual([`127.0.0.1:${b.kafkaPort}`])
    // kafkajs asks Metadata and FindCoordinator; both must name the listener it used.
    const overTls = await clients.admin(kafkaClient(b.kafkaTlsPort, "meta-tls", ssl()))
    expect((await overTls.describeCluster()).brokers).toEqual([{ nodeId: 0, host: "127.0.0.1", port: b.kafkaTlsPort }])
    const overPlain = await clients.admin(kafkaClient(b.kafkaPort, "meta-plain"))
    expect((await overPlain.describeCluster()).brokers).toEqual([{ nodeId: 0, host: "127.0.0.1", port: b.kafkaPort }])
    const wire = await KafkaWire.connect(b.kafkaPort)
    try {
      const coordinator = await wire.request(ApiKey.FindCoordinator, 1, { key: "g", keyType: 0 })
      expect(coordinator.port).toBe(b.kafkaPort)
    } finally {
      wire.socket.destroy()
    }
  })

  it("a plain Kafka request and garbage on the TLS port close only their own connection", async () => {
    const b = await tlsBroker()
    const kafka = kafkaClient(b.kafkaTlsPort, "survivor", ssl())
    const producer = await clients.producer(kafka)
    await producer.send({ topic: "survive", messages: [{ value: "before" }] })
    const failures = inputFaults.tlsHandshakeFailures

    const plain = await KafkaWire.connect(b.kafkaTlsPort)
    await expect(plain.request(ApiKey.ApiVersions, 0, {} as never)).rejects.toThrow(/closed the connection instead of answering/)

    const garbage = net.connect(b.kafkaTlsPort, "127.0.0.1")
    garbage.on("error", () => {})
    const received: Array<Buffer> = []
    garbage.on("data", (d: Buffer) => received.push(d))
    const closed = new Promise<void>((resolve) => garbage.once("close", () => resolve()))
    garbage.write(Buffer.from("\u0016\u0003\u0001\u0000\u0005garbage that is no ClientHello\r\n"))
    await closed
    // Nothing but (at most) a TLS alert: no Kafka response frame.
    expect(Buffer.concat(received).length).toBeLessThan(16)

    await waitFor(() => inputFaults.tlsHandshakeFailures >= failures + 2, 5_000, () => "both bad handshakes to be counted")
    await producer.send({ topic: "survive", messages: [{ value: "after" }] })
    const plainProducer = await clients.producer(kafkaClient(b.kafkaPort, "plain-survivor"))
    await plainProducer.send({ topic: "survive", messages: [{ value: "plain" }] })
  })

  it("SIGHUP re-reads the certificate files for the Kafka TLS listener", async () => {
    const setB = await writeDevCertificates(mkdtempSync(join(scratch, "set-b-")))
    const live = mkdtempSync(join(scratch, "live-"))
    const liveCert = join(live, "server.crt")
    const liveKey = join(live, "server.key")
    copyFileSync(certs.get().serverCert, liveCert)
    copyFileSync(certs.get().serverKey, liveKey)
    const b = await tlsBroker({ tls: { certFile: liveCert, keyFile: liveKey } })
    const trusts = (ca: string) =>
      new Promise<boolean>((resolve) => {
        const socket = tls.connect({ host: "127.0.0.1", port: b.kafkaTlsPort, ca: readFileSync(ca) }, () => {
          socket.destroy()
          resolve(true)
        })
        socket.on("error", () => resolve(false))
      })
    expect(await trusts(certs.get().caCert)).toBe(true)
    copyFileSync(setB.serverCert, liveCert)
    copyFileSync(setB.serverKey, liveKey)
    process.emit("SIGHUP", "SIGHUP")
    await waitFor(() => trusts(setB.caCert), 5_000, () => "the Kafka TLS listener to serve the new certificate")
    expect(await trusts(certs.get().caCert)).toBe(false)
    await kafkajsRoundTrip(clients, b.kafkaTlsPort, "after-hup", { ssl: { ca: [readFileSync(setB.caCert)] } }, "after-hup")
  })

  it("a Kafka TLS port without a certificate refuses to start, naming the setting to add", async () => {
    await expect(startBroker({ kafka: { tlsPort: 0 } })).rejects.toThrow(
      "kafka.tls_port is set but tls.cert_file is empty: add tls.cert_file (or --tls-cert)"
    )
    await expect(startBroker({ kafka: { tlsPort: 0 }, tls: { certFile: certs.get().serverCert } })).rejects.toThrow(
      "kafka.tls_port is set but tls.key_file is empty: add tls.key_file (or --tls-key)"
    )
  })
})

describe("Kafka over TLS with SASL (SASL_SSL)", () => {
  it("kafkajs with ssl and sasl PLAIN produces and consumes; a wrong password is refused", async () => {
    const b = await saslBroker()
    await kafkajsRoundTrip(clients, b.kafkaTlsPort, "sasl-ssl-js", { ...ssl(), ...plainSasl("alice", "a1") }, "sasl-tls-js")
    const bad = clients.track(kafkaClient(b.kafkaTlsPort, "sasl-ssl-bad", { ...ssl(), ...plainSasl("alice", "wrong") }).admin())
    const error = await bad.connect().then(() => null, (e: Error) => e)
    expect(error?.name).toBe("KafkaJSSASLAuthenticationError")
  })

  it("kafkajs with ssl but without SASL is closed on its first request", async () => {
    const b = await saslBroker()
    const admin = clients.track(kafkaClient(b.kafkaTlsPort, "ssl-no-sasl", ssl()).admin())
    const error = await admin.connect().then(() => admin.listTopics()).then(() => null, (e: Error) => e)
    expect(error).not.toBeNull()
  })

  it.skipIf(!hasKcat())("kcat with SASL_SSL/PLAIN: good credentials produce and consume, bad ones are refused", async () => {
    const b = await saslBroker()
    await kcatRoundTrip(kcatSaslSsl(b, "alice", "a1"), "sasl-tls-kcat")
    const refused = await kcat([...kcatSaslSsl(b, "alice", "wrong"), "-L", "-m", "3"])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/Authentication failed|SASL authentication error/i)
    // The listener goes on serving others.
    expect(await advertised(kcatSaslSsl(b, "alice", "a1"))).toEqual([`127.0.0.1:${b.kafkaTlsPort}`])
  })
})

describe("Kafka over TLS with client certificates (mTLS)", () => {
  it.skipIf(!hasKcat())("verify_client = \"required\": kcat with a client certificate works, without one it is refused", async () => {
    const b = await tlsBroker({ tls: { verifyClient: "required" } })
    await kcatRoundTrip([...kcatSsl(b), ...kcatClientCert()], "mtls-kcat")
    const failures = inputFaults.tlsHandshakeFailures
    const refused = await kcat([...kcatSsl(b), "-L", "-m", "3"])
    expect(refused.code).not.toBe(0)
    await waitFor(() => inputFaults.tlsHandshakeFailures > failures, 5_000, () => "the refused handshake to be counted")
  })

  it("verify_client = \"required\": kafkajs with a client certificate works, without one it cannot connect", async () => {
    const b = await tlsBroker({ tls: { verifyClient: "required" } })
    await kafkajsRoundTrip(clients, b.kafkaTlsPort, "mtls-js", withClientCert(), "mtls-js")
    const admin = clients.track(kafkaClient(b.kafkaTlsPort, "mtls-none", ssl()).admin())
    expect(await admin.connect().then(() => null, (e: Error) => e)).not.toBeNull()
  })
})
