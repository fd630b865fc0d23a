/**
 * MQTT over TLS (mqtt.tls_port) with real clients: mosquitto_pub/sub with --cafile, mTLS with
 * the client certificate's CN as the user name under an ACL, a required client certificate
 * refused when missing, certificates re-read on SIGHUP, and bad input on the TLS port (garbage
 * instead of a handshake, plain MQTT) closing only its own connection. Certificates are made
 * per run by the code behind `robustmq cert dev`.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as mqttPacket from "mqtt-packet"
import { afterAll, describe, expect, it } from "vitest"
import { inputFaults } from "../../src/net/inputFaults.js"
import { writeDevCertificates } from "../../src/tls/devCertificates.js"
import { writeAcl } from "../auth/authFiles.js"
import { useCertificates, withCertificates } from "../support/certificates.js"
import { connect, roundTrip, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { messageLines, mosquittoInstalled as installed, PUB, SUB, subscribeWith } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"
import { startBroker, type TestBroker, type TestBrokerOptions } from "../support/TestBroker.js"

if (!installed) console.warn(`[18-tls] mosquitto client cases SKIPPED: ${PUB} / ${SUB} not found; install mosquitto-clients (CI does)`)
const withMosquitto = installed ? it : it.skip

const certs = useCertificates({ clientName: "device-1" })
const life = useBrokers()
const spawnClient = useProcesses()
const scratch = mkdtempSync(join(tmpdir(), "robustmq-tls-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** A broker with the TLS listener on a free port and the run's certificates. */
const tlsBroker = (options: TestBrokerOptions = {}) => life.broker(withCertificates(certs.get(), { tlsPort: 0 }, options))

const tlsArgs = (b: TestBroker) => ["-h", "127.0.0.1", "-p", String(b.listeners.tlsPort), "--cafile", certs.get().caCert]
const clientCertArgs = () => ["--cert", certs.get().clientCert, "--key", certs.get().clientKey]

const subscribe = subscribeWith(spawnClient)

/** An MQTT.js client over TLS trusting the run's CA, with the client certificate when asked. */
const tlsClient = (b: TestBroker, withCert: boolean, ca = certs.get().caCert) =>
  connect(`mqtts://127.0.0.1:${b.listeners.tlsPort}`, {
    ca: readFileSync(ca),
    ...(withCert ? { cert: readFileSync(certs.get().clientCert), key: readFileSync(certs.get().clientKey) } : {})
  }).then(life.track)

describe("MQTT over TLS", () => {
  withMosquitto.each(["mqttv311", "mqttv5"] as const)("mosquitto_sub gets what mosquitto_pub sends over TLS with --cafile (-V %s)", async (v) => {
    const b = await tlsBroker()
    const sub = await subscribe(b, [...tlsArgs(b), "-V", v, "-q", "1", "-t", "tls/#", "-C", "2", "-v"])
    for (const qos of ["0", "1"]) {
      const r = await spawnClient(PUB, [...tlsArgs(b), "-V", v, "-q", qos, "-t", `tls/q${qos}`, "-m", `secret ${qos}`]).exited
      expect(r.code, r.stderr).toBe(0)
    }
    const done = await sub.exited
    expect(done.code, done.stderr).toBe(0)
    expect(messageLines(done.stdout)).toEqual(["tls/q0 secret 0", "tls/q1 secret 1"])
  })

  withMosquitto("mTLS: the client certificate's CN is the user name, and the ACL rule for that user applies", async () => {
    const aclFile = writeAcl(scratch, "user device-1\ntopic readwrite devices/device-1/#\n")
    const b = await tlsBroker({
      tls: { verifyClient: "required", cnAsUsername: true },
      auth: { allowAnonymous: false, aclFile }
    })
    const sub = await subscribe(b, [...tlsArgs(b), ...clientCertArgs(), "-V", "mqttv5", "-q", "1", "-t", "devices/device-1/#", "-C", "1", "-v"])
    const pub = await spawnClient(PUB, [...tlsArgs(b), ...clientCertArgs(), "-V", "mqttv5", "-q", "1", "-t", "devices/device-1/temp", "-m", "21.5"]).exited
    expect(pub.code, pub.stderr).toBe(0)
    const done = await sub.exited
    expect(messageLines(done.stdout)).toEqual(["devices/device-1/temp 21.5"])
    // Outside the user's rule: the subscription is refused (v5 SUBACK 0x87).
    const refused = await spawnClient(SUB, [...tlsArgs(b), ...clientCertArgs(), "-V", "mqttv5", "-t", "devices/device-2/#", "-C", "1", "-W", "5", "-d"]).exited
    expect(refused.stdout).toContain("Subscribed (mid: 1): 135") // 0x87 Not authorized
    expect(refused.stderr).toContain("All subscription requests were denied.")
  })

  withMosquitto("verify_client = \"required\": a client without a certificate is refused; one with it keeps working", async () => {
    const b = await tlsBroker({ tls: { verifyClient: "required" } })
    const good = await tlsClient(b, true)
    const failures = inputFaults.tlsHandshakeFailures
    const r = await spawnClient(PUB, [...tlsArgs(b), "-t", "x", "-m", "no cert"]).exited
    expect(r.code).not.toBe(0)
    await waitUntil(() => inputFaults.tlsHandshakeFailures > failures, 5000, () => "the refused handshake to be counted")
    await roundTrip(good, "mtls/alive")
  })

  it("verify_client = \"optional\" without cn_as_username: clients with and without a certificate connect", async () => {
    const b = await tlsBroker({ tls: { verifyClient: "optional" } })
    await roundTrip(await tlsClient(b, false), "opt/a")
    await roundTrip(await tlsClient(b, true), "opt/b")
  })

  it("garbage instead of a TLS handshake, and a plain MQTT CONNECT on the TLS port, close only their own connections", async () => {
    const b = await tlsBroker()
    const good = await tlsClient(b, false)
    const plainTcp = life.track(await connect(b.url))
    const failures = inputFaults.tlsHandshakeFailures
    const connectPacket = mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "plain-on-tls", clean: true, keepalive: 30 })
    for (const bytes of [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n\u0000\u0001garbage"), connectPacket]) {
      const socket = net.connect(b.listeners.tlsPort, "127.0.0.1")
      socket.on("error", () => {})
      const received: Array<Buffer> = []
      socket.on("data", (d: Buffer) => received.push(d))
      socket.write(bytes)
      await new Promise<void>((resolve) => socket.once("close", () => resolve()))
      // No CONNACK came back: nothing but (at most) a TLS alert.
      expect(Buffer.concat(received).includes(Buffer.from([0x20, 0x02]))).toBe(false)
    }
    await waitUntil(() => inputFaults.tlsHandshakeFailures >= failures + 2, 5000, () => "both bad handshakes to be counted")
    expect(b.server.engine.sessions.has("plain-on-tls")).toBe(false)
    await roundTrip(good, "bad/tls")
    await roundTrip(plainTcp, "bad/tcp")
  })

  it("SIGHUP re-reads the certificate files for new connections; a bad file keeps the previous ones", async () => {
    // Two certificate sets; the broker's files start as set A and are replaced by set B.
    const a = certs.get()
    const bDir = mkdtempSync(join(scratch, "set-b-"))
    const setB = await writeDevCertificates(bDir)
    const live = mkdtempSync(join(scratch, "live-"))
    const liveCert = join(live, "server.crt")
    const liveKey = join(live, "server.key")
    copyFileSync(a.serverCert, liveCert)
    copyFileSync(a.serverKey, liveKey)
    const b = await tlsBroker({ tls: { certFile: liveCert, keyFile: liveKey } })
    await roundTrip(await tlsClient(b, false, a.caCert), "hup/a")

    copyFileSync(setB.serverCert, liveCert)
    copyFileSync(setB.serverKey, liveKey)
    process.emit("SIGHUP", "SIGHUP")
    const trusts = (ca: string) => tlsClient(b, false, ca).then((c) => c.end(true).then(() => true), () => false)
    let switched = false
    for (let i = 0; i < 50 && !switched; i++) switched = await trusts(setB.caCert)
    expect(switched).toBe(true)
    expect(await trusts(a.caCert)).toBe(false)

    writeFileSync(liveCert, "not a certificate\n")
    process.emit("SIGHUP", "SIGHUP")
    await new Promise((r) => setTimeout(r, 200))
    expect(await trusts(setB.caCert)).toBe(true)
  })

  it("tls.min_version = \"TLSv1.3\" refuses a TLS 1.2 client and serves a TLS 1.3 one", async () => {
    const b = await tlsBroker({ tls: { minVersion: "TLSv1.3" } })
    const handshake = (maxVersion: "TLSv1.2" | "TLSv1.3") =>
      new Promise<string>((resolve) => {
        const socket = tls.connect({ host: "127.0.0.1", port: b.listeners.tlsPort, ca: readFileSync(certs.get().caCert), maxVersion }, () => {
          resolve(socket.getProtocol() ?? "none")
          socket.destroy()
        })
        socket.on("error", (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`))
      })
    expect(await handshake("TLSv1.2")).toMatch(/^refused: /)
    expect(await handshake("TLSv1.3")).toBe("TLSv1.3")
  })

  it("a TLS port without a certificate refuses to start, naming the setting to add", async () => {
    await expect(startBroker({ mqtt: { tlsPort: 0 } })).rejects.toThrow(
      "mqtt.tls_port is set but tls.cert_file is empty: add tls.cert_file (or --tls-cert)"
    )
    await expect(startBroker({ mqtt: { tlsPort: 0 }, tls: { certFile: certs.get().serverCert, keyFile: certs.get().serverKey, verifyClient: "required" } })).rejects.toThrow(
      "tls.verify_client = \"required\" needs tls.ca_file (or --tls-ca)"
    )
  })
})
