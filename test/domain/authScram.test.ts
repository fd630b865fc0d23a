/**
 * SCRAM in the auth decider and read model (pure): verifiers declared in the `.scram` sidecar
 * become ScramCredentialSet/Removed diffs, only while bound to the user's current password line;
 * replay gives the same state and a second sync appends nothing. And the sidecar's parser/editor.
 */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { type AuthState, emptyAuthState, evolve } from "../../domain/auth/AuthState.js"
import { boundScram, decideSync, type DeclaredAuth } from "../../domain/auth/decide.js"
import { AuthEvent, ScramCredentialRemoved, ScramCredentialSet, UserAdded, UserPasswordChanged, UserRemoved } from "../../domain/auth/events.js"
import { formatScramLine, parseScramFile, type ScramEntry, setScramLines } from "../../domain/auth/scramFile.js"

const fold = (events: ReadonlyArray<AuthEvent>, state: AuthState = emptyAuthState()) => events.reduce(evolve, state)
const b64 = (byte: number, n: number) => Buffer.alloc(n, byte).toString("base64")
/** A `$7$` hash whose salt is `saltByte` repeated (the verifier binding). */
const hash = (saltByte: number) => `$7$101$${b64(saltByte, 12)}$${b64(9, 64)}`
const entry = (username: string, mechanism: ScramEntry["mechanism"], keyByte: number, passwordSaltByte: number): ScramEntry => {
  const n = mechanism === "SCRAM-SHA-256" ? 32 : 64
  return { username, mechanism, iterations: 4096, salt: b64(keyByte, 24), storedKey: b64(keyByte, n), serverKey: b64(keyByte + 1, n), passwordSalt: b64(passwordSaltByte, 12) }
}
const setOf = ({ passwordSalt: _, ...e }: ScramEntry) => new ScramCredentialSet(e)
const declared = (users: Record<string, string>, scram: ReadonlyArray<ScramEntry>): DeclaredAuth => ({
  users: Object.entries(users).map(([username, passwordHash]) => ({ username, passwordHash })),
  acl: null,
  scram
})

describe("decideSync with SCRAM verifiers", () => {
  it("from nothing: users first, then their verifiers; the same files again append nothing", () => {
    const d = declared({ alice: hash(1) }, [entry("alice", "SCRAM-SHA-256", 3, 1), entry("alice", "SCRAM-SHA-512", 5, 1)])
    const events = decideSync(emptyAuthState(), d)
    expect(events).toEqual([
      new UserAdded({ username: "alice", passwordHash: hash(1) }),
      setOf(entry("alice", "SCRAM-SHA-256", 3, 1)),
      setOf(entry("alice", "SCRAM-SHA-512", 5, 1))
    ])
    const state = fold(events)
    expect(state.scram.get("SCRAM-SHA-256")!.get("alice")?.storedKey).toBe(b64(3, 32))
    expect(decideSync(state, d)).toEqual([])
  })

  it("a changed verifier is set again; a dropped one removed (before user removals)", () => {
    const state = fold(decideSync(emptyAuthState(), declared({ a: hash(1), b: hash(2) }, [entry("a", "SCRAM-SHA-256", 3, 1), entry("b", "SCRAM-SHA-256", 4, 2)])))
    const events = decideSync(state, declared({ a: hash(1) }, [entry("a", "SCRAM-SHA-256", 7, 1)]))
    expect(events).toEqual([
      new ScramCredentialRemoved({ username: "b", mechanism: "SCRAM-SHA-256" }),
      new UserRemoved({ username: "b" }),
      setOf(entry("a", "SCRAM-SHA-256", 7, 1))
    ])
    const next = fold(events, state)
    expect([...next.scram.get("SCRAM-SHA-256")!.keys()]).toEqual(["a"])
  })

  it("a password changed by another tool (new salt) unbinds the verifiers: removed, and reported as stale", () => {
    const d1 = declared({ a: hash(1) }, [entry("a", "SCRAM-SHA-512", 3, 1)])
    const state = fold(decideSync(emptyAuthState(), d1))
    const d2 = declared({ a: hash(2) }, [entry("a", "SCRAM-SHA-512", 3, 1)])
    expect(decideSync(state, d2)).toEqual([
      new ScramCredentialRemoved({ username: "a", mechanism: "SCRAM-SHA-512" }),
      new UserPasswordChanged({ username: "a", passwordHash: hash(2) })
    ])
    expect(boundScram(d2).stale).toEqual([{ username: "a", reason: "password-changed" }])
  })

  it("verifiers of a user missing from the password file are ignored (mosquitto_passwd -D disables SCRAM too)", () => {
    const d = declared({ a: hash(1) }, [entry("ghost", "SCRAM-SHA-256", 3, 1)])
    expect(decideSync(emptyAuthState(), d)).toEqual([new UserAdded({ username: "a", passwordHash: hash(1) })])
    expect(boundScram(d).stale).toEqual([{ username: "ghost", reason: "no-user" }])
  })

  it("the events round-trip through their Schema (what the event store keeps), without the binding", () => {
    const events = decideSync(emptyAuthState(), declared({ a: hash(1) }, [entry("a", "SCRAM-SHA-256", 3, 1)]))
    const encoded = events.map((e) => Schema.encodeSync(AuthEvent)(e))
    expect(encoded.map((e) => Schema.decodeUnknownSync(AuthEvent)(e))).toEqual(events)
    expect(Object.keys(encoded[1]!).sort()).toEqual(["_tag", "iterations", "mechanism", "salt", "serverKey", "storedKey", "username"])
  })
})

describe("the .scram sidecar", () => {
  const line = formatScramLine(entry("alice", "SCRAM-SHA-256", 3, 1))

  it("parses what it formats; skips comments and blank lines", () => {
    expect(parseScramFile(`# header\n\n${line}\n`)).toEqual({ _tag: "Parsed", value: [entry("alice", "SCRAM-SHA-256", 3, 1)] })
  })

  it("reports bad lines without quoting keys", () => {
    const [u, m, , s, st, sv, ps] = line.split(":")
    const bad = (text: string) => {
      const parsed = parseScramFile(text)
      return parsed._tag === "Invalid" ? parsed.errors.map((e) => `${e.line}: ${e.message}`) : []
    }
    expect(bad(`${u}:${m}:4095:${s}:${st}:${sv}:${ps}`)).toEqual(["1: user \"alice\": the iteration count must be 4096-10000000"])
    expect(bad(`${u}:SCRAM-SHA-1:4096:${s}:${st}:${sv}:${ps}`)[0]).toMatch(/unknown mechanism/)
    expect(bad(`${u}:${m}:4096:${s}:${b64(1, 31)}:${sv}:${ps}`)[0]).toMatch(/32 bytes of base64/)
    expect(bad(`${u}:${m}:4096:not*base64:${st}:${sv}:${ps}`)[0]).toMatch(/not base64/)
    expect(bad(`${line}\n${line}`)).toEqual(["2: user \"alice\" already has SCRAM-SHA-256 on line 1"])
    expect(bad("alice:SCRAM-SHA-256")[0]).toMatch(/expected "username:mechanism/)
    expect(bad(`${u}:${m}:4096:${s}:${st}:${sv}:${ps}`.replace(st!, b64(1, 31))).join()).not.toContain(b64(1, 31))
  })

  it("setScramLines replaces one user's lines, keeps the others, and starts a new file with a comment", () => {
    const other = formatScramLine(entry("bob", "SCRAM-SHA-256", 4, 2))
    const fresh = setScramLines("", "alice", [entry("alice", "SCRAM-SHA-256", 3, 1)])
    expect(fresh).toMatch(/^# SCRAM verifiers .*\nalice:SCRAM-SHA-256:4096:.*\n$/)
    const text = setScramLines(`# x\n${line}\n${other}\n`, "alice", [entry("alice", "SCRAM-SHA-512", 5, 1)])
    expect(text).toBe(`# x\n${other}\n${formatScramLine(entry("alice", "SCRAM-SHA-512", 5, 1))}\n`)
    expect(setScramLines(text, "alice", [])).toBe(`# x\n${other}\n`)
  })
})
