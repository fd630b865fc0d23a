/**
 * Bad input on the secure listeners that 18-tls, 19-websocket and kafka/22-tls do not cover
 * (issue 9 acceptance): an expired client certificate and one from a CA the broker does not
 * trust, on MQTT over TLS, WSS and Kafka over TLS. Each closes (or, under verify_client =
 * "optional", identifies) only its own connection, while a client with a good certificate stays
 * connected and keeps working. Also a WebSocket upgrade the client resets while the broker
 * refuses it, which once threw in the broker's process.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { inputFaults } from "../../src/net/inputFaults.js"
import { writeDevCertificates } from "../../src/tls/devCertificates.js"
import { connackCode } from "../auth/authFiles.js"
import { useCertificates, withCertificates, writeExpiredClientCertificate } from "../support/certificates.js"
import { connect, roundTrip, waitUntil } from "../support/clients.js"
import { kafkaClient, useKafkaClients } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"
import type { TestBroker, TestBrokerOptions } from "../support/TestBroker.js"

const certs = useCertificates({ clientName: "device-1" })
const life = useBrokers()
const kafkaClients = useKafkaClients()
const scratch = mkdtempSync(join(tmpdir(), "robustmq-bad-certs-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

interface ClientCert {
  readonly cert: string
  readonly key: string
}
/** The bad ones, both with the CN of the good one ("device-1"): an impostor gains nothing by the name. */
let expired: ClientCert
let untrusted: ClientCert
beforeAll(async () => {
  expired = await writeExpiredClientCertificate(certs.get(), scratch)
  const other = await writeDevCertificates(mkdtempSync(join(scratch, "other-ca-")), { clientName: "device-1" })
  untrusted = { cert: other.clientCert, key: other.clientKey }
}, 30_000)

const good = (): ClientCert => ({ cert: certs.get().clientCert, key: certs.get().clientKey })
const badOnes = () => [["expired", expired], ["untrusted", untrusted]] as const

/** TLS options of a client trusting the broker's CA and presenting `cert`. */
const presenting = (cert: ClientCert) => ({ ca: readFileSync(certs.get().caCert), cert: readFileSync(cert.cert), key: readFileSync(cert.key) })

const secureBroker = (options: TestBrokerOptions) => life.broker(withCertificates(certs.get(), { tlsPort: 0, wssPort: 0 }, options))

const urls = (b: TestBroker) => ({
  tls: `mqtts://127.0.0.1:${b.listeners.tlsPort}`,
  wss: `wss://127.0.0.1:${b.listeners.wssPort}/mqtt`
})

describe("client certificates that do not verify, verify_client = \"required\"", () => {
  for (const listener of ["tls", "wss"] as const) {
    it(`MQTT over ${listener}: expired and untrusted certificates are refused in the handshake; a good client keeps working`, async () => {
      const b = await secureBroker({ tls: { verifyClient: "required" } })
      const bystander = life.track(await connect(urls(b)[listener], { ...presenting(good()), protocolVersion: 5 }))
      const failures = inputFaults.tlsHandshakeFailures
      for (const [name, cert] of badOnes()) {
        await expect(connect(urls(b)[listener], { ...presenting(cert), protocolVersion: 5, clientId: `${name}-client` }), name).rejects.toThrow()
        expect(b.server.engine.sessions.has(`${name}-client`), name).toBe(false)
      }
      await waitUntil(() => inputFaults.tlsHandshakeFailures >= failures + 2, 5000, () => "both refused handshakes to be counted")
      expect(bystander.client.connected).toBe(true)
      await roundTrip(bystander, `${listener}/still-here`)
    })
  }

  it("Kafka over TLS: expired and untrusted certificates cannot connect; a producer with a good one keeps producing", async () => {
    const b = await life.broker({
      kafka: { tlsPort: 0 },
      tls: { certFile: certs.get().serverCert, keyFile: certs.get().serverKey, caFile: certs.get().caCert, verifyClient: "required" }
    })
    const producer = await kafkaClients.producer(kafkaClient(b.kafkaTlsPort, "good-cert", { ssl: presenting(good()) }))
    await producer.send({ topic: "certs", messages: [{ value: "before" }] })
    for (const [name, cert] of badOnes()) {
      const admin = kafkaClients.track(kafkaClient(b.kafkaTlsPort, `${name}-cert`, { ssl: presenting(cert) }).admin())
      await expect(admin.connect(), name).rejects.toThrow()
    }
    const sent = await producer.send({ topic: "certs", messages: [{ value: "after" }] })
    expect(sent[0]!.baseOffset).toBe("1")
  })
})

describe("client certificates that do not verify, verify_client = \"optional\" with cn_as_username", () => {
  it("the TLS connection is made but the certificate names nobody: CONNACK 0x87 without a password, while the good certificate is device-1", async () => {
    const b = await secureBroker({ tls: { verifyClient: "optional", cnAsUsername: true }, auth: { allowAnonymous: false } })
    const bystander = life.track(await connect(urls(b).tls, { ...presenting(good()), protocolVersion: 5, clientId: "good-device" }))
    for (const [name, cert] of badOnes()) {
      expect(await connackCode(urls(b).tls, { ...presenting(cert), protocolVersion: 5, clientId: `${name}-device` }), name).toBe(0x87)
      expect(await connackCode(urls(b).wss, { ...presenting(cert), protocolVersion: 4, clientId: `${name}-device` }), name).toBe(5)
    }
    expect(await connackCode(urls(b).wss, { ...presenting(good()), protocolVersion: 5 })).toBe(0)
    await roundTrip(bystander, "optional/still-here")
  })
})

describe("a WebSocket upgrade reset by its client", () => {
  it("while the broker refuses it (wrong path, not MQTT) throws nothing in the broker; a WebSocket client keeps working", async () => {
    const b = await life.broker(withCertificates(certs.get(), { wsPort: 0 }, {}))
    const bystander = life.track(await connect(`ws://127.0.0.1:${b.listeners.wsPort}/mqtt`))
    const upgrade = (path: string, protocol: string) =>
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`
    const refused = inputFaults.wsRefusedRequests
    for (let i = 0; i < 10; i++) {
      const request = i % 2 === 0 ? upgrade("/elsewhere", "mqtt") : upgrade("/mqtt", "chat")
      const socket = net.connect(b.listeners.wsPort, "127.0.0.1")
      socket.on("error", () => {})
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
      socket.write(request)
      // Half the time at once, half after the refusal started coming back: both timings reset it.
      if (i % 4 >= 2) await new Promise<void>((resolve) => socket.once("data", () => resolve()))
      socket.resetAndDestroy()
    }
    await waitUntil(() => inputFaults.wsRefusedRequests >= refused + 10, 5000, () => "every refusal to be counted")
    await roundTrip(bystander, "ws/after-resets")
  })
})
