/**
 * The four SCRAM messages (RFC 5802 section 7) as Kafka uses them (KIP-84): parsing what a
 * client sends and formatting what the server answers. Pure text work, no crypto. A message
 * that is not one gives `{ error, message }`: `error` is the RFC's server-error-value (sent as
 * `e=...` where a server-final can carry it), `message` the readable SaslAuthenticate text.
 * Nothing here quotes a proof back.
 */

export interface ScramMessageError {
  readonly error: string
  readonly message: string
}

export interface ClientFirst {
  /** `n,,` or `n,a=user,` (or `y,...`): echoed, base64, in the client-final's `c=`. */
  readonly gs2Header: string
  readonly authzid: string | null
  readonly username: string
  readonly nonce: string
  /** client-first-message-bare: the first part of AuthMessage. */
  readonly bare: string
}

export interface ClientFinal {
  /** The `c=` value, still base64. */
  readonly channelBinding: string
  readonly nonce: string
  readonly proof: Buffer
  /** client-final-message-without-proof: the last part of AuthMessage. */
  readonly withoutProof: string
}

const utf8 = new TextDecoder("utf-8", { fatal: true })
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
/** RFC 5802: printable ASCII except ",". */
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/

const fault = (error: string, message: string): ScramMessageError => ({ error, message })
const invalid = (what: string) => fault("invalid-encoding", `Invalid SCRAM ${what}`)

export const isMessageError = (value: unknown): value is ScramMessageError =>
  typeof value === "object" && value !== null && "error" in value

const text = (bytes: Uint8Array): string | null => {
  try {
    return utf8.decode(bytes)
  } catch {
    return null
  }
}

/** saslname (RFC 5802 section 5.1): "," and "=" travel as "=2C" and "=3D", any other "=" is an error. */
const decodeSaslName = (name: string): string | null => {
  if (name.includes(",")) return null
  let out = ""
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!
    if (ch !== "=") {
      out += ch
      continue
    }
    const escape = name.slice(i + 1, i + 3)
    if (escape === "2C") out += ","
    else if (escape === "3D") out += "="
    else return null
    i += 2
  }
  return out
}

export const encodeSaslName = (name: string): string => name.replace(/=/g, "=3D").replace(/,/g, "=2C")

/** The value of `key=value`, or null when `part` is not that attribute. */
const attribute = (part: string | undefined, key: string): string | null =>
  part !== undefined && part.startsWith(`${key}=`) ? part.slice(key.length + 1) : null

export const parseClientFirst = (bytes: Uint8Array): ClientFirst | ScramMessageError => {
  const message = text(bytes)
  if (message === null) return invalid("client-first message: not UTF-8")
  const parts = message.split(",")
  const flag = parts[0]!
  if (flag.startsWith("p=")) return fault("server-does-support-channel-binding", "Authentication failed: channel binding is not supported")
  if (flag !== "n" && flag !== "y") return invalid("client-first message: it must start with the GS2 header \"n,,\"")
  if (parts.length < 4) return invalid("client-first message: expected \"n,,n=<user>,r=<nonce>\"")
  let authzid: string | null = null
  if (parts[1] !== "") {
    const a = attribute(parts[1], "a")
    const decoded = a === null ? null : decodeSaslName(a)
    if (decoded === null) return invalid("client-first message: bad authorization id")
    authzid = decoded
  }
  if (parts[2]!.startsWith("m=")) return fault("extensions-not-supported", "Authentication failed: mandatory SCRAM extensions are not supported")
  const n = attribute(parts[2], "n")
  const username = n === null ? null : decodeSaslName(n)
  if (username === null || username === "") return invalid("client-first message: expected the user name as n=<user>")
  const nonce = attribute(parts[3], "r")
  if (nonce === null || !NONCE.test(nonce)) return invalid("client-first message: expected a printable nonce as r=<nonce>")
  // Kafka's delegation tokens ride as an extension (KIP-48); others are ignored (RFC 5802 section 5).
  if (parts.slice(4).some((p) => p === "tokenauth=true")) return fault("extensions-not-supported", "Authentication failed: delegation tokens are not supported")
  // Kafka: an authorization id must name the authenticating user (no impersonation).
  if (authzid !== null && authzid !== username) {
    return fault("other-error", "Authentication failed: Client requested an authorization id that is different from username")
  }
  const gs2Header = `${flag},${parts[1]},`
  return { gs2Header, authzid, username, nonce, bare: message.slice(gs2Header.length) }
}

export const formatServerFirst = (nonce: string, salt: Uint8Array, iterations: number): string =>
  `r=${nonce},s=${Buffer.from(salt).toString("base64")},i=${iterations}`

export const parseClientFinal = (bytes: Uint8Array): ClientFinal | ScramMessageError => {
  const message = text(bytes)
  if (message === null) return invalid("client-final message: not UTF-8")
  const parts = message.split(",")
  const channelBinding = attribute(parts[0], "c")
  const nonce = attribute(parts[1], "r")
  const proof = attribute(parts[parts.length - 1], "p")
  if (channelBinding === null || !BASE64.test(channelBinding) || nonce === null || parts.length < 3 || proof === null || !BASE64.test(proof) || proof === "") {
    return invalid("client-final message: expected \"c=<binding>,r=<nonce>,p=<proof>\"")
  }
  return { channelBinding, nonce, proof: Buffer.from(proof, "base64"), withoutProof: message.slice(0, message.length - proof.length - 3) }
}

export const formatServerFinal = (signature: Uint8Array): string => `v=${Buffer.from(signature).toString("base64")}`

export const formatServerError = (error: string): string => `e=${error}`
