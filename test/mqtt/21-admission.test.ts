/**
 * Abuse limits at CONNECT (issue 9 item 7), through real sockets: connections per address
 * (0x97, v3 code 3), CONNECTs per second (0x9F, v3 code 3) and failed logins per address (0x8A
 * Banned, v3 code 5, for auth.failure_window seconds), each counted in $SYS. Clients bind
 * 127.0.0.2 to be "another address" on the same machine.
 */
import * as net from "node:net"
import * as mqttPacket from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { authDir, writeUsers } from "../auth/authFiles.js"
import { waitUntil } from "../support/clients.js"
import { kafkaClient, useKafkaClients } from "../support/kafka.js"
import { useBrokers } from "../support/lifecycle.js"

const { broker } = useBrokers()
const clients = useKafkaClients()
const dir = authDir()

interface Attempt {
  readonly code: number
  /** Closes the connection (accepted ones stay open until then). */
  readonly close: () => void
}

/** One CONNECT from `from` (a local address); resolves with the CONNACK's code. */
const attempt = (port: number, version: 4 | 5, options: { from?: string; username?: string; password?: string } = {}) =>
  new Promise<Attempt>((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: options.from ?? "127.0.0.1" })
    const parser = mqttPacket.parser({ protocolVersion: version })
    parser.on("packet", (p: mqttPacket.Packet) => {
      if (p.cmd !== "connack") return
      resolve({ code: (version === 5 ? p.reasonCode : p.returnCode) ?? 0, close: () => socket.destroy() })
    })
    socket.on("data", (d) => parser.parse(d))
    socket.on("error", reject)
    socket.on("connect", () => {
      const connect: mqttPacket.IConnectPacket = { cmd: "connect", protocolVersion: version, clientId: "", clean: true, keepalive: 0 }
      if (options.username !== undefined) connect.username = options.username
      if (options.password !== undefined) connect.password = Buffer.from(options.password)
      socket.write(mqttPacket.generate(connect, { protocolVersion: version }))
    })
  })

describe("limits.max_connections_per_ip", () => {
  it("refuses a third connection from one address (v5 0x97, v3 3), not from another, and takes it again once one left", async () => {
    const b = await broker({ limits: { maxConnectionsPerIp: 2 } })
    const first = await attempt(b.port, 5)
    const second = await attempt(b.port, 4)
    expect([first.code, second.code]).toEqual([0, 0])
    expect((await attempt(b.port, 5)).code).toBe(0x97)
    expect((await attempt(b.port, 4)).code).toBe(3)
    const other = await attempt(b.port, 5, { from: "127.0.0.2" })
    expect(other.code).toBe(0)
    first.close()
    await waitUntil(() => b.server.context.connected === 2, 5000, () => "the first connection to be gone")
    expect((await attempt(b.port, 5)).code).toBe(0)
    expect(b.server.context.admission.refused.perIp).toBe(2)
  })
})

describe("limits.max_connect_rate", () => {
  it("refuses CONNECTs beyond the rate within one second (0x9F), and takes them again the next", async () => {
    const b = await broker({ limits: { maxConnectRate: 3 } })
    const codes: Array<number> = []
    for (let i = 0; i < 8; i++) codes.push((await attempt(b.port, 5)).code)
    // Eight in well under a second may straddle one second boundary: at most 6 get through.
    expect(codes.filter((c) => c === 0x9f).length).toBeGreaterThanOrEqual(2)
    expect(codes.every((c) => c === 0 || c === 0x9f)).toBe(true)
    await new Promise((r) => setTimeout(r, 1100))
    expect((await attempt(b.port, 5)).code).toBe(0)
  })
})

describe("auth.max_failures", () => {
  it("after 3 bad passwords an address is refused even with the right one (0x8A, v3 5), other addresses are not, and it may try again after the window", async () => {
    const passwordFile = writeUsers(dir, { dev: "right" })
    const b = await broker({ auth: { allowAnonymous: false, passwordFile, maxFailures: 3, failureWindow: 2 } })
    for (let i = 0; i < 3; i++) expect((await attempt(b.port, 5, { username: "dev", password: "wrong" })).code).toBe(0x86)
    expect((await attempt(b.port, 5, { username: "dev", password: "right" })).code).toBe(0x8a)
    expect((await attempt(b.port, 4, { username: "dev", password: "right" })).code).toBe(5)
    expect((await attempt(b.port, 5, { from: "127.0.0.2", username: "dev", password: "right" })).code).toBe(0)
    expect(b.server.context.admission.refused.banned).toBe(2)
    await new Promise((r) => setTimeout(r, 2100))
    expect((await attempt(b.port, 5, { username: "dev", password: "right" })).code).toBe(0)
  })
})

describe("auth.max_failures across protocols", () => {
  it("failed Kafka SASL logins count with MQTT ones: the address is then refused on both listeners", async () => {
    const passwordFile = writeUsers(dir, { dev: "right" })
    const b = await broker({ auth: { allowAnonymous: false, passwordFile, maxFailures: 2, failureWindow: 30 } })
    const bad = kafkaClient(b.kafkaPort, "bad-login", { sasl: { mechanism: "plain", username: "dev", password: "wrong" } })
    for (let i = 0; i < 2; i++) {
      const admin = clients.track(bad.admin())
      const error = await admin.connect().then(() => null, (e: Error) => e)
      expect(error?.name).toBe("KafkaJSSASLAuthenticationError")
    }
    // Now even the right password is refused: MQTT with 0x8A, Kafka by closing the connection.
    expect((await attempt(b.port, 5, { username: "dev", password: "right" })).code).toBe(0x8a)
    const good = clients.track(kafkaClient(b.kafkaPort, "good-login", { sasl: { mechanism: "plain", username: "dev", password: "right" } }).admin())
    const refused = await good.connect().then(() => null, (e: Error) => e)
    expect(refused).not.toBe(null)
    expect(b.server.context.admission.refused.banned).toBeGreaterThanOrEqual(2)
  })
})
