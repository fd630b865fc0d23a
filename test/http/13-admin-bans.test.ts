/**
 * The admin API's bans routes through real HTTP, real MQTT.js clients and kafkajs: add (201; the
 * covered client reads DISCONNECT 0x98), list in pages by kind, remove (a CIDR's "/" as %2F),
 * an IP ban refusing CONNECT (0x8A) and closing Kafka at accept, and the error shapes (400
 * naming the problem, 404 for a ban not in force, 401 without a token), and the events the
 * actions wrote, read back through /api/v1/events.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connackCode } from "../auth/authFiles.js"
import { connect, type TestClient, waitUntil } from "../support/clients.js"
import { kafkaClient } from "../support/kafka.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"

const TOKEN = "test-admin-token-bans-0123456789"

interface BanBody {
  readonly kind: string
  readonly value: string
  readonly addedAt: string
  readonly until: string | null
  readonly reason: string
  readonly by: string
}

describe("admin API: bans", () => {
  let broker: TestBroker
  let base: string
  const clients: Array<TestClient> = []
  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }
  const post = (body: unknown) => fetch(`${base}/api/v1/bans`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) })
  const del = (kind: string, value: string) => fetch(`${base}/api/v1/bans/${kind}/${encodeURIComponent(value)}`, { method: "DELETE", headers })
  const list = async (query = "") => (await (await fetch(`${base}/api/v1/bans${query}`, { headers })).json()) as { items: Array<BanBody>; next: string | null }

  beforeAll(async () => {
    broker = await startBroker({ http: { port: 0, adminTokens: [TOKEN] } })
    base = `http://127.0.0.1:${broker.httpPort}`
  })
  afterAll(async () => {
    for (const c of clients) await c.end(true).catch(() => {})
    await broker.stop()
    broker.cleanup()
  })

  it("refuses requests without a token (401)", async () => {
    expect((await fetch(`${base}/api/v1/bans`)).status).toBe(401)
    expect((await fetch(`${base}/api/v1/bans`, { method: "POST", body: JSON.stringify({ kind: "clientid", value: "x" }) })).status).toBe(401)
  })

  it("adds a client id ban (201): the connected client reads DISCONNECT 0x98 and may not come back; DELETE lifts it", async () => {
    const client = await connect(broker.url, { clientId: "unruly", protocolVersion: 5 })
    clients.push(client)
    let reason = -1
    client.client.on("disconnect", (p) => (reason = p.reasonCode ?? 0))
    const res = await post({ kind: "clientid", value: "unruly", durationSeconds: 3600, reason: "floods", by: "ops" })
    expect(res.status).toBe(201)
    const added = (await res.json()) as { ban: BanBody; disconnected: number }
    expect(added.disconnected).toBe(1)
    expect(added.ban).toMatchObject({ kind: "clientid", value: "unruly", reason: "floods", by: "ops" })
    expect(Date.parse(added.ban.until!) - Date.parse(added.ban.addedAt)).toBe(3_600_000)
    await waitUntil(() => reason === 0x98, 5000, () => "DISCONNECT 0x98")
    expect(await connackCode(broker.url, { protocolVersion: 5, clientId: "unruly" })).toBe(0x8a)
    expect((await list()).items.map((b) => b.value)).toContain("unruly")
    const lifted = await del("clientid", "unruly")
    expect(lifted.status).toBe(200)
    expect(((await lifted.json()) as BanBody).value).toBe("unruly")
    expect(await connackCode(broker.url, { protocolVersion: 5, clientId: "unruly" })).toBe(0)
    // Both actions are events in the stream `bans`, readable through the events route.
    const events = (await (await fetch(`${base}/api/v1/events?stream=bans`, { headers })).json()) as { items: Array<{ type: string; data: { value: string; reason?: string } }> }
    expect(events.items.map((e) => [e.type, e.data.value])).toEqual([["BanAdded", "unruly"], ["BanRemoved", "unruly"]])
    expect(events.items[0]!.data.reason).toBe("floods")
  })

  it("an IP ban (a CIDR range) refuses CONNECT with 0x8A and closes Kafka at accept; DELETE with %2F lifts it", async () => {
    expect((await post({ kind: "ip", value: "127.0.0.0/8", reason: "everyone local" })).status).toBe(201)
    expect(await connackCode(broker.url, { protocolVersion: 5, clientId: "local" })).toBe(0x8a)
    expect(await connackCode(broker.url, { protocolVersion: 4, clientId: "local" })).toBe(5)
    const admin = kafkaClient(broker.kafkaPort, "banned-kafka").admin()
    expect(await admin.connect().then(() => null, (e: Error) => e)).not.toBeNull()
    await admin.disconnect().catch(() => {})
    expect((await del("ip", "127.0.0.0/8")).status).toBe(200)
    expect(await connackCode(broker.url, { protocolVersion: 5, clientId: "local" })).toBe(0)
  })

  it("lists in pages with a cursor, filtered by kind", async () => {
    for (const value of ["u1", "u2", "u3"]) expect((await post({ kind: "username", value })).status).toBe(201)
    expect((await post({ kind: "ip", value: "2001:DB8::/32" })).status).toBe(201)
    const first = await list("?kind=username&limit=2")
    expect(first.items.map((b) => b.value)).toEqual(["u1", "u2"])
    expect(first.next).toBe("username:u2")
    const rest = await list(`?kind=username&limit=2&cursor=${encodeURIComponent(first.next!)}`)
    expect(rest.items.map((b) => b.value)).toEqual(["u3"])
    expect(rest.next).toBeNull()
    expect((await list("?kind=ip")).items).toEqual([expect.objectContaining({ value: "2001:db8::/32", until: null, reason: "", by: "" })])
    for (const value of ["u1", "u2", "u3"]) expect((await del("username", value)).status).toBe(200)
    expect((await del("ip", "2001:db8::/32")).status).toBe(200)
  })

  it("answers bad input with 400 saying what is wrong, and an absent ban with 404", async () => {
    const bad = async (res: Response) => {
      expect(res.status).toBe(400)
      return ((await res.json()) as { message: string }).message
    }
    expect(await bad(await post({ kind: "ip", value: "10.0.0.0/40" }))).toMatch(/prefix length after "\/" must be 0 to 32/)
    expect(await bad(await post({ kind: "ip", value: "example.com" }))).toMatch(/not an IP address or CIDR range/)
    expect(await bad(await post({ kind: "clientid", value: "" }))).toMatch(/client id to ban is empty/)
    expect(await bad(await post({ kind: "clientid", value: "c", durationSeconds: 0 }))).toMatch(/whole number of seconds above 0/)
    const unknownKind = await post({ kind: "country", value: "x" })
    expect(unknownKind.status).toBe(400)
    expect(((await unknownKind.json()) as { message: string }).message).toMatch(/\["kind"\][\s\S]*Expected "clientid"/)
    expect((await post("{not json")).status).toBe(400)
    const absent = await del("username", "never-banned")
    expect(absent.status).toBe(404)
    expect(((await absent.json()) as { message: string }).message).toMatch(/no username ban of "never-banned" is in force/)
    expect((await del("ip", "not-an-ip")).status).toBe(400)
    expect((await fetch(`${base}/api/v1/bans/planet/x`, { method: "DELETE", headers })).status).toBe(400)
  })
})
