/**
 * Certificates for TLS tests, made per test file by the code behind `robustmq cert dev` (a CA,
 * a localhost/127.0.0.1 server certificate, a client certificate) in a temp dir removed after
 * the file's tests.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { isIP } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
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

const openssl = promisify(execFile)

/**
 * A client certificate signed by `certs`' CA that expired a day before it became valid
 * (`openssl x509 -days -1`: notAfter = now - 1 day), with its key, in `dir`. Checked with
 * `openssl x509 -checkend 0`, so a test never passes on a certificate that is still good.
 */
export const writeExpiredClientCertificate = async (certs: DevCertificates, dir: string, name = "device-1"): Promise<{ readonly cert: string; readonly key: string }> => {
  const key = join(dir, "expired.key")
  const csr = join(dir, "expired.csr")
  const ext = join(dir, "expired.ext")
  const cert = join(dir, "expired.crt")
  await openssl("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${name}`])
  writeFileSync(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
  await openssl("openssl", ["x509", "-req", "-in", csr, "-CA", certs.caCert, "-CAkey", certs.caKey, "-set_serial", "0x0e", "-days", "-1", "-sha256", "-extfile", ext, "-out", cert])
  const stillValid = await openssl("openssl", ["x509", "-in", cert, "-noout", "-checkend", "0"]).then(() => true, () => false)
  if (stillValid) throw new Error(`openssl made ${cert} valid: this openssl does not accept -days -1`)
  return { cert, key }
}

/**
 * A node-link certificate (cluster.tls_cert_file) for `name` signed by `ca`, naming `hosts` (IPs
 * and DNS names) and good for both ends of a link (serverAuth and clientAuth), with its key, in `dir`.
 */
export const writeNodeCertificate = async (
  dir: string,
  name: string,
  ca: { readonly cert: string; readonly key: string },
  hosts: ReadonlyArray<string> = ["127.0.0.1"]
): Promise<{ readonly cert: string; readonly key: string }> => {
  const key = join(dir, `${name}.key`)
  const csr = join(dir, `${name}.csr`)
  const ext = join(dir, `${name}.ext`)
  const cert = join(dir, `${name}.crt`)
  const san = hosts.map((h) => (isIP(h) === 0 ? `DNS:${h}` : `IP:${h}`)).join(",")
  await openssl("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${name}`])
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`)
  await openssl("openssl", ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", "30", "-sha256", "-extfile", ext, "-out", cert])
  return { cert, key }
}
