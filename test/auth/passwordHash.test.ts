/**
 * Password verification against hashes written by the real mosquitto_passwd (fixture: see the
 * comment at the top of test/fixtures/auth/mosquitto.passwd), and our own $7$ output.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { parsePasswordFile, parsePasswordHash, type ParsedHash } from "../../domain/auth/passwordFile.js"
import { hashPassword, VerifiedCache, verifyPassword } from "../../src/auth/passwordHash.js"

const fixture = readFileSync(new URL("../fixtures/auth/mosquitto.passwd", import.meta.url), "utf8")
const parsed = parsePasswordFile(fixture)
if (parsed._tag !== "Parsed") throw new Error("fixture does not parse")
const hashOf = (username: string): ParsedHash => {
  const entry = parsed.value.find((u) => u.username === username)!
  const hash = parsePasswordHash(entry.passwordHash)
  if (typeof hash === "string") throw new Error(hash)
  return hash
}
const bytes = (s: string) => Buffer.from(s, "utf8")

describe("verifyPassword against mosquitto_passwd", () => {
  it("$7$ (PBKDF2-SHA512, mosquitto 2.x): right password yes, wrong no", async () => {
    expect(hashOf("alice").kind).toBe("pbkdf2-sha512")
    expect(await verifyPassword(hashOf("alice"), bytes("alice-secret"))).toBe(true)
    expect(await verifyPassword(hashOf("alice"), bytes("alice-secreT"))).toBe(false)
    expect(await verifyPassword(hashOf("alice"), bytes(""))).toBe(false)
    expect(await verifyPassword(hashOf("bob"), bytes("b0b pass:with colon"))).toBe(true)
    expect(await verifyPassword(hashOf("dev ice"), bytes("ünïcode-pässword"))).toBe(true)
  })

  it("$6$ (SHA-512 of password and salt, mosquitto 1.x)", async () => {
    expect(hashOf("legacy").kind).toBe("sha512")
    expect(await verifyPassword(hashOf("legacy"), bytes("legacy-secret"))).toBe(true)
    expect(await verifyPassword(hashOf("legacy"), bytes("alice-secret"))).toBe(false)
  })
})

describe("hashPassword", () => {
  it("writes $7$ with 101 iterations and a fresh 12-byte salt, which verifies", async () => {
    const a = hashPassword("pw")
    const b = hashPassword("pw")
    expect(a).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/)
    expect(a).not.toBe(b)
    const parsedA = parsePasswordHash(a)
    if (typeof parsedA === "string") throw new Error(parsedA)
    expect(await verifyPassword(parsedA, bytes("pw"))).toBe(true)
    expect(await verifyPassword(parsedA, bytes("pW"))).toBe(false)
  })

  it("is the same function mosquitto uses: the same salt gives mosquitto's hash", () => {
    const entry = parsed.value.find((u) => u.username === "alice")!
    const h = hashOf("alice")
    expect(hashPassword("alice-secret", 101, h.salt)).toBe(entry.passwordHash)
    expect(hashPassword("pw", 1000).startsWith("$7$1000$")).toBe(true)
  })
})

describe("VerifiedCache", () => {
  it("is bounded: the oldest entry goes first", () => {
    const cache = new VerifiedCache(3)
    const keys = ["a", "b", "c", "d"].map((u) => cache.key(u, bytes("p"), "$7$h"))
    for (const k of keys) cache.add(k)
    expect(cache.size).toBe(3)
    expect(keys.map((k) => cache.has(k))).toEqual([false, true, true, true])
  })

  it("keys on the user, the password and the stored hash", () => {
    const cache = new VerifiedCache()
    cache.add(cache.key("u", bytes("p"), "$7$h1"))
    expect(cache.has(cache.key("u", bytes("p"), "$7$h1"))).toBe(true)
    expect(cache.has(cache.key("u", bytes("q"), "$7$h1"))).toBe(false)
    expect(cache.has(cache.key("u", bytes("p"), "$7$h2"))).toBe(false)
    expect(cache.has(cache.key("v", bytes("p"), "$7$h1"))).toBe(false)
  })
})
