/** The admin CLI's pure parts: tables, event lines, redaction, URLs and error lines. */
import { describe, expect, it } from "@effect/vitest"
import { Option, Redacted } from "effect"
import { AdminError, apiUrl, describeStatus } from "../../src/cli/AdminClient.js"
import { recordedEventOf } from "../../src/cli/eventsTail.js"
import { eventJson, eventLine, renderFields, renderTable } from "../../src/cli/output.js"

describe("renderTable", () => {
  it("pads every column to its widest cell, numbers to the right, nothing as -", () => {
    const rows = [{ id: "c1", n: 5, user: "alice" }, { id: "a-longer-id", n: 120, user: undefined }]
    expect(renderTable([
      { header: "client id", value: (r) => r.id },
      { header: "n", value: (r) => r.n, right: true },
      { header: "user", value: (r) => r.user }
    ], rows)).toBe([
      "CLIENT ID      N  USER",
      "c1             5  alice",
      "a-longer-id  120  -"
    ].join("\n"))
  })

  it("prints objects as compact JSON and keeps each row on one line", () => {
    expect(renderTable([{ header: "x", value: (r: { x: unknown }) => r.x }], [{ x: { a: [1] } }, { x: "two\nlines" }]))
      .toBe("X\n{\"a\":[1]}\ntwo lines")
  })

  it("renderFields aligns keys", () => {
    expect(renderFields([["clientId", "c1"], ["subscriptions", 2]])).toBe("clientId       c1\nsubscriptions  2")
  })
})

describe("event lines", () => {
  const event = { position: 7, version: 1, stream: "acl", type: "UserAdded", recordedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 6), data: { _tag: "UserAdded", username: "alice", passwordHash: "$7$101$abc" } }

  it("prints position, time, stream, type and the data without its tag or its secrets", () => {
    expect(eventLine(event, { position: 3, stream: 8, type: 10 }))
      .toBe(`  7  2026-01-02T03:04:05.006Z  acl       UserAdded   {"username":"alice","passwordHash":"<redacted>"}`)
    expect(eventJson(event)).toEqual({ position: 7, stream: "acl", version: 1, type: "UserAdded", recordedAt: "2026-01-02T03:04:05.006Z", data: { _tag: "UserAdded", username: "alice", passwordHash: "<redacted>" } })
  })


  it("reads a tail message (recordedAt in ISO 8601 or milliseconds), and skips anything else", () => {
    expect(recordedEventOf(JSON.stringify({ position: 3, stream: "bans", type: "BanAdded", version: 1, recordedAt: 5, data: {} }))?.recordedAt).toBe(5)
    expect(recordedEventOf(JSON.stringify({ position: 3, stream: "bans", type: "BanAdded", recordedAt: "2026-01-01T00:00:00.000Z", data: {} }))?.recordedAt).toBe(Date.UTC(2026, 0, 1))
    expect(recordedEventOf("keepalive")).toBeUndefined()
    expect(recordedEventOf(JSON.stringify({ hello: 1 }))).toBeUndefined()
  })
})

describe("AdminClient", () => {
  const anonymous = { url: "http://127.0.0.1:8080", token: Option.none() }
  const withToken = { url: "http://127.0.0.1:8080", token: Option.some(Redacted.make("t0k3n")) }

  it("builds /api/v1 URLs under a base path, with the defined query parameters only", () => {
    expect(apiUrl("http://h:1/", "/clients", { prefix: "a b", user: undefined, limit: 5 }).href).toBe("http://h:1/api/v1/clients?prefix=a+b&limit=5")
    expect(apiUrl("https://h/broker", "/status").href).toBe("https://h/broker/api/v1/status")
    expect(() => apiUrl("localhost:8080", "/x")).toThrow(AdminError)
    expect(() => apiUrl("nonsense", "/x")).toThrow(/--url must be an http\(s\) URL such as http:\/\/127.0.0.1:8080, got "nonsense"/)
  })

  it("words 401 for a missing and for a refused token, never showing the token", () => {
    expect(describeStatus(anonymous, "GET", "/api/v1/clients", 401, "").message).toBe("the admin API needs a token (401): pass --token or set ROBUSTMQ_TOKEN")
    const refused = describeStatus(withToken, "GET", "/api/v1/clients", 401, JSON.stringify({ message: "unknown token" })).message
    expect(refused).toBe("the broker refused the token (401): check --token or ROBUSTMQ_TOKEN against http.admin_tokens")
    expect(refused).not.toContain("t0k3n")
  })

  it("passes the server's message through, with the status", () => {
    expect(describeStatus(anonymous, "DELETE", "/api/v1/sessions/x", 404, JSON.stringify({ _tag: "NotFound", message: "no session x" })).message).toBe("no session x")
    expect(describeStatus(anonymous, "GET", "/api/v1/x", 404, "").message).toMatch(/^GET \/api\/v1\/x: not found \(404\)/)
    expect(describeStatus(anonymous, "GET", "/api/v1/x", 502, "<html>bad gateway</html>").message).toBe("<html>bad gateway</html>")
  })
})
