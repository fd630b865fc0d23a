/**
 * The SASL PLAIN message (RFC 4616): `[authzid] NUL authcid NUL passwd`. Pure parsing only; the
 * password check is Auth's. Kafka accepts an authorization id only when it is empty or names the
 * authenticating user (no impersonation), and so do we.
 */

export interface PlainCredentials {
  readonly username: string
  readonly password: Uint8Array
}

/** The credentials of a PLAIN token, or why it is not one (sent back as the error message). */
export const parsePlainToken = (token: Uint8Array): PlainCredentials | string => {
  const first = token.indexOf(0)
  if (first < 0) return "Invalid SASL/PLAIN response: expected 3 tokens, got 1"
  const second = token.indexOf(0, first + 1)
  if (second < 0) return "Invalid SASL/PLAIN response: expected 3 tokens, got 2"
  if (token.indexOf(0, second + 1) >= 0) return "Invalid SASL/PLAIN response: expected 3 tokens, got more"
  const bytes = Buffer.from(token.buffer, token.byteOffset, token.byteLength)
  const authzid = bytes.toString("utf8", 0, first)
  const username = bytes.toString("utf8", first + 1, second)
  if (username === "") return "Authentication failed: username not specified"
  if (second + 1 === token.length) return "Authentication failed: password not specified"
  if (authzid !== "" && authzid !== username) return "Authentication failed: Client requested an authorization id that is different from username"
  return { username, password: token.subarray(second + 1) }
}
