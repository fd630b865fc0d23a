/**
 * The node link over mutual TLS (`cluster.tls_cert_file`, `tls_key_file`, `tls_ca_file`): all
 * three set, or none (plain TCP). Both ends present their node certificate and verify the
 * other's against the CA; a node that dials also checks that the certificate names the host it
 * dialled (the peer's advertise_host, as a DNS or IP subjectAltName), as HTTPS does. Without that
 * check any certificate the CA ever signed (a device's, another service's) would pass for any
 * node; with it, a certificate is bound to the address the others reach its node at. The
 * accepting side binds the node id of the dialler's HELLO to its certificate (`helloRefusal`):
 * the certificate must name that node's advertise_host, or the node id itself. A node's
 * certificate needs both serverAuth and clientAuth in its extendedKeyUsage (or none).
 * Reads and checks the files at start, and again on SIGHUP (`reloadLinkTls`: links made after
 * it use the new files; a set that does not load keeps the old one); never touches a link after
 * its handshake.
 */
import { readFileSync } from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"
import type { ClusterConfig } from "../../config/BrokerConfigShape.js"

export interface LinkTls {
  /** For tls.createServer: ask every dialler for its certificate, refuse one the CA did not sign. */
  server: tls.TlsOptions
  /** For tls.connect, beside host and port: this node's certificate, the CA, the name check. */
  client: tls.ConnectionOptions
  /** The files as a context (what a listening server takes on a reload: setSecureContext). */
  secure: tls.SecureContextOptions
}

const settings = {
  tlsCertFile: ["cluster.tls_cert_file", "ROBUSTMQ_CLUSTER_TLS_CERT_FILE", "this node's PEM certificate (signed by the CA, naming its advertise_host)"],
  tlsKeyFile: ["cluster.tls_key_file", "ROBUSTMQ_CLUSTER_TLS_KEY_FILE", "the PEM private key of that certificate"],
  tlsCaFile: ["cluster.tls_ca_file", "ROBUSTMQ_CLUSTER_TLS_CA_FILE", "the PEM CA that signs every node's certificate"]
} as const
type Which = keyof typeof settings
const all: ReadonlyArray<Which> = ["tlsCertFile", "tlsKeyFile", "tlsCaFile"]

const read = (config: ClusterConfig, which: Which): Buffer => {
  const [key, env] = settings[which]
  try {
    return readFileSync(config[which])
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause)
    throw new Error(`cannot read ${key} ${config[which]} (${code}): check the path in ${key} or ${env}`)
  }
}

/**
 * The link's TLS options, or null when none of the three files is set. Throws an Error whose
 * message is the one line to show: a missing key (some set, not all), an unreadable file, or
 * files that do not make a context (not PEM, a key of another certificate).
 */
export const loadLinkTls = (config: ClusterConfig): LinkTls | null => {
  const set = all.filter((which) => config[which] !== "")
  if (set.length === 0) return null
  const missing = all.find((which) => config[which] === "")
  if (missing !== undefined) {
    const [key, env, what] = settings[missing]
    throw new Error(`${set.map((w) => settings[w][0]).join(" and ")} ${set.length === 1 ? "is" : "are"} set but ${key} is empty: add ${key} (or ${env}), ${what}; the node link needs all three for mutual TLS, or none for plain TCP`)
  }
  const secure: tls.SecureContextOptions = { cert: read(config, "tlsCertFile"), key: read(config, "tlsKeyFile"), ca: read(config, "tlsCaFile"), minVersion: "TLSv1.2" }
  try {
    tls.createSecureContext(secure)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new Error(`the cluster.tls_* files ${config.tlsCertFile}, ${config.tlsKeyFile}, ${config.tlsCaFile} cannot be used (${reason}): check that they are PEM and that the key belongs to the certificate`)
  }
  return {
    secure,
    server: { ...secure, requestCert: true, rejectUnauthorized: true },
    // One context for every dial; checkServerIdentity stays node's own: the name dialled (an IP
    // is checked against the IP subjectAltNames).
    client: { secureContext: tls.createSecureContext(secure), rejectUnauthorized: true }
  }
}

/**
 * SIGHUP: reads the files again into `current`, so links made from now on use them (a rotated
 * node certificate or CA without a restart). Throws, keeping `current` as it was, when the new
 * set does not load (the message is the line to log).
 */
export const reloadLinkTls = (config: ClusterConfig, current: LinkTls): void => {
  const next = loadLinkTls(config)
  if (next === null) return
  current.secure = next.secure
  current.server = next.server
  current.client = next.client
}

/**
 * A handshake refused for its certificates (either side), as opposed to a network failure: node's
 * ERR_SSL_* / ERR_TLS_* codes, and OpenSSL's verify codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE,
 * SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED, ...).
 */
export const isTlsRefusal = (error: Error): boolean => {
  const code = (error as NodeJS.ErrnoException).code ?? ""
  return /^ERR_(SSL|TLS)_|^UNABLE_TO_|CERT|SIGNATURE|ISSUER/.test(code)
}

/** The names a certificate carries, for a refusal that says what it has. */
const namesOf = (cert: tls.PeerCertificate): string => {
  const cn = commonNames(cert)
  const san = cert.subjectaltname ?? ""
  return `${cn.length === 0 ? "no CN" : `CN ${cn.join(", ")}`}, ${san === "" ? "no subjectAltName" : `subjectAltName ${san}`}`
}

const commonNames = (cert: tls.PeerCertificate): ReadonlyArray<string> => {
  const cn = cert.subject?.CN as string | ReadonlyArray<string> | undefined
  return cn === undefined ? [] : typeof cn === "string" ? [cn] : cn
}

/** The subjectAltName DNS entries ("DNS:a, IP Address:10.0.0.5, DNS:b" -> a, b). */
const dnsNames = (cert: tls.PeerCertificate): ReadonlyArray<string> =>
  (cert.subjectaltname ?? "").split(", ").filter((e) => e.startsWith("DNS:")).map((e) => e.slice(4))

/**
 * Whether a dialler whose certificate is `cert` may say HELLO as node `node`: null when it may,
 * else why not and what its certificate must carry. Either rule binds the id to the certificate:
 * - the certificate names `host`, the node's advertise_host as the members know it (DNS or IP
 *   subjectAltName, checked as a dialler checks it): what every node certificate must carry
 *   anyway to be dialled, so no certificate needs reissuing. With --workers the workers of one
 *   host share one certificate, and any of them may speak for the others: they share the
 *   machine and its key file, so a certificate cannot tell them apart anyway;
 * - its CN, or a subjectAltName DNS entry, is the node id itself (the documented `-subj
 *   /CN=node-1`): needs no member view, so a node this one has not seen join yet links at once.
 * `host` is undefined while the node is not a member here (the acceptor waits a little for it).
 */
export const helloRefusal = (node: string, host: string | undefined, cert: tls.PeerCertificate): string | null => {
  if (commonNames(cert).includes(node) || dnsNames(cert).includes(node)) return null
  if (host !== undefined && tls.checkServerIdentity(host, cert) === undefined) return null
  const names = namesOf(cert)
  return host === undefined
    ? `its certificate (${names}) does not name ${node}, and ${node} is not a member here: ${node}'s cluster.tls_cert_file needs CN=${node} (or subjectAltName DNS:${node}), or ${node} must be registered in etcd`
    : `its certificate (${names}) names neither ${node}'s advertise_host ${host} nor ${node}: ${node}'s cluster.tls_cert_file needs subjectAltName ${net.isIP(host) === 0 ? "DNS" : "IP"}:${host} or CN=${node}; a certificate of another node cannot speak for ${node}`
}
