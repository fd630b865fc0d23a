/**
 * MQTT over WebSocket (mqtt.ws_port) and over WebSocket with TLS (mqtt.wss_port): MQTT.js with
 * ws:// and wss:// URLs, packets split across and packed into frames (MQTT 5.0 section 6), and
 * bad input closing only its own connection: HTTP without Upgrade (400), a wrong path (404), a
 * subprotocol that is not MQTT, a text frame (close 1003), a frame over limits.max_packet_size
 * (close 1009). Raw WebSocket clients are the `ws` package's.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as mqttPacket from "mqtt-packet"
import { afterAll, describe, expect, it } from "vitest"
import { WebSocket } from "ws"
import { writeAcl } from "../auth/authFiles.js"
import { useCertificates, withCertificates } from "../support/certificates.js"
import { connect, roundTrip, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import type { TestBroker, TestBrokerOptions } from "../support/TestBroker.js"

const certs = useCertificates()
const life = useBrokers()
const scratch = mkdtempSync(join(tmpdir(), "robustmq-ws-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const wsBroker = (options: TestBrokerOptions = {}) => life.broker(withCertificates(certs.get(), { wsPort: 0, wssPort: 0 }, options))

const wsUrl = (b: TestBroker, path = "/mqtt") => `ws://127.0.0.1:${b.listeners.wsPort}${path}`

/** A raw WebSocket with the MQTT subprotocol; collects binary messages, resolves `closed` with the close code. */
const rawSocket = async (b: TestBroker) => {
  const ws = new WebSocket(wsUrl(b), "mqtt")
  const received: Array<Buffer> = []
  ws.on("message", (data: Buffer) => received.push(data))
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)))
  ws.on("error", () => {})
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve())
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
  })
  return { ws, received, closed }
}

const CONNECT = mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "raw-ws", clean: true, keepalive: 30 })
const PINGREQ = mqttPacket.generate({ cmd: "pingreq" })

/** An HTTP request to the WebSocket port: status and body. */
const httpGet = (port: number, path: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers }, (res) => {
      let body = ""
      res.on("data", (d: Buffer) => (body += d.toString()))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on("error", reject)
  })

describe("MQTT over WebSocket", () => {
  it.each([4, 5] as const)("MQTT.js over ws://host:port/mqtt publishes to and receives from an MQTT.js client over TCP (protocol %i)", async (protocolVersion) => {
    const b = await wsBroker()
    const viaWs = life.track(await connect(wsUrl(b), { protocolVersion, clientId: `ws-${protocolVersion}` }))
    const viaTcp = life.track(await connect(b.url, { protocolVersion }))
    await viaTcp.client.subscribeAsync("browser/#", { qos: 1 })
    await viaWs.client.subscribeAsync("device/#", { qos: 1 })
    await viaWs.client.publishAsync("browser/click", "from ws", { qos: 1 })
    await viaTcp.client.publishAsync("device/temp", "from tcp", { qos: 1 })
    expect((await viaTcp.waitFor(1))[0]!.payload).toBe("from ws")
    expect((await viaWs.waitFor(1))[0]!.payload).toBe("from tcp")
  })

  it("MQTT.js over wss:// trusting the broker's CA", async () => {
    const b = await wsBroker()
    const client = life.track(await connect(`wss://127.0.0.1:${b.listeners.wssPort}/mqtt`, { ca: readFileSync(certs.get().caCert), protocolVersion: 5 }))
    await roundTrip(client, "wss/x")
    expect(client.messages[0]!.payload).toBe("still here")
  })

  it("wss:// with a client certificate: its CN is the user name the ACL knows (cn_as_username)", async () => {
    const aclFile = writeAcl(scratch, "user device-1\ntopic readwrite devices/device-1/#\n")
    const b = await wsBroker({ tls: { verifyClient: "required", cnAsUsername: true }, auth: { allowAnonymous: false, aclFile } })
    const c = certs.get()
    const client = life.track(await connect(`wss://127.0.0.1:${b.listeners.wssPort}/mqtt`, {
      ca: readFileSync(c.caCert), cert: readFileSync(c.clientCert), key: readFileSync(c.clientKey), protocolVersion: 5
    }))
    await roundTrip(client, "devices/device-1/x")
    await expect(client.client.subscribeAsync("devices/device-2/#", { qos: 0 })).rejects.toThrow("Not authorized")
  })

  it("a packet may span frames and a frame may hold several packets", async () => {
    const b = await wsBroker()
    const raw = await rawSocket(b)
    raw.ws.send(CONNECT.subarray(0, 5))
    raw.ws.send(CONNECT.subarray(5))
    await waitUntil(() => raw.received.length >= 1, 5000, () => "CONNACK")
    expect([...raw.received[0]!]).toEqual([0x20, 0x02, 0x00, 0x00])
    raw.ws.send(Buffer.concat([PINGREQ, PINGREQ, PINGREQ]))
    await waitUntil(() => Buffer.concat(raw.received.slice(1)).length >= 6, 5000, () => "three PINGRESPs")
    expect([...Buffer.concat(raw.received.slice(1))]).toEqual([0xd0, 0, 0xd0, 0, 0xd0, 0])
    raw.ws.close()
  })

  it("HTTP without Upgrade gets 400 saying what the port is for; a wrong path 404; another client keeps working", async () => {
    const b = await wsBroker()
    const client = life.track(await connect(wsUrl(b)))
    const plain = await httpGet(b.listeners.wsPort, "/mqtt")
    expect(plain.status).toBe(400)
    expect(plain.body).toContain("MQTT over WebSocket")
    const upgrade = { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "mqtt" }
    const elsewhere = await httpGet(b.listeners.wsPort, "/other", upgrade)
    expect(elsewhere.status).toBe(404)
    expect(elsewhere.body).toContain("/mqtt")
    const notMqtt = await httpGet(b.listeners.wsPort, "/mqtt", { ...upgrade, "Sec-WebSocket-Protocol": "chat" })
    expect(notMqtt.status).toBe(400)
    expect(notMqtt.body).toContain("not MQTT")
    await roundTrip(client, "http/alive")
  })

  it("X-Forwarded-For names the client only with mqtt.ws_trust_proxy", async () => {
    for (const trust of [false, true]) {
      const b = await wsBroker({ mqtt: { wsTrustProxy: trust } })
      const ws = new WebSocket(wsUrl(b), "mqtt", { headers: { "X-Forwarded-For": "203.0.113.7, 10.0.0.1" } })
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve())
        ws.once("error", reject)
      })
      await waitUntil(() => b.server.context.connections.size === 1, 5000, () => "the connection to be accepted")
      const [conn] = [...b.server.context.connections]
      expect(conn!.socket.remoteAddress).toBe(trust ? "203.0.113.7" : "127.0.0.1")
      ws.close()
    }
  })

  it("the versioned subprotocol names are accepted too", async () => {
    const b = await wsBroker()
    for (const name of ["mqttv3.1", "mqttv3.1.1", "mqttv5"]) {
      const ws = new WebSocket(wsUrl(b), name)
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve())
        ws.once("error", reject)
      })
      expect(ws.protocol).toBe(name)
      ws.close()
    }
  })

  it("a text frame closes that connection (1003) and its will goes out; another client keeps working", async () => {
    const b = await wsBroker()
    const watcher = life.track(await connect(wsUrl(b)))
    await watcher.client.subscribeAsync("wills/#", { qos: 0 })
    const raw = await rawSocket(b)
    raw.ws.send(mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "texter", clean: true, keepalive: 30, will: { topic: "wills/texter", payload: Buffer.from("gone"), qos: 0, retain: false } }))
    await waitUntil(() => raw.received.length >= 1, 5000, () => "CONNACK")
    raw.ws.send("hello as text")
    expect(await raw.closed).toBe(1003)
    expect((await watcher.waitFor(1))[0]!.payload).toBe("gone")
    await roundTrip(watcher, "text/alive")
  })

  it("a frame over limits.max_packet_size closes that connection with 1009; another client keeps working", async () => {
    const b = await wsBroker({ limits: { maxPacketSize: 1024 } })
    const client = life.track(await connect(wsUrl(b)))
    const raw = await rawSocket(b)
    raw.ws.send(CONNECT)
    await waitUntil(() => raw.received.length >= 1, 5000, () => "CONNACK")
    raw.ws.send(Buffer.alloc(2048, 0x30))
    expect(await raw.closed).toBe(1009)
    await roundTrip(client, "big/alive")
  })
})
