/**
 * The key material of `[auth.jwt]`, read from its one configured source (an HMAC secret, a PEM
 * public key or a JWKS file), with the algorithms that key may verify. The algorithms follow
 * from the key type, never from a token's header: that is what refuses `alg: none` and an
 * HS256 token signed with a public key used as the HMAC secret.
 *
 * Errors name the setting, the file and the fix, never the material itself (nor a crypto
 * library's message, which could quote it).
 */
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto"
import { readFile } from "node:fs/promises"
import { Effect } from "effect"
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from "jose"
import type { JwtConfig } from "../../../config/BrokerConfigShape.js"
import { AuthFileError } from "../authFiles.js"

export interface JwtKeys {
  /** A secret or public KeyObject, or the JWKS lookup (by `kid`). */
  readonly key: KeyObject | JWTVerifyGetKey
  readonly algorithms: ReadonlyArray<string>
  /** For log lines: what was loaded, without any key material. */
  readonly description: string
  /** Set when the keys work but deserve an operator's attention (logged once per load). */
  readonly warning: string | null
}

const HMAC = ["HS256", "HS384", "HS512"]
const RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
const RSA_PSS = ["PS256", "PS384", "PS512"]
const EC_CURVES: Record<string, string> = { "prime256v1": "ES256", "P-256": "ES256", "secp384r1": "ES384", "P-384": "ES384", "secp521r1": "ES512", "P-521": "ES512" }
const MIN_SECRET_BYTES = 32

const fail = (message: string) => Effect.fail(new AuthFileError({ message }))

const readKeyFile = (file: string, key: string): Effect.Effect<Buffer, AuthFileError> =>
  Effect.tryPromise({
    try: () => readFile(file),
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException | undefined)?.code
      const hint = code === "EACCES" || code === "EPERM" ? "make it readable by the broker's user" : `check auth.jwt.${key}`
      return new AuthFileError({ message: `cannot read auth.jwt.${key} ${file}${code === undefined ? "" : ` (${code})`}: ${hint}` })
    }
  })

/** The algorithms a public key verifies, by its type; empty when it cannot verify JWTs. */
const algorithmsOf = (key: KeyObject): ReadonlyArray<string> => {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return RSA
    case "rsa-pss":
      return RSA_PSS
    case "ec": {
      const alg = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ""]
      return alg === undefined ? [] : [alg]
    }
    case "ed25519":
      return ["EdDSA", "Ed25519"]
    default:
      return []
  }
}

const hmacKeys = (secret: Buffer, source: string): Effect.Effect<JwtKeys, AuthFileError> => {
  // A file written by an editor or `echo` ends with a newline that is not part of the secret.
  let end = secret.length
  while (end > 0 && (secret[end - 1] === 0x0a || secret[end - 1] === 0x0d)) end--
  if (end === 0) return fail(`${source} is empty: put a long random secret in it (openssl rand -base64 48)`)
  return Effect.succeed({
    key: createSecretKey(secret.subarray(0, end)),
    algorithms: HMAC,
    description: `HMAC secret from ${source} (${HMAC.join(", ")})`,
    warning: end < MIN_SECRET_BYTES ? `${source} is shorter than ${MIN_SECRET_BYTES} bytes: use a longer random secret` : null
  })
}

const publicKeyFile = (file: string): Effect.Effect<JwtKeys, AuthFileError> =>
  Effect.flatMap(readKeyFile(file, "public_key_file"), (pem) => {
    const text = pem.toString("utf8")
    if (text.includes("PRIVATE KEY")) {
      return fail(`auth.jwt.public_key_file ${file} holds a private key: give the public key (openssl pkey -in KEY -pubout)`)
    }
    let key: KeyObject
    try {
      key = createPublicKey(text)
    } catch {
      return fail(`auth.jwt.public_key_file ${file} is not a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate`)
    }
    const algorithms = algorithmsOf(key)
    if (algorithms.length === 0) {
      return fail(`auth.jwt.public_key_file ${file} is a ${key.asymmetricKeyType} key: use an RSA, EC (P-256, P-384, P-521) or Ed25519 key`)
    }
    return Effect.succeed({ key, algorithms, description: `${key.asymmetricKeyType?.toUpperCase()} public key from ${file} (${algorithms.join(", ")})`, warning: null })
  })

/** The algorithms one JWK verifies (its `alg` when it names one), or a reason to skip it. */
const jwkAlgorithms = (jwk: JWK): ReadonlyArray<string> | string => {
  if (jwk.kty === "oct") return "a symmetric (oct) key, which a JWKS file may not hold here (use secret_file)"
  // A private key has no business in a file of verification keys: keep it out of use, say so.
  if ("d" in jwk) return "holds private key material (\"d\"): publish the public key only"
  if (jwk.use !== undefined && jwk.use !== "sig") return `"use": "${jwk.use}" is not a signature key`
  let key: KeyObject
  try {
    key = createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" })
  } catch {
    return "not a valid public JWK"
  }
  const algorithms = algorithmsOf(key)
  if (algorithms.length === 0) return `a ${String(jwk.kty)} key of an unsupported type or curve`
  if (jwk.alg === undefined) return algorithms
  return algorithms.includes(jwk.alg) ? [jwk.alg] : `"alg": "${jwk.alg}" does not fit its key type`
}

const jwksFile = (file: string): Effect.Effect<JwtKeys, AuthFileError> =>
  Effect.flatMap(readKeyFile(file, "jwks_file"), (bytes) => {
    let doc: unknown
    try {
      doc = JSON.parse(bytes.toString("utf8"))
    } catch {
      return fail(`auth.jwt.jwks_file ${file} is not JSON: it must be a JWKS ({"keys": [...]})`)
    }
    const keys = (doc as { keys?: unknown } | null)?.keys
    if (!Array.isArray(keys)) return fail(`auth.jwt.jwks_file ${file} has no "keys" list: it must be a JWKS ({"keys": [...]})`)
    const usable: Array<JWK> = []
    const algorithms = new Set<string>()
    const skipped: Array<string> = []
    keys.forEach((raw: unknown, i) => {
      const jwk = raw as JWK
      const name = typeof jwk?.kid === "string" ? `"${jwk.kid}"` : `#${i + 1}`
      const found = typeof raw === "object" && raw !== null ? jwkAlgorithms(jwk) : "not an object"
      if (typeof found === "string") return skipped.push(`key ${name}: ${found}`)
      usable.push(jwk)
      for (const alg of found) algorithms.add(alg)
    })
    if (usable.length === 0) {
      return fail(`auth.jwt.jwks_file ${file} has no usable public key${skipped.length > 0 ? ` (${skipped.join("; ")})` : ""}`)
    }
    return Effect.succeed({
      key: createLocalJWKSet({ keys: usable } as JSONWebKeySet),
      algorithms: [...algorithms],
      description: `JWKS from ${file}: ${usable.length} key(s) (${[...algorithms].join(", ")})`,
      warning: skipped.length > 0 ? `auth.jwt.jwks_file ${file}: skipped ${skipped.join("; ")}` : null
    })
  })

/** Reads the configured key source; fails (one line) when none or more than one is set, or it is unusable. */
export const loadJwtKeys = (config: JwtConfig): Effect.Effect<JwtKeys, AuthFileError> => {
  const set = [
    config.secretFile !== "" && "secret_file",
    config.secret !== "" && "secret",
    config.publicKeyFile !== "" && "public_key_file",
    config.jwksFile !== "" && "jwks_file"
  ].filter((k): k is string => k !== false)
  if (set.length !== 1) {
    return fail(
      set.length === 0
        ? "[auth.jwt] has no key: set one of secret_file, secret, public_key_file or jwks_file"
        : `[auth.jwt] sets ${set.join(" and ")}: set only one key source`
    )
  }
  if (config.secretFile !== "") return Effect.flatMap(readKeyFile(config.secretFile, "secret_file"), (s) => hmacKeys(s, `auth.jwt.secret_file ${config.secretFile}`))
  if (config.secret !== "") return hmacKeys(Buffer.from(config.secret, "utf8"), "auth.jwt.secret")
  if (config.publicKeyFile !== "") return publicKeyFile(config.publicKeyFile)
  return jwksFile(config.jwksFile)
}
