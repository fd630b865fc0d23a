/** The SASL PLAIN message parser (RFC 4616 as Kafka reads it). */
import { describe, expect, it } from "vitest"
import { parsePlainToken } from "../../../src/kafka/sasl/plainToken.js"

const token = (s: string) => Buffer.from(s, "utf8")

describe("parsePlainToken", () => {
  it("reads user and password, with an empty or matching authorization id", () => {
    expect(parsePlainToken(token("\u0000alice\u0000s3cret"))).toEqual({ username: "alice", password: token("s3cret") })
    expect(parsePlainToken(token("alice\u0000alice\u0000pw"))).toEqual({ username: "alice", password: token("pw") })
    expect(parsePlainToken(token("\u0000zoë\u0000pässwörd"))).toEqual({ username: "zoë", password: token("pässwörd") })
  })

  it("refuses another authorization id, missing parts and extra separators with a message", () => {
    expect(parsePlainToken(token("bob\u0000alice\u0000pw"))).toMatch(/authorization id/)
    expect(parsePlainToken(token("alice"))).toMatch(/expected 3 tokens, got 1/)
    expect(parsePlainToken(token("\u0000alice"))).toMatch(/expected 3 tokens, got 2/)
    expect(parsePlainToken(token("\u0000alice\u0000pw\u0000x"))).toMatch(/expected 3 tokens/)
    expect(parsePlainToken(token("\u0000\u0000pw"))).toMatch(/username not specified/)
    expect(parsePlainToken(token("\u0000alice\u0000"))).toMatch(/password not specified/)
    expect(parsePlainToken(Buffer.alloc(0))).toMatch(/expected 3 tokens/)
  })
})
