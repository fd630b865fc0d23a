/**
 * The SCRAM exchange, pure: RFC 7677's SCRAM-SHA-256 example and RFC 5802's SCRAM-SHA-1
 * example replayed byte for byte (server nonce pinned), SHA-512 round trips, and every refusal:
 * wrong password, unknown user (decoy salt, same message), user without verifiers, bad
 * authzid, channel binding, nonce, malformed messages.
 */
import { randomBytes } from "node:crypto"
import { describe, expect, it } from "vitest"
import { deriveVerifierSync, MIN_SCRAM_ITERATIONS, type ScramHash, type ScramVerifier } from "../../../src/auth/scramKeys.js"
import { ScramExchange, type ScramLookup, type ScramStep } from "../../../src/kafka/sasl/ScramExchange.js"
import { parseClientFinal, parseClientFirst } from "../../../src/kafka/sasl/scramMessages.js"
import { ScramClient } from "../../support/scramClient.js"

const text = (step: ScramStep): string => (step._tag === "Refused" ? step.reply?.toString() ?? "" : step.reply.toString())
const users = (hash: ScramHash, entries: Record<string, string>, iterations = MIN_SCRAM_ITERATIONS): ScramLookup => {
  const map = new Map<string, ScramVerifier>()
  for (const [u, p] of Object.entries(entries)) map.set(u, deriveVerifierSync(hash, p, randomBytes(24), iterations))
  return (u) => map.get(u) ?? "unknown"
}

describe("RFC examples", () => {
  it("RFC 7677 section 3: SCRAM-SHA-256, user/pencil", () => {
    const verifier = deriveVerifierSync("sha256", "pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096)
    const exchange = new ScramExchange("SCRAM-SHA-256", "sha256", (u) => (u === "user" ? verifier : "unknown"), {
      serverNonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    })
    const first = exchange.step(Buffer.from("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
    expect(first._tag).toBe("Continue")
    expect(text(first)).toBe("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    const final = exchange.step(Buffer.from("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
    expect(final._tag).toBe("Accepted")
    expect(text(final)).toBe("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
  })

  it("RFC 5802 section 5: the SCRAM-SHA-1 example, through the same exchange", () => {
    const verifier = deriveVerifierSync("sha1", "pencil", Buffer.from("QSXCR+Q6sek8bf92", "base64"), 4096)
    const exchange = new ScramExchange("SCRAM-SHA-1", "sha1", () => verifier, { serverNonce: () => "3rfcNHYJY1ZVvWVs7j" })
    expect(text(exchange.step(Buffer.from("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")))).toBe("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    const final = exchange.step(Buffer.from("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
    expect(final._tag).toBe("Accepted")
    expect(text(final)).toBe("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
  })
})

const run = (hash: ScramHash, lookup: ScramLookup, client: ScramClient, tamper: (final: string) => string = (f) => f) => {
  const exchange = new ScramExchange(hash === "sha256" ? "SCRAM-SHA-256" : "SCRAM-SHA-512", hash, lookup)
  const first = exchange.step(Buffer.from(client.clientFirst()))
  if (first._tag !== "Continue") return { first, final: null }
  return { first, final: exchange.step(Buffer.from(tamper(client.clientFinal(text(first))))) }
}

describe("ScramExchange", () => {
  for (const hash of ["sha256", "sha512"] as const) {
    it(`${hash}: a good password is accepted with the right server signature`, () => {
      const client = new ScramClient(hash, "alice", "a1")
      const { final } = run(hash, users(hash, { alice: "a1" }), client)
      expect(final?._tag).toBe("Accepted")
      expect(text(final!)).toBe(client.expectedServerFinal())
    })

    it(`${hash}: a wrong password gets e=invalid-proof and counts as a failed login`, () => {
      const { final } = run(hash, users(hash, { alice: "a1" }), new ScramClient(hash, "alice", "nope"))
      expect(final).toEqual({ _tag: "Refused", message: "Authentication failed: Invalid username or password", reply: Buffer.from("e=invalid-proof"), loginFailure: true })
    })
  }

  it("an unknown user gets a stable decoy salt, 4096 iterations, and fails like a wrong password", () => {
    const lookup = users("sha256", { alice: "a1" })
    const a = run("sha256", lookup, new ScramClient("sha256", "mallory", "x"))
    const b = run("sha256", lookup, new ScramClient("sha256", "mallory", "y"))
    const salt = (s: ScramStep) => text(s).split(",")[1]
    expect(a.first._tag).toBe("Continue")
    expect(salt(a.first)).toBe(salt(b.first))
    expect(text(a.first)).toMatch(/,i=4096$/)
    expect(a.final).toEqual({ _tag: "Refused", message: "Authentication failed: Invalid username or password", reply: Buffer.from("e=invalid-proof"), loginFailure: true })
  })

  it("a user without verifiers (written by mosquitto_passwd) is told to run robustmq passwd", () => {
    const { first } = run("sha256", () => "no-scram", new ScramClient("sha256", "old", "x"))
    expect(first._tag).toBe("Refused")
    expect(first._tag === "Refused" && first.message).toMatch(/user "old" has no SCRAM-SHA-256 credentials.*run `robustmq passwd <password_file> old`/)
  })

  it("an authzid equal to the user is accepted, another one refused (no impersonation)", () => {
    const lookup = users("sha256", { alice: "a1" })
    expect(run("sha256", lookup, new ScramClient("sha256", "alice", "a1", undefined, "alice")).final?._tag).toBe("Accepted")
    const other = run("sha256", lookup, new ScramClient("sha256", "alice", "a1", undefined, "bob"))
    expect(other.first).toMatchObject({ _tag: "Refused", message: "Authentication failed: Client requested an authorization id that is different from username", reply: null })
  })

  it("names with , and = travel escaped (=2C, =3D)", () => {
    const client = new ScramClient("sha256", "a,b=c", "pw")
    expect(client.clientFirst()).toBe(`n,,n=a=2Cb=3Dc,r=${client.clientNonce}`)
    expect(run("sha256", users("sha256", { "a,b=c": "pw" }), client).final?._tag).toBe("Accepted")
  })

  it("refuses a changed nonce, a wrong channel binding and a truncated proof", () => {
    const lookup = users("sha256", { alice: "a1" })
    const nonce = run("sha256", lookup, new ScramClient("sha256", "alice", "a1"), (f) => f.replace(/,r=([^,]*)/, ",r=$1x"))
    expect(nonce.final).toMatchObject({ _tag: "Refused", reply: Buffer.from("e=other-error"), message: "Invalid client nonce in the final client message." })
    const binding = run("sha256", lookup, new ScramClient("sha256", "alice", "a1"), (f) => f.replace("c=biws", "c=eSws"))
    expect(binding.final).toMatchObject({ _tag: "Refused", reply: Buffer.from("e=channel-bindings-dont-match") })
    const short = run("sha256", lookup, new ScramClient("sha256", "alice", "a1"), (f) => f.replace(/p=.*$/, "p=AAAA"))
    expect(short.final).toMatchObject({ _tag: "Refused", reply: Buffer.from("e=invalid-proof") })
  })

  it("accepts librdkafka's doubled client nonce (before 2.6.1, librdkafka#4895), nothing else", () => {
    const lookup = users("sha256", { alice: "a1" })
    const exchange = new ScramExchange("SCRAM-SHA-256", "sha256", lookup)
    const c2 = new ScramClient("sha256", "alice", "a1")
    const serverFirst = text(exchange.step(Buffer.from(c2.clientFirst())))
    const nonce = /^r=([^,]+)/.exec(serverFirst)![1]!
    expect(exchange.step(Buffer.from(c2.clientFinal(serverFirst, c2.clientNonce + nonce)))._tag).toBe("Accepted")
    const other = new ScramExchange("SCRAM-SHA-256", "sha256", lookup)
    const c3 = new ScramClient("sha256", "alice", "a1")
    const sf3 = text(other.step(Buffer.from(c3.clientFirst())))
    const n3 = /^r=([^,]+)/.exec(sf3)![1]!
    expect(other.step(Buffer.from(c3.clientFinal(sf3, `x${n3}`)))).toMatchObject({ _tag: "Refused", reply: Buffer.from("e=other-error") })
  })

  it("a second client-final after the exchange is refused", () => {
    const exchange = new ScramExchange("SCRAM-SHA-256", "sha256", users("sha256", { alice: "a1" }))
    const client = new ScramClient("sha256", "alice", "a1")
    const final = client.clientFinal(text(exchange.step(Buffer.from(client.clientFirst()))))
    expect(exchange.step(Buffer.from(final))._tag).toBe("Accepted")
    expect(exchange.step(Buffer.from(final))._tag).toBe("Refused")
  })
})

describe("SCRAM message parsing", () => {
  const bad = (message: string) => {
    const parsed = parseClientFirst(Buffer.from(message))
    return "error" in parsed ? parsed.error : "ok"
  }

  it("client-first: GS2 header, n=, r=, extensions", () => {
    expect(parseClientFirst(Buffer.from("n,,n=user,r=abc,x=1"))).toEqual({ gs2Header: "n,,", authzid: null, username: "user", nonce: "abc", bare: "n=user,r=abc,x=1" })
    expect(bad("p=tls-unique,,n=user,r=abc")).toBe("server-does-support-channel-binding")
    expect(bad("n,,m=x,n=user,r=abc")).toBe("extensions-not-supported")
    expect(bad("n,,n=user,r=abc,tokenauth=true")).toBe("extensions-not-supported")
    expect(bad("x,,n=user,r=abc")).toBe("invalid-encoding")
    expect(bad("n,,n=,r=abc")).toBe("invalid-encoding")
    expect(bad("n,,n=us=41er,r=abc")).toBe("invalid-encoding")
    expect(bad("n,,n=user,r=a bc")).toBe("invalid-encoding")
    expect(bad("n,,n=user")).toBe("invalid-encoding")
    expect(bad("n,b=x,n=user,r=abc")).toBe("invalid-encoding")
    expect("error" in parseClientFirst(Buffer.from([0x6e, 0x2c, 0x2c, 0xff]))).toBe(true)
  })

  it("client-final: c=, r=, p= last, base64 checked", () => {
    const parsed = parseClientFinal(Buffer.from("c=biws,r=abc,x=y,p=AAAA"))
    expect(parsed).toEqual({ channelBinding: "biws", nonce: "abc", proof: Buffer.from("AAAA", "base64"), withoutProof: "c=biws,r=abc,x=y" })
    for (const message of ["c=biws,r=abc", "r=abc,c=biws,p=AAAA", "c=biws,r=abc,p=A!AA", "c=bi,r=abc,p=AAAA", "c=biws,r=abc,p="]) {
      expect(parseClientFinal(Buffer.from(message)), message).toMatchObject({ error: "invalid-encoding" })
    }
  })

  it("a proof is checked in full: one flipped bit fails", () => {
    const flip = (final: string) => {
      const proof = Buffer.from(final.slice(final.indexOf(",p=") + 3), "base64")
      proof[proof.length - 1]! ^= 1
      return `${final.slice(0, final.indexOf(",p="))},p=${proof.toString("base64")}`
    }
    const { final } = run("sha256", users("sha256", { u: "pw" }), new ScramClient("sha256", "u", "pw"), flip)
    expect(final).toMatchObject({ _tag: "Refused", reply: Buffer.from("e=invalid-proof"), loginFailure: true })
  })
})
