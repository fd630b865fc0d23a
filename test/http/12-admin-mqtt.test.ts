/**
 * The admin API's MQTT routes through real HTTP, real MQTT.js and mosquitto clients, on SQLite
 * with a real restart: sessions (list, show, delete, and it stays deleted), subscriptions,
 * topics, retained (list, show, delete), HTTP publish, users and ACL reload, the control-event
 * log (paged and tailed as SSE), the overview and the redacted config.
 */
import { writeFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { authDir, writeAcl, writeUsers } from "../auth/authFiles.js"
import { adminApi } from "../support/adminApi.js"
import { connect, waitUntil } from "../support/clients.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const TOKEN = "test-admin-token-abcdefghij"
const dir = authDir()

describe("admin API: MQTT", () => {
  let broker: TestBroker
  let api: ReturnType<typeof adminApi>
  const passwordFile = writeUsers(dir, { alice: "pw-alice", admin: "pw-admin" })
  const aclFile = writeAcl(dir, "user alice\ntopic readwrite sensors/#\n")
  const options = { storage: "sqlite" as const, http: { port: 0, adminTokens: [TOKEN] }, auth: { passwordFile, aclFile, superusers: ["admin"] } }
  beforeAll(async () => {
    broker = await startBroker(options)
    api = adminApi(`http://127.0.0.1:${broker.httpPort}`, TOKEN)
  })
  afterAll(async () => {
    await broker.stop()
    broker.cleanup()
  })

  it("lists, shows and deletes sessions; a deleted session stays deleted after a restart", async () => {
    const keeper = await connect(broker.url, { clientId: "keeper", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 }, username: "alice", password: "pw-alice" })
    await keeper.client.subscribeAsync("sensors/#", { qos: 1 })
    await keeper.end()
    const online = await connect(broker.url, { clientId: "online-1", protocolVersion: 5, username: "alice", password: "pw-alice" })
    const list = await api.get("/api/v1/sessions")
    expect(list.status).toBe(200)
    expect(list.body.items.map((s: { clientId: string; state: string }) => [s.clientId, s.state])).toEqual([["keeper", "offline"], ["online-1", "online"]])
    const offline = await api.get("/api/v1/sessions?state=offline")
    expect(offline.body.items.map((s: { clientId: string }) => s.clientId)).toEqual(["keeper"])
    const shown = await api.get("/api/v1/sessions/keeper")
    expect(shown.body).toMatchObject({ clientId: "keeper", persistent: true, expiryInterval: 3600, subscriptions: 1 })
    expect(shown.body.subscriptionList).toEqual([{ filter: "sensors/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0, shareGroup: null }])
    const subs = await api.get("/api/v1/subscriptions?filter=sensors/%23")
    expect(subs.body.items).toEqual([expect.objectContaining({ clientId: "keeper", online: false, filter: "sensors/#" })])

    const deleted = await api.del("/api/v1/sessions/keeper")
    expect(deleted).toEqual({ status: 200, body: { clientId: "keeper", kicked: false } })
    expect((await api.get("/api/v1/sessions/keeper")).status).toBe(404)
    // The deletion is an event of the session's stream, read back through the API.
    const stream = await api.get("/api/v1/events?stream=session-keeper")
    expect(stream.body.items.at(-1)).toMatchObject({ type: "SessionEnded", data: { reason: "deleted" } })
    // An online one: its client is kicked with 0x98 first.
    const reason = new Promise<number | undefined>((resolve) => online.client.once("disconnect", (p) => resolve(p.reasonCode)))
    expect((await api.del("/api/v1/sessions/online-1")).body).toEqual({ clientId: "online-1", kicked: true })
    expect(await reason).toBe(0x98)

    broker = await broker.restart()
    api = adminApi(`http://127.0.0.1:${broker.httpPort}`, TOKEN)
    expect((await api.get("/api/v1/sessions/keeper")).status).toBe(404)
    const resumed = await connect(broker.url, { clientId: "keeper", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 }, username: "alice", password: "pw-alice" })
    expect(resumed.client.connected).toBe(true)
    await resumed.end()
  })

  it("publishes over HTTP to a real subscriber, with properties, and reports durability", async () => {
    const sub = await connect(broker.url, { clientId: "http-sub", protocolVersion: 5, username: "alice", password: "pw-alice" })
    await sub.client.subscribeAsync("sensors/+/temp", { qos: 1 })
    const res = await api.post("/api/v1/publish", {
      topic: "sensors/k1/temp",
      payload: "21.5",
      qos: 1,
      properties: { contentType: "text/plain", userProperties: { unit: "C" } }
    })
    expect(res).toEqual({ status: 200, body: { topic: "sensors/k1/temp", subscribers: 1, durable: true } })
    const [m] = await sub.waitFor(1)
    expect(m!.payload).toBe("21.5")
    expect(m!.packet.properties?.contentType).toBe("text/plain")
    expect(m!.packet.properties?.userProperties).toEqual({ unit: "C" })
    const binary = await api.post("/api/v1/publish", { topic: "sensors/k1/temp", payload: Buffer.from([0, 255]).toString("base64"), encoding: "base64" })
    expect(binary.body.subscribers).toBe(1)
    await sub.waitFor(2)
    expect(Buffer.from(sub.messages[1]!.packet.payload as Buffer)).toEqual(Buffer.from([0, 255]))
    const bad = await api.post("/api/v1/publish", { topic: "sensors/#", payload: "x" })
    expect(bad.status).toBe(400)
    expect(bad.body.message).toContain("not a valid topic name")
    const noTopic = await api.post("/api/v1/publish", { payload: "x" })
    expect(noTopic.status).toBe(400)
    await sub.end()
  })

  it("lists, shows and deletes retained messages; topics count subscribers and retained", async () => {
    for (const t of ["sensors/a/state", "sensors/b/state", "other/x"]) await api.post("/api/v1/publish", { topic: t, payload: `on-${t}`, retain: true, qos: 1 })
    const all = await api.get("/api/v1/retained?filter=sensors/%2B/state")
    expect(all.body.items.map((r: { topic: string }) => r.topic)).toEqual(["sensors/a/state", "sensors/b/state"])
    const shown = await api.get("/api/v1/retained/message?topic=sensors/a/state")
    expect(shown.body).toMatchObject({ topic: "sensors/a/state", payload: "on-sensors/a/state", encoding: "plain", qos: 1 })
    const watcher = await connect(broker.url, { clientId: "topic-watcher", protocolVersion: 5, username: "alice", password: "pw-alice" })
    await watcher.client.subscribeAsync("sensors/a/state", { qos: 0 })
    const topics = await api.get("/api/v1/topics?prefix=sensors/a")
    expect(topics.body.items).toEqual([{ topic: "sensors/a/state", subscribers: 1, retained: true }])
    expect((await api.del("/api/v1/retained/message?topic=sensors/a/state")).status).toBe(200)
    expect((await api.get("/api/v1/retained/message?topic=sensors/a/state")).status).toBe(404)
    expect((await api.del("/api/v1/retained/message?topic=sensors/a/state")).status).toBe(404)
    // A new subscriber no longer gets it; the other one is still there.
    const late = await connect(broker.url, { clientId: "late", protocolVersion: 5, username: "alice", password: "pw-alice" })
    await late.client.subscribeAsync("sensors/+/state", { qos: 1 })
    await late.waitFor(1)
    await new Promise((r) => setTimeout(r, 200))
    expect(late.messages.map((m) => m.topic)).toEqual(["sensors/b/state"])
    await late.end()
    await watcher.end()
  })

  it("lists users without hashes, shows the ACL, reloads the files", async () => {
    const users = await api.get("/api/v1/users")
    expect(users.body.items).toEqual([
      { username: "admin", superuser: true, scram: [] },
      { username: "alice", superuser: false, scram: [] }
    ])
    expect(JSON.stringify(users.body)).not.toContain("$7$")
    const acl = await api.get("/api/v1/acl")
    expect(acl.body.configured).toBe(true)
    expect(acl.body.rules).toHaveLength(1)
    writeFileSync(aclFile, "user alice\ntopic readwrite sensors/#\ntopic read status/#\n")
    const reloaded = await api.post("/api/v1/acl/reload")
    expect(reloaded.status).toBe(200)
    expect(reloaded.body.acl).toBe("replaced")
    expect((await api.get("/api/v1/acl")).body.rules).toHaveLength(2)
  })

  it("pages the control-event log by stream and tails it live as Server-Sent Events", async () => {
    const acl = await api.get("/api/v1/events?stream=acl")
    expect(acl.status).toBe(200)
    const types = acl.body.items.map((e: { type: string }) => e.type)
    expect(types).toContain("UserAdded")
    expect(types).toContain("AclReplaced")
    expect(JSON.stringify(acl.body)).not.toMatch(/\$7\$|\$6\$/) // password hashes are redacted
    const added = acl.body.items.find((e: { type: string }) => e.type === "UserAdded")
    expect(added.data.passwordHash).toBe("<redacted>")
    const firstTwo = await api.get("/api/v1/events?limit=2")
    expect(firstTwo.body.items).toHaveLength(2)
    const next = await api.get(`/api/v1/events?limit=2&from=${firstTwo.body.next}`)
    expect(next.body.items[0].position).toBeGreaterThan(firstTwo.body.items[1].position)

    // Live: a session created after the tail began arrives as an event.
    const controller = new AbortController()
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/v1/events/stream?prefix=session-`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: controller.signal })
    expect(res.headers.get("content-type")).toContain("text/event-stream")
    const reader = res.body!.getReader()
    let text = ""
    const readUntil = async (needle: string) => {
      const deadline = Date.now() + 5000
      while (!text.includes(needle) && Date.now() < deadline) {
        const { value, done } = await reader.read()
        if (done) break
        text += Buffer.from(value).toString("utf8")
      }
    }
    await readUntil(": tailing")
    const client = await connect(broker.url, { clientId: "sse-watch", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 }, username: "alice", password: "pw-alice" })
    await readUntil("session-sse-watch")
    controller.abort()
    expect(text).toMatch(/id: \d+\nevent: SessionStarted\ndata: \{.*"stream":"session-sse-watch"/)
    await client.end()
  })

  it("gives an overview whose counts and rates move with traffic, and the config without secrets", async () => {
    const before = await api.get("/api/v1/overview")
    expect(before.body.listeners[0]).toEqual({ name: "mqtt", host: "127.0.0.1", port: broker.port })
    expect(before.body.listeners.map((l: { name: string }) => l.name)).toContain("http")
    const pub = await connect(broker.url, { clientId: "rate-pub", protocolVersion: 5, username: "alice", password: "pw-alice" })
    for (let i = 0; i < 50; i++) pub.client.publish("sensors/rate", "x", { qos: 0 })
    await waitUntil(() => broker.server.engine.stats.messagesReceived >= before.body.totals.messagesIn + 50, 3000, () => "50 messages in")
    await new Promise((r) => setTimeout(r, 1100))
    const after = await api.get("/api/v1/overview")
    expect(after.body.counts.connections).toBe(before.body.counts.connections + 1)
    expect(after.body.totals.messagesIn - before.body.totals.messagesIn).toBeGreaterThanOrEqual(50)
    expect(after.body.rates.messagesIn).toBeGreaterThan(0)
    await pub.end()
    const config = await api.get("/api/v1/config")
    expect(config.body.http.adminTokens).toEqual(["<redacted>"])
    expect(JSON.stringify(config.body)).not.toContain(TOKEN)
    expect(config.body.storage.kind).toBe("sqlite")
  })

  it("documents every admin route in the OpenAPI document", async () => {
    const doc = await api.get("/api/v1/openapi.json")
    const paths = Object.keys(doc.body.paths)
    for (const p of ["/api/v1/overview", "/api/v1/clients", "/api/v1/sessions/{clientId}", "/api/v1/subscriptions", "/api/v1/topics", "/api/v1/retained", "/api/v1/publish", "/api/v1/users", "/api/v1/acl/reload", "/api/v1/events", "/api/v1/events/stream", "/api/v1/config", "/api/v1/login"]) {
      expect(paths).toContain(p)
    }
  })
})
