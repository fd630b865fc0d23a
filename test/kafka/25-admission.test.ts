/**
 * The abuse limits on the Kafka listeners (issue 9 item 7): limits.max_connections_per_ip and
 * limits.max_connect_rate, on the plain and the TLS port, counted in the one Admission the MQTT
 * listeners use. Kafka has no refusal frame before SASL, so a refused connection is closed at
 * accept. Raw sockets (KafkaWire) bind 127.0.0.2 to be "another address" on the same machine;
 * a connection counts as served when it answers ApiVersions.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { rawConnect } from "../auth/authFiles.js"
import { useCertificates } from "../support/certificates.js"
import { KafkaWire, type WireOptions } from "../support/KafkaWire.js"
import { useBrokers } from "../support/lifecycle.js"

const certs = useCertificates()
const life = useBrokers()

const open: Array<KafkaWire> = []
const closeAll = () => {
  for (const w of open.splice(0)) w.destroy()
}

/** A connection to `port` and whether the broker serves it (answers ApiVersions) or closed it. */
const attempt = async (port: number, options: WireOptions = {}): Promise<{ readonly served: boolean; readonly wire: KafkaWire | null }> => {
  let wire: KafkaWire
  try {
    wire = await KafkaWire.connect(port, 5_000, options)
  } catch {
    return { served: false, wire: null } // a TLS client may see the close during its handshake
  }
  open.push(wire)
  try {
    const versions = await wire.request(ApiKey.ApiVersions, 0, {} as never)
    return { served: versions.errorCode === 0, wire }
  } catch {
    return { served: false, wire }
  }
}

const tlsOptions = (): WireOptions["tls"] => ({ ca: readFileSync(certs.get().caCert), servername: "localhost" })

describe("limits.max_connections_per_ip on the Kafka listeners", () => {
  it("the plain port closes a third connection from one address at accept, not one from another, and takes it again once one left", async () => {
    const b = await life.broker({ limits: { maxConnectionsPerIp: 2 } })
    try {
      const first = await attempt(b.kafkaPort)
      const second = await attempt(b.kafkaPort)
      expect([first.served, second.served]).toEqual([true, true])
      const third = await attempt(b.kafkaPort)
      expect(third.served).toBe(false)
      expect(third.wire?.isClosed ?? true).toBe(true)
      expect((await attempt(b.kafkaPort, { from: "127.0.0.2" })).served).toBe(true)
      // The first two still work: only the refused one was closed.
      expect((await first.wire!.request(ApiKey.ApiVersions, 0, {} as never)).errorCode).toBe(0)
      expect(b.server.context.admission.refused.perIp).toBe(1)
      first.wire!.destroy()
      let again = false
      for (let i = 0; i < 50 && !again; i++) {
        again = (await attempt(b.kafkaPort)).served
        if (!again) await new Promise((r) => setTimeout(r, 50))
      }
      expect(again).toBe(true)
    } finally {
      closeAll()
    }
  })

  it("MQTT and Kafka connections from one address count together (one Admission)", async () => {
    const b = await life.broker({ limits: { maxConnectionsPerIp: 2 } })
    try {
      const mqtt = await rawConnect(b.port, 5, { clientId: "counted" })
      expect(mqtt.code).toBe(0)
      expect((await attempt(b.kafkaPort)).served).toBe(true)
      expect((await attempt(b.kafkaPort)).served).toBe(false)
      expect((await rawConnect(b.port, 5, { clientId: "one-too-many" })).code).toBe(0x97)
      await mqtt.client.destroy()
    } finally {
      closeAll()
    }
  })

  it("the TLS port closes the connection over the limit after its handshake; another address and the first connection are served", async () => {
    const b = await life.broker({
      limits: { maxConnectionsPerIp: 1 },
      kafka: { tlsPort: 0 },
      tls: { certFile: certs.get().serverCert, keyFile: certs.get().serverKey, caFile: certs.get().caCert }
    })
    try {
      const first = await attempt(b.kafkaTlsPort, { tls: tlsOptions() })
      expect(first.served).toBe(true)
      expect((await attempt(b.kafkaTlsPort, { tls: tlsOptions() })).served).toBe(false)
      // The plain port shares the count.
      expect((await attempt(b.kafkaPort)).served).toBe(false)
      expect((await attempt(b.kafkaTlsPort, { tls: tlsOptions(), from: "127.0.0.2" })).served).toBe(true)
      expect((await first.wire!.request(ApiKey.ApiVersions, 0, {} as never)).errorCode).toBe(0)
      expect(b.server.context.admission.refused.perIp).toBe(2)
    } finally {
      closeAll()
    }
  })
})

describe("limits.max_connect_rate on the Kafka listeners", () => {
  it("closes new connections beyond the rate within one second, and serves them again the next", async () => {
    const b = await life.broker({ limits: { maxConnectRate: 3 } })
    try {
      const served: Array<boolean> = []
      for (let i = 0; i < 8; i++) served.push((await attempt(b.kafkaPort)).served)
      // Eight in well under a second may straddle one second boundary: at most 6 get through.
      expect(served.filter((s) => !s).length).toBeGreaterThanOrEqual(2)
      expect(b.server.context.admission.refused.rate).toBe(served.filter((s) => !s).length)
      await new Promise((r) => setTimeout(r, 1100))
      expect((await attempt(b.kafkaPort)).served).toBe(true)
    } finally {
      closeAll()
    }
  })
})
