/**
 * Certificates for TLS tests, made per test file by the code behind `robustmq cert dev` (a CA,
 * a localhost/127.0.0.1 server certificate, a client certificate) in a temp dir removed after
 * the file's tests.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { type DevCertificates, type DevCertificateOptions, writeDevCertificates } from "../../src/tls/devCertificates.js"
import type { TestBrokerOptions } from "./TestBroker.js"

export interface TestCertificates extends DevCertificates {
  readonly dir: string
}

/** Registers beforeAll/afterAll in the calling file; `get()` returns the set once made. */
/** `options` with the listeners in `ports` turned on and [tls] set to the certificates (options win). */
export const withCertificates = (
  certs: DevCertificates,
  ports: Partial<Record<"tlsPort" | "wsPort" | "wssPort", number>>,
  options: TestBrokerOptions
): TestBrokerOptions => ({
  ...options,
  mqtt: { ...ports, ...options.mqtt },
  tls: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.caCert, ...options.tls }
})

export const useCertificates = (options: DevCertificateOptions = {}) => {
  let certs: TestCertificates | null = null
  const dir = mkdtempSync(join(tmpdir(), "robustmq-certs-"))
  beforeAll(async () => {
    certs = { dir, ...(await writeDevCertificates(dir, options)) }
  }, 30_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return {
    get: (): TestCertificates => {
      if (certs === null) throw new Error("certificates are made in beforeAll: call get() inside a test")
      return certs
    }
  }
}
