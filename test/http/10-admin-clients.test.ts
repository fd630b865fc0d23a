/**
 * The admin API's clients routes and its auth, through real HTTP and real MQTT.js clients:
 * list with filters and cursors, show, kick (a v5 client reads DISCONNECT 0x98), bearer tokens,
 * a superuser's console login, and the error shapes (401, 404, 400).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bindHost } from "../../src/http/HttpServer.js"
import { authDir, writeUsers } from "../auth/authFiles.js"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const TOKEN = "test-admin-token-0123456789"
const dir = authDir()

describe("admin API: clients and auth", () => {
  let broker: TestBroker
  let base: string
  const clients: Array<TestClient> = []
  const auth = { authorization: `Bearer ${TOKEN}` }
  beforeAll(async () => {
    broker = await startBroker({ http: { port: 0, adminTokens: [TOKEN] }, auth: { superusers: ["admin"] } })
    base = `http://127.0.0.1:${broker.httpPort}`
    for (let i = 0; i < 5; i++) clients.push(await connect(broker.url, { clientId: `dev-${i}`, protocolVersion: i === 0 ? 4 : 5 }))
  })
  afterAll(async () => {
    for (const c of clients) await c.end(true).catch(() => {})
    await broker.stop()
    broker.cleanup()
  })

  it("refuses a missing or wrong token with 401 and a message", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong-token-wrong-token" }] as Array<Record<string, string>>) {
      const res = await fetch(`${base}/api/v1/clients`, { headers })
      expect(res.status).toBe(401)
      const body = await res.json() as { _tag: string; message: string }
      expect(body._tag).toBe("Unauthorized")
      expect(body.message).toContain("http.admin_tokens")
    }
    // /metrics and /health stay open (http.metrics_auth is off).
    expect((await fetch(`${base}/health/ready`)).status).toBe(200)
  })

  it("lists connected clients in pages, filtered on the server", async () => {
    const first = await (await fetch(`${base}/api/v1/clients?limit=2`, { headers: auth })).json() as { items: Array<{ clientId: string }>; next: string | null }
    expect(first.items.map((c) => c.clientId)).toEqual(["dev-0", "dev-1"])
    expect(first.next).toBe("dev-1")
    const rest = await (await fetch(`${base}/api/v1/clients?limit=10&cursor=${first.next}`, { headers: auth })).json() as { items: Array<{ clientId: string }>; next: string | null }
    expect(rest.items.map((c) => c.clientId)).toEqual(["dev-2", "dev-3", "dev-4"])
    expect(rest.next).toBeNull()
    const v311 = await (await fetch(`${base}/api/v1/clients?protocol=3.1.1`, { headers: auth })).json() as { items: Array<{ clientId: string; protocol: string; address: string; listener: string }> }
    expect(v311.items).toHaveLength(1)
    expect(v311.items[0]).toMatchObject({ clientId: "dev-0", protocol: "3.1.1", address: "127.0.0.1", listener: "tcp" })
    const byIp = await (await fetch(`${base}/api/v1/clients?ip=10.9.9.9`, { headers: auth })).json() as { items: Array<unknown> }
    expect(byIp.items).toEqual([])
    const bad = await fetch(`${base}/api/v1/clients?limit=0`, { headers: auth })
    expect(bad.status).toBe(400)
  })

  it("shows one client, and 404s an unknown one with a hint", async () => {
    const res = await fetch(`${base}/api/v1/clients/dev-3`, { headers: auth })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ clientId: "dev-3", protocol: "5.0", subscriptions: 0 })
    const missing = await fetch(`${base}/api/v1/clients/nobody`, { headers: auth })
    expect(missing.status).toBe(404)
    expect((await missing.json() as { message: string }).message).toContain("/api/v1/sessions")
  })

  it("kicks a v5 client with DISCONNECT 0x98", async () => {
    const victim = clients[4]!
    const reason = new Promise<number | undefined>((resolve) => victim.client.once("disconnect", (p) => resolve(p.reasonCode)))
    const res = await fetch(`${base}/api/v1/clients/dev-4`, { method: "DELETE", headers: auth })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ clientId: "dev-4", reasonCode: 0x98 })
    expect(await reason).toBe(0x98)
    await waitUntil(() => !broker.server.engine.sessions.get("dev-4")?.conn, 3000, () => "the kicked connection to close")
  })

  it("logs a superuser in with a session cookie the API accepts", async () => {
    const passwordFile = writeUsers(dir, { admin: "s3cret" })
    // Users come from the password file: a broker with one.
    const withUsers = await startBroker({ http: { port: 0, adminTokens: [TOKEN] }, auth: { superusers: ["admin"], passwordFile } })
    try {
      const url = `http://127.0.0.1:${withUsers.httpPort}`
      const wrong = await fetch(`${url}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "admin", password: "nope" }) })
      expect(wrong.status).toBe(401)
      const ok = await fetch(`${url}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "admin", password: "s3cret" }) })
      expect(ok.status).toBe(200)
      const cookie = ok.headers.get("set-cookie")!
      expect(cookie).toMatch(/robustmq_session=[^;]+; .*HttpOnly/i)
      const session = cookie.split(";")[0]!
      expect((await fetch(`${url}/api/v1/clients`, { headers: { cookie: session } })).status).toBe(200)
      expect((await fetch(`${url}/api/v1/logout`, { method: "POST", headers: { cookie: session } })).status).toBe(204)
      expect((await fetch(`${url}/api/v1/clients`, { headers: { cookie: session } })).status).toBe(401)
    } finally {
      await withUsers.stop()
      withUsers.cleanup()
    }
  })

  it("answers malformed JSON with 400 naming the problem", async () => {
    const res = await fetch(`${base}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: "{\"username\": " })
    expect(res.status).toBe(400)
    const body = await res.json() as { message: string }
    expect(body.message).toContain("JSON")
  })

  it("answers a body over the limit with 413", async () => {
    const body = JSON.stringify({ username: "admin", password: "x".repeat(3 << 20) })
    const res = await fetch(`${base}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body })
    expect(res.status).toBe(413)
    expect((await res.json() as { _tag: string })._tag).toBe("PayloadTooLarge")
  })
})

describe("admin API without credentials", () => {
  it("binds loopback only when neither tokens nor superusers are configured", () => {
    expect(bindHost("0.0.0.0", true)).toBe("127.0.0.1")
    expect(bindHost("192.168.1.10", true)).toBe("127.0.0.1")
    expect(bindHost("::1", true)).toBe("::1")
    expect(bindHost("localhost", true)).toBe("localhost")
    expect(bindHost("0.0.0.0", false)).toBe("0.0.0.0")
  })

  it("is open on loopback then, and the overview names the bound address", async () => {
    const broker = await startBroker({ http: { port: 0 } })
    try {
      const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/overview`)
      expect(res.status).toBe(200)
      const body = await res.json() as { listeners: Array<{ name: string; host: string }> }
      expect(body.listeners.find((l) => l.name === "http")?.host).toBe("127.0.0.1")
    } finally {
      await broker.stop()
      broker.cleanup()
    }
  })

  it("ends open event tails at shutdown instead of waiting for them", async () => {
    const broker = await startBroker({ http: { port: 0 } })
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/events/stream`)
    const reader = res.body!.getReader()
    await reader.read() // the opening comment
    const t0 = Date.now()
    await broker.stop()
    broker.cleanup()
    // Without the end, Node's server.close waits for the client's keep-alive to lapse (seconds).
    expect(Date.now() - t0).toBeLessThan(2000)
    let done = false
    for (let i = 0; i < 10 && !done; i++) done = (await reader.read().catch(() => ({ done: true }))).done
    expect(done).toBe(true)
  })
})

describe("http.metrics_auth", () => {
  it("puts /metrics and /health/* behind the admin API's credentials", async () => {
    const broker = await startBroker({ http: { port: 0, adminTokens: [TOKEN], metricsAuth: true } })
    try {
      const base = `http://127.0.0.1:${broker.httpPort}`
      for (const path of ["/metrics", "/health/live", "/health/ready"]) {
        const refused = await fetch(base + path)
        expect(refused.status, path).toBe(401)
        expect(await refused.text()).toContain("http.metrics_auth")
        expect((await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } })).status, path).toBe(200)
      }
    } finally {
      await broker.stop()
      broker.cleanup()
    }
  })
})
