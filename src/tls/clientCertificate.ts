/**
 * The identity a TLS client proved: the CN of its certificate, only when that certificate
 * verified against the configured CA (an unverified one, under verify_client = "optional",
 * names nobody). Read once at CONNECT, never per message.
 */
import type { Transport } from "../mqtt/Transport.js"

export const verifiedCommonName = (transport: Transport): string | null => {
  if (transport.authorized !== true || transport.getPeerCertificate === undefined) return null
  const cert = transport.getPeerCertificate() as { subject?: { CN?: string | Array<string> } } | null
  const cn = cert?.subject?.CN
  const name = Array.isArray(cn) ? cn[0] : cn
  return name === undefined || name === "" ? null : name
}
