/** The [auth] and [auth.jwt] sections: defaults, env overrides, and file paths resolved like data_dir. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { loadConfig } from "../../config/loadConfig.js"
import { defaultConfig } from "../../config/BrokerConfigShape.js"
import { isActive } from "../../src/auth/Auth.js"

const cwd = "/srv/robustmq"

describe("[auth] config", () => {
  it("defaults: anonymous clients allowed, no files, nothing to check", async () => {
    const config = await Effect.runPromise(loadConfig({ env: {}, cwd }))
    expect(config.auth).toEqual({ allowAnonymous: true, passwordFile: "", aclFile: "", maxFailures: 0, failureWindow: 60, superusers: [], jwt: defaultConfig.auth.jwt })
    expect(isActive(config.auth)).toBe(false)
  })

  it("ROBUSTMQ_AUTH_* set it; relative file paths are resolved against the working directory", async () => {
    const config = await Effect.runPromise(loadConfig({
      env: { ROBUSTMQ_AUTH_ALLOW_ANONYMOUS: "false", ROBUSTMQ_AUTH_PASSWORD_FILE: "etc/passwd", ROBUSTMQ_AUTH_ACL_FILE: "/etc/robustmq/acl" },
      cwd
    }))
    expect(config.auth).toEqual({ ...defaultConfig.auth, allowAnonymous: false, passwordFile: "/srv/robustmq/etc/passwd", aclFile: "/etc/robustmq/acl" })
    expect(isActive(config.auth)).toBe(true)
    expect(isActive({ ...defaultConfig.auth, aclFile: "/a" })).toBe(true)
  })

  it("a bad value names the setting", async () => {
    const error = await Effect.runPromise(Effect.flip(loadConfig({ env: { ROBUSTMQ_AUTH_ALLOW_ANONYMOUS: "maybe" }, cwd })))
    expect(error.message).toBe(`ROBUSTMQ_AUTH_ALLOW_ANONYMOUS (auth.allow_anonymous) must be true or false, got "maybe"`)
  })
})

describe("[auth.jwt] config", () => {
  const dir = mkdtempSync(join(tmpdir(), "robustmq-jwt-config-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  let files = 0
  const toml = (text: string): string => {
    const file = join(dir, `broker-${files++}.toml`)
    writeFileSync(file, text)
    return file
  }

  it("off by default; a key source turns auth on; relative key files resolve like data_dir", async () => {
    const defaults = await Effect.runPromise(loadConfig({ env: {}, cwd }))
    expect(defaults.auth.jwt).toEqual({ secretFile: "", secret: "", publicKeyFile: "", jwksFile: "", usernameClaim: "sub", clockSkew: 5, issuer: "", audience: "" })
    const file = toml(`[auth.jwt]\nsecret_file = "etc/jwt.secret"\nusername_claim = "username"\nclock_skew = 30\n`)
    const config = await Effect.runPromise(loadConfig({ configFile: file, env: {}, cwd }))
    expect(config.auth.jwt).toMatchObject({ secretFile: "/srv/robustmq/etc/jwt.secret", usernameClaim: "username", clockSkew: 30 })
    expect(isActive(config.auth)).toBe(true)
  })

  it("an env var sets one key and keeps the file's others", async () => {
    const file = toml(`[auth]\nallow_anonymous = false\n[auth.jwt]\npublic_key_file = "/etc/jwt.pem"\nissuer = "https://id.example"\n`)
    const config = await Effect.runPromise(loadConfig({ configFile: file, env: { ROBUSTMQ_AUTH_JWT_AUDIENCE: "mqtt", ROBUSTMQ_AUTH_JWT_CLOCK_SKEW: "2" }, cwd }))
    expect(config.auth.allowAnonymous).toBe(false)
    expect(config.auth.jwt).toMatchObject({ publicKeyFile: "/etc/jwt.pem", issuer: "https://id.example", audience: "mqtt", clockSkew: 2, usernameClaim: "sub" })
  })

  it("bad values and unknown keys name the setting", async () => {
    const skew = await Effect.runPromise(Effect.flip(loadConfig({ env: { ROBUSTMQ_AUTH_JWT_CLOCK_SKEW: "-1" }, cwd })))
    expect(skew.message).toBe(`ROBUSTMQ_AUTH_JWT_CLOCK_SKEW (auth.jwt.clock_skew) must be an integer 0-3600, got -1`)
    const unknown = toml(`[auth.jwt]\nsecret_file = "/s"\nalgorithm = "HS256"\n`)
    const error = await Effect.runPromise(Effect.flip(loadConfig({ configFile: unknown, env: {}, cwd })))
    expect(error.message).toMatch(/^unknown key "auth\.jwt\.algorithm" in .*broker-\d+\.toml: \[auth\.jwt\] accepts secret_file, secret, public_key_file, jwks_file, username_claim, clock_skew, issuer, audience$/)
    const notTable = toml(`[auth]\njwt = "on"\n`)
    const table = await Effect.runPromise(Effect.flip(loadConfig({ configFile: notTable, env: {}, cwd })))
    expect(table.message).toMatch(/^auth\.jwt must be a table \(a \[auth\.jwt\] section\), got "on" in /)
    const claim = await Effect.runPromise(Effect.flip(loadConfig({ configFile: toml(`[auth.jwt]\nusername_claim = ""\n`), env: {}, cwd })))
    expect(claim.message).toMatch(/^auth\.jwt\.username_claim must be a claim name, e\.g\. "sub", got "" in /)
  })
})
