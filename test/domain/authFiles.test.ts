/** The Mosquitto password-file and ACL-file parsers, and the line edit `robustmq passwd` makes. Pure. */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { parseAclFile } from "../../domain/auth/aclFile.js"
import { describeLineErrors } from "../../domain/auth/LineError.js"
import { invalidUsername, parsePasswordFile, parsePasswordHash, setPasswordLine } from "../../domain/auth/passwordFile.js"

const fixture = readFileSync(new URL("../fixtures/auth/mosquitto.passwd", import.meta.url), "utf8")
const HASH7 = "$7$101$4mOCucIT/G2qE6/p$YaqX4v1Cs4YwvTs4xvsk1bQ+r1ECj+HyfwTvss3b4Phebqw4RJaZtqj835bnhCwp4Ul7g7Us3XKvC04yAPAfFQ=="
const HASH6 = "$6$1UXAJ7obxCXeknc+$8gst/qMbFnsZem5D7Q7623+KsRU7LBRcj11UJfg4ENASTKsFWoH0ZSPlZ6kGQ4ffl98ZmAC98rGL2t9KApIrjg=="

const errorsOf = <A>(parsed: { _tag: "Parsed"; value: A } | { _tag: "Invalid"; errors: ReadonlyArray<{ line: number; message: string }> }) =>
  parsed._tag === "Invalid" ? parsed.errors : []

describe("parsePasswordFile", () => {
  it("reads the file mosquitto_passwd wrote: $7$ and $6$ users, comments, a blank line, a name with a space", () => {
    const parsed = parsePasswordFile(fixture)
    expect(parsed._tag).toBe("Parsed")
    if (parsed._tag !== "Parsed") return
    expect(parsed.value.map((u) => u.username)).toEqual(["alice", "bob", "legacy", "dev ice"])
    expect(parsed.value.map((u) => u.passwordHash.slice(0, 3))).toEqual(["$7$", "$7$", "$6$", "$7$"])
    expect(parsed.value[0]!.line).toBe(7)
  })

  it("tolerates CRLF, blanks around the colon and indented comments", () => {
    const parsed = parsePasswordFile(`  # note\r\n\r\n a : ${HASH7} \r\nb:${HASH6}`)
    expect(parsed).toEqual({
      _tag: "Parsed",
      value: [
        { username: "a", passwordHash: HASH7, line: 3 },
        { username: "b", passwordHash: HASH6, line: 4 }
      ]
    })
  })

  it("reports every bad line with its number, never quoting the hash", () => {
    const text = [
      `ok:${HASH7}`,
      "plain:secret-password", // 2: plain text (not hashed with mosquitto_passwd -U)
      "no colon here", // 3
      `:${HASH7}`, // 4: empty name
      `ok:${HASH6}`, // 5: duplicate
      "five:$5$abc$def", // 6: unknown format
      "iter:$7$x$4mOCucIT/G2qE6/p$YaqX4v1C", // 7: iterations
      "salt:$6$***$YaqX4v1C", // 8: salt not base64
      "short:$6$4mOCucIT/G2qE6/p$YWJj", // 9: digest too short
      "parts:$7$101$4mOCucIT/G2qE6/p" // 10: a part missing
    ].join("\n")
    const errors = errorsOf(parsePasswordFile(text))
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(errors[0]!.message).toMatch(/^user "plain": unknown password hash format .*mosquitto_passwd -U FILE/)
    expect(errors[1]!.message).toBe(`expected "username:hash"`)
    expect(errors[3]!.message).toBe(`user "ok" is already defined on line 1`)
    expect(errors[5]!.message).toMatch(/iteration count/)
    expect(errors[6]!.message).toMatch(/salt is not base64/)
    expect(errors[7]!.message).toMatch(/64 bytes/)
    for (const e of errors) expect(e.message).not.toContain("secret-password")
    expect(describeLineErrors("/etc/pw", errors)).toMatch(/^\/etc\/pw, line 2: user "plain": .* \(and 8 more problems\)$/)
  })

  it("parses both hash formats into their parameters", () => {
    const h7 = parsePasswordHash(HASH7)
    expect(typeof h7 !== "string" && h7.kind === "pbkdf2-sha512" && [h7.iterations, h7.salt.length, h7.hash.length]).toEqual([101, 12, 64])
    const h6 = parsePasswordHash(HASH6)
    expect(typeof h6 !== "string" && h6.kind === "sha512" && [h6.salt.length, h6.hash.length]).toEqual([12, 64])
  })
})

describe("setPasswordLine", () => {
  const file = `# users\nalice:${HASH7}\n\nbob:${HASH6}\n`

  it("replaces a user's line in place and keeps every other line", () => {
    expect(setPasswordLine(file, "bob", "$7$NEW")).toEqual({ text: `# users\nalice:${HASH7}\n\nbob:$7$NEW\n`, change: "updated" })
  })

  it("appends a new user, ending the file with a newline", () => {
    expect(setPasswordLine(file, "carol", "$7$C").text).toBe(`${file}carol:$7$C\n`)
    expect(setPasswordLine("x:y", "carol", "$7$C").text).toBe("x:y\ncarol:$7$C\n")
    expect(setPasswordLine("", "carol", "$7$C")).toEqual({ text: "carol:$7$C\n", change: "added" })
  })

  it("deletes a user's line, or says it was absent", () => {
    expect(setPasswordLine(file, "alice", null)).toEqual({ text: `# users\n\nbob:${HASH6}\n`, change: "deleted" })
    expect(setPasswordLine(file, "nobody", null)).toEqual({ text: file, change: "absent" })
  })

  it("refuses names the file format cannot hold", () => {
    expect(invalidUsername("a:b")).toMatch(/":"/)
    expect(invalidUsername("")).toMatch(/empty/)
    expect(invalidUsername("#x")).toMatch(/comment/)
    expect(invalidUsername(" x")).toMatch(/blanks/)
    expect(invalidUsername("dev ice")).toBeUndefined()
  })
})

describe("parseAclFile", () => {
  it("reads topic rules per user section, patterns for everyone, and the default access", () => {
    const text = [
      "# anonymous clients",
      "topic read public/#",
      "topic open/#",
      "",
      "user alice",
      "topic readwrite alice/#",
      "  topic deny alice/secret",
      "pattern write devices/%c/up",
      "user dev ice",
      "topic read with space/in topic",
      "pattern deny %u/private/#"
    ].join("\n")
    expect(parseAclFile(text)).toEqual({
      _tag: "Parsed",
      value: [
        { kind: "topic", username: null, access: "read", topic: "public/#" },
        { kind: "topic", username: null, access: "readwrite", topic: "open/#" },
        { kind: "topic", username: "alice", access: "readwrite", topic: "alice/#" },
        { kind: "topic", username: "alice", access: "deny", topic: "alice/secret" },
        { kind: "pattern", username: null, access: "write", topic: "devices/%c/up" },
        { kind: "topic", username: "dev ice", access: "read", topic: "with space/in topic" },
        { kind: "pattern", username: null, access: "deny", topic: "%u/private/#" }
      ]
    })
  })

  it("reports bad lines with their numbers", () => {
    const text = [
      "user", // 1
      "topic", // 2
      "topic reed a/b", // 3
      "topic read", // 4
      "topic read a/#/b", // 5
      "pattern write a+/b", // 6
      "users alice", // 7
      "topic write ok/+" // 8: fine
    ].join("\n")
    const errors = errorsOf(parseAclFile(text))
    expect(errors.map((e) => e.line)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(errors.map((e) => e.message)).toEqual([
      `"user" needs a username`,
      `"topic" needs a topic filter`,
      `unknown access "reed": read, write, readwrite or deny`,
      `"topic read" needs a topic filter after the access`,
      `"a/#/b" is not a valid topic filter`,
      `"a+/b" is not a valid topic filter`,
      `unknown keyword "users": a line starts with user, topic or pattern`
    ])
  })

  it("an empty file is an ACL with no rules (it denies everything)", () => {
    expect(parseAclFile("# nothing\n\n")).toEqual({ _tag: "Parsed", value: [] })
  })
})
