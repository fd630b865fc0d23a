/**
 * No JWT and no JWT secret in the logs (at debug level) or in the data directory: the real
 * executable runs a whole session of good and refused tokens and a key rotation on SIGHUP (one
 * of them a bad file), then its output and its SQLite files are searched.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { SignJWT } from "jose"
import { describe, expect, it } from "vitest"
import { waitUntil } from "../support/clients.js"
import { useBrokerProcesses } from "../support/BrokerProcess.js"
import { authDir, connackCode } from "./authFiles.js"

const processes = useBrokerProcesses()
const dir = authDir()

const SECRET = "never-log-me-4b1d2e6f8a0c3e5a7b9d1f3a5c7e9b0d"
const ROTATED = "never-log-me-either-9e7c5a3f1d0b8e6c4a2f0d9b7e"
const token = (claims: Record<string, unknown>, secret: string, exp = "10m") =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp).sign(new TextEncoder().encode(secret))

describe("JWT secrets", () => {
  it("never appear in a debug log or in the data directory", async () => {
    const secretFile = join(dir, "jwt.secret")
    writeFileSync(secretFile, SECRET)
    const dataDir = processes.dataDir()
    const broker = await processes.start(dataDir, {
      kafkaPort: null,
      storage: "sqlite",
      globalArgs: ["--log-level", "debug"],
      env: { ROBUSTMQ_AUTH_ALLOW_ANONYMOUS: "false", ROBUSTMQ_AUTH_JWT_SECRET_FILE: secretFile }
    })
    const url = `mqtt://127.0.0.1:${broker.port}`
    const good = await token({ sub: "alice" }, SECRET)
    const forged = await token({ sub: "alice" }, "not-the-secret-0123456789abcdef0123456789")
    const expired = await token({ sub: "alice" }, SECRET, "-1h")
    const tokens = [good, forged, expired]
    expect(await connackCode(url, { protocolVersion: 5, username: "alice", password: good })).toBe(0)
    expect(await connackCode(url, { protocolVersion: 5, username: "alice", password: forged })).toBe(0x86)
    expect(await connackCode(url, { protocolVersion: 4, username: "alice", password: expired })).toBe(4)
    expect(await connackCode(url, { protocolVersion: 5, username: "mallory", password: good })).toBe(0x86)

    writeFileSync(secretFile, "\n")
    broker.child.kill("SIGHUP")
    await waitUntil(() => broker.output().includes("JWT key reload failed"), 5000, () => "the failed reload line")
    writeFileSync(secretFile, ROTATED)
    broker.child.kill("SIGHUP")
    await waitUntil(() => broker.output().includes("JWT keys reloaded"), 5000, () => "the reload line")
    const fresh = await token({ sub: "alice" }, ROTATED)
    tokens.push(fresh)
    expect(await connackCode(url, { protocolVersion: 5, username: "alice", password: fresh })).toBe(0)
    await broker.stop()

    const output = broker.output()
    // The debug lines were written, so their absence below means something.
    expect(output).toMatch(/JWT refused for user alice: ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
    expect(output).toMatch(/JWT refused for user alice: ERR_JWT_EXPIRED/)
    const secrets = [SECRET, ROTATED, ...tokens, ...tokens.map((t) => t.split(".")[2]!)]
    for (const secret of secrets) expect(output).not.toContain(secret)
    for (const name of readdirSync(dataDir, { recursive: true }) as Array<string>) {
      let bytes: Buffer
      try {
        bytes = readFileSync(join(dataDir, name))
      } catch {
        continue // a directory
      }
      for (const secret of secrets) expect(bytes.includes(secret), `${name} holds a secret`).toBe(false)
    }
  })
})
