/** Loading the [auth.jwt] key source (src/auth/jwt/JwtKeys.ts): what is accepted, and each refusal's line. */
import { generateKeyPairSync } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { defaultConfig, type JwtConfig } from "../../config/BrokerConfigShape.js"
import { loadJwtKeys } from "../../src/auth/jwt/JwtKeys.js"

const dir = mkdtempSync(join(tmpdir(), "robustmq-jwt-keys-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const file = (content: string) => {
  const path = join(dir, `key-${files++}`)
  writeFileSync(path, content)
  return path
}
const load = (jwt: Partial<JwtConfig>) => Effect.runPromise(loadJwtKeys({ ...defaultConfig.auth.jwt, ...jwt }))
const failure = (jwt: Partial<JwtConfig>) => Effect.runPromise(Effect.flip(loadJwtKeys({ ...defaultConfig.auth.jwt, ...jwt }))).then((e) => e.message)

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
const ec = generateKeyPairSync("ec", { namedCurve: "P-384" })

describe("loadJwtKeys", () => {
  it("the algorithms follow from the key, never from a token", async () => {
    expect((await load({ secretFile: file("x".repeat(40)) })).algorithms).toEqual(["HS256", "HS384", "HS512"])
    expect((await load({ publicKeyFile: file(rsa.publicKey.export({ type: "spki", format: "pem" }) as string) })).algorithms).toEqual(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
    expect((await load({ publicKeyFile: file(ec.publicKey.export({ type: "spki", format: "pem" }) as string) })).algorithms).toEqual(["ES384"])
    const jwks = { keys: [{ ...ec.publicKey.export({ format: "jwk" }), kid: "e" }, { ...rsa.publicKey.export({ format: "jwk" }), kid: "r", alg: "RS256" }] }
    expect((await load({ jwksFile: file(JSON.stringify(jwks)) })).algorithms).toEqual(["ES384", "RS256"])
  })

  it("a short secret works but is warned about; the warning holds no secret", async () => {
    const keys = await load({ secret: "short-secret" })
    expect(keys.warning).toBe("auth.jwt.secret is shorter than 32 bytes: use a longer random secret")
    expect(keys.description).not.toContain("short-secret")
  })

  it("a JWKS skips symmetric and private keys, and says which", async () => {
    const jwks = { keys: [{ kty: "oct", k: "c2VjcmV0", kid: "sym" }, { ...rsa.privateKey.export({ format: "jwk" }), kid: "priv" }, { ...ec.publicKey.export({ format: "jwk" }), kid: "ok" }] }
    const keys = await load({ jwksFile: file(JSON.stringify(jwks)) })
    expect(keys.warning).toMatch(/skipped key "sym": a symmetric \(oct\) key.*; key "priv": holds private key material/)
    expect(keys.warning).not.toContain("c2VjcmV0")
  })

  it("refusals name the setting and the fix, never the material", async () => {
    expect(await failure({})).toBe("[auth.jwt] has no key: set one of secret_file, secret, public_key_file or jwks_file")
    expect(await failure({ secret: "a", publicKeyFile: "/k" })).toBe("[auth.jwt] sets secret and public_key_file: set only one key source")
    const missing = join(dir, "missing")
    expect(await failure({ secretFile: missing })).toBe(`cannot read auth.jwt.secret_file ${missing} (ENOENT): check auth.jwt.secret_file`)
    const garbage = file("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
    expect(await failure({ publicKeyFile: garbage })).toBe(`auth.jwt.public_key_file ${garbage} is not a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate`)
    const notJson = file("{keys")
    expect(await failure({ jwksFile: notJson })).toBe(`auth.jwt.jwks_file ${notJson} is not JSON: it must be a JWKS ({"keys": [...]})`)
    const onlySymmetric = file(JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }))
    const message = await failure({ jwksFile: onlySymmetric })
    expect(message).toMatch(/has no usable public key \(key #1: a symmetric/)
    expect(message).not.toContain("c2VjcmV0")
  })
})
