/**
 * Who may speak on the node link: with `cluster.secret` set, a HELLO carries an HMAC-SHA256 of
 * its node id and send time under the secret, and a node refuses a link whose HELLO does not
 * prove it (or is more than a minute old), before reading anything else. The secret never
 * crosses the wire. It keeps strangers off the link port; it does not encrypt (cluster.tls_*
 * does: linkTls.ts; the secret is checked on top of it).
 */
import { createHmac, timingSafeEqual } from "node:crypto"

/** How far apart two nodes' clocks and a HELLO's travel may be. */
const MAX_SKEW_MS = 60_000

export const helloMac = (secret: string, node: string, at: number): string =>
  createHmac("sha256", secret).update(`${node}\n${at}`).digest("hex")

/** Null when the HELLO proves the secret; else what is wrong, for the log. */
export const checkHello = (secret: string, hello: { readonly node: string; readonly at?: number; readonly mac?: string }, now: number): string | null => {
  if (secret === "") return null
  if (typeof hello.mac !== "string" || typeof hello.at !== "number") return "no proof of cluster.secret (is it set on that node?)"
  if (Math.abs(now - hello.at) > MAX_SKEW_MS) return `a HELLO sent ${Math.round((now - hello.at) / 1000)} s ago (clocks apart, or a replay)`
  const expected = Buffer.from(helloMac(secret, hello.node, hello.at), "hex")
  const given = Buffer.from(hello.mac, "hex")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "a wrong cluster.secret"
  return null
}
