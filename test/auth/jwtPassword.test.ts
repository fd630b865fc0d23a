/** Which CONNECT passwords are taken for JWTs (src/auth/jwt/jwtPassword.ts). */
import { describe, expect, it } from "vitest"
import { jwtOf } from "../../src/auth/jwt/jwtPassword.js"

const b64 = (text: string) => Buffer.from(text).toString("base64url")

describe("jwtOf", () => {
  it("takes three base64url parts whose header names an alg, unsigned ones included", () => {
    const token = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64('{"sub":"a"}')}.c2ln`
    expect(jwtOf(Buffer.from(token))).toBe(token)
    const unsigned = `${b64('{"alg":"none"}')}.${b64('{"sub":"a"}')}.`
    expect(jwtOf(Buffer.from(unsigned))).toBe(unsigned)
  })

  it("leaves every other password to the password file", () => {
    for (const password of ["secret", "not.a.jwt", "a.b.c.d", `${b64('{"typ":"JWT"}')}.${b64("{}")}.x`, `${b64("[1]")}.e30.x`, "e30.e30.e30 ", `${b64('{"alg":1}')}.e30.x`]) {
      expect(jwtOf(Buffer.from(password)), password).toBeNull()
    }
    expect(jwtOf(Buffer.alloc(70_000, 0x61))).toBeNull()
  })
})
