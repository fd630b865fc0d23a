/**
 * `robustmq cert dev DIR`: a local CA, a server certificate for localhost / 127.0.0.1 / ::1 and
 * a client certificate, as PEM files, made with the `openssl` binary, so TLS and mTLS can be
 * tried in one command (and tests get fresh certificates per run). For development only: the
 * keys are unencrypted and the CA key sits beside them.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmod, mkdir, rm, writeFile } from "node:fs/promises"
import * as NodePath from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

export interface DevCertificates {
  readonly caCert: string
  readonly caKey: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCert: string
  readonly clientKey: string
}

export interface DevCertificateOptions {
  /** CN of the client certificate (with tls.cn_as_username, the MQTT user name). */
  readonly clientName?: string
  /** Days the certificates are valid. */
  readonly days?: number
  /** Told each step, one line each. */
  readonly progress?: (line: string) => void
}

/** An EC P-256 key: quick to make, accepted by every TLS client we test with. */
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

const openssl = async (args: ReadonlyArray<string>): Promise<void> => {
  try {
    await run("openssl", [...args])
  } catch (cause) {
    const e = cause as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === "ENOENT") throw new Error("openssl was not found on the PATH: install it (Debian/Ubuntu: apt-get install openssl) and run `robustmq cert dev` again")
    const detail = (e.stderr ?? e.message).trim().split("\n").slice(-1)[0]
    throw new Error(`openssl ${args[0]} failed (${detail}): check that DIR is writable and openssl is 1.1.1 or newer`)
  }
}

const serial = () => `0x${randomBytes(8).toString("hex")}`

/** Signs a new key's certificate with the CA; `extensions` are openssl extension lines. */
const issue = async (dir: string, name: string, subject: string, extensions: string, ca: { cert: string; key: string }, days: number) => {
  const key = NodePath.join(dir, `${name}.key`)
  const csr = NodePath.join(dir, `${name}.csr`)
  const ext = NodePath.join(dir, `${name}.ext`)
  const cert = NodePath.join(dir, `${name}.crt`)
  await openssl(["req", "-new", ...NEW_KEY, "-keyout", key, "-out", csr, "-subj", subject])
  await writeFile(ext, extensions)
  try {
    await openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", serial(), "-days", String(days), "-sha256", "-extfile", ext, "-out", cert])
  } finally {
    await rm(csr, { force: true })
    await rm(ext, { force: true })
  }
  await chmod(key, 0o600)
  return { cert, key }
}

/** Writes ca.crt/key, server.crt/key and client.crt/key into `dir` (created if missing). */
export const writeDevCertificates = async (dir: string, options: DevCertificateOptions = {}): Promise<DevCertificates> => {
  const progress = options.progress ?? (() => {})
  const days = options.days ?? 825
  const clientName = options.clientName ?? "device-1"
  await mkdir(dir, { recursive: true })
  const ca = { cert: NodePath.join(dir, "ca.crt"), key: NodePath.join(dir, "ca.key") }
  progress(`CA: ${ca.cert} (key ${ca.key})`)
  await openssl([
    "req", "-x509", ...NEW_KEY, "-keyout", ca.key, "-out", ca.cert, "-days", String(days), "-sha256",
    "-subj", "/CN=RobustMQ development CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  ])
  await chmod(ca.key, 0o600)
  progress(`server certificate for localhost, 127.0.0.1 and ::1: ${NodePath.join(dir, "server.crt")}`)
  const server = await issue(dir, "server", "/CN=localhost", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n", ca, days)
  progress(`client certificate with CN ${clientName}: ${NodePath.join(dir, "client.crt")}`)
  const client = await issue(dir, "client", `/CN=${clientName}`, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n", ca, days)
  return { caCert: ca.cert, caKey: ca.key, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key }
}
