/** The [auth] section: defaults, env overrides, and file paths resolved like data_dir. */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { loadConfig } from "../../config/loadConfig.js"
import { defaultConfig } from "../../config/BrokerConfigShape.js"
import { isActive } from "../../src/auth/Auth.js"

const cwd = "/srv/robustmq"

describe("[auth] config", () => {
  it("defaults: anonymous clients allowed, no files, nothing to check", async () => {
    const config = await Effect.runPromise(loadConfig({ env: {}, cwd }))
    expect(config.auth).toEqual({ allowAnonymous: true, passwordFile: "", aclFile: "", maxFailures: 0, failureWindow: 60, jwt: defaultConfig.auth.jwt })
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
