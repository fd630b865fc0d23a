/**
 * The web console: its static files over raw HTTP (content types, caching, gzip, the SPA
 * fallback, path traversal refused), and the pages in a real headless Chromium (Debian
 * `chromium`, driven by playwright-core): the overview's numbers move with MQTT traffic, the
 * clients page lists a connected client and kicks it (it sees DISCONNECT 0x98), the events page
 * tails the control-event log over SSE, the access page bans a client id and lifts the ban, the
 * MQTT client page (over the WebSocket listener) publishes what mosquitto_sub receives and shows
 * what mosquitto_pub sends, and a protected API gets a sign-in (token, or a superuser's cookie).
 * Needs `npm run build` (npm test runs it) for dist/console.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { request } from "node:http"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { consoleDir } from "../../src/http/consoleStatic.js"
import { connect, type TestClient } from "../support/clients.js"
import { messageLines, mosquittoInstalled, PUB, subscribeWith } from "../support/mosquitto.js"
import { useProcesses } from "../support/processes.js"
import { startBroker, type TestBroker } from "../support/TestBroker.js"
import { writeUsers } from "../auth/authFiles.js"

const CHROMIUM = "/usr/bin/chromium"
const hasChromium = existsSync(CHROMIUM)
const spawnClient = useProcesses()
const subscribe = subscribeWith(spawnClient)

interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: Buffer
}

/** GET with the path sent exactly as given (fetch would resolve `..` before sending). */
const rawGet = (port: number, path: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers, timeout: 5000 }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)))
    req.on("error", reject)
    req.end()
  })

const json = (res: RawResponse) => JSON.parse(res.body.toString("utf8")) as { _tag: string; message: string }

describe("web console", () => {
  let broker: TestBroker
  let base: string
  beforeAll(async () => {
    if (!existsSync(join(consoleDir, "index.html"))) throw new Error(`${consoleDir} is missing: run npm run build first`)
    broker = await startBroker({ http: { port: 0 }, mqtt: { wsPort: 0 } })
    base = `http://127.0.0.1:${broker.httpPort}`
  })
  afterAll(async () => {
    await broker?.stop()
    broker?.cleanup()
  })

  describe("static files", () => {
    it("the built JavaScript stays under 200 KB gzipped", () => {
      const assets = join(consoleDir, "assets")
      const total = readdirSync(assets).filter((n) => n.endsWith(".js.gz")).reduce((n, name) => n + statSync(join(assets, name)).size, 0)
      expect(total).toBeGreaterThan(10_000)
      expect(total).toBeLessThan(200 * 1024)
    })

    it("serves index.html at / and at console pages, with a CSP and no caching", async () => {
      for (const path of ["/", "/console/clients", "/console/groups/some-group"]) {
        const res = await rawGet(broker.httpPort, path)
        expect(res.status, path).toBe(200)
        expect(res.headers["content-type"]).toBe("text/html; charset=utf-8")
        expect(res.headers["cache-control"]).toBe("no-cache")
        expect(res.headers["content-security-policy"]).toContain("default-src 'self'")
        const html = res.body.toString("utf8")
        expect(html).toContain('<div id="app">')
        expect(html).toMatch(/<script type="module" src="\/assets\/main-[A-Z0-9]+\.js"><\/script>/)
      }
    })

    it("serves hashed assets immutable, gzipped when asked, with their content types", async () => {
      const html = (await rawGet(broker.httpPort, "/")).body.toString("utf8")
      const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!
      const style = /href="(\/assets\/[^"]+\.css)"/.exec(html)![1]!
      const plain = await rawGet(broker.httpPort, script)
      expect(plain.status).toBe(200)
      expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8")
      expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable")
      expect(plain.headers["content-encoding"]).toBeUndefined()
      const gzipped = await rawGet(broker.httpPort, script, { "accept-encoding": "gzip, deflate, br" })
      expect(gzipped.headers["content-encoding"]).toBe("gzip")
      expect(gzipped.headers.vary).toContain("accept-encoding")
      expect(gzipped.body.length).toBeLessThan(plain.body.length)
      expect(gunzipSync(gzipped.body).equals(plain.body)).toBe(true)
      const css = await rawGet(broker.httpPort, style)
      expect(css.headers["content-type"]).toBe("text/css; charset=utf-8")
    })

    it("refuses path traversal with a JSON 400, encoded or not, and names no file outside the build", async () => {
      for (const path of [
        "/assets/../../etc/passwd",
        "/assets/..%2f..%2fetc%2fpasswd",
        "/assets/%2e%2e/%2e%2e/etc/passwd",
        "/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/assets/%2fetc%2fpasswd",
        "/assets//etc/passwd",
        "/assets/..%5c..%5cetc%5cpasswd",
        "/assets/main.js%00.png",
        "/console/../../etc/passwd",
        "/console/%2e%2e/%2e%2e/etc/passwd"
      ]) {
        const res = await rawGet(broker.httpPort, path)
        expect(res.status, path).toBe(400)
        expect(res.headers["content-type"]).toContain("application/json")
        expect(json(res)).toEqual({ _tag: "BadRequest", message: expect.stringContaining("path traversal refused") })
        expect(res.body.toString("utf8")).not.toContain("root:")
      }
      const bad = await rawGet(broker.httpPort, "/assets/%E0%A4%A")
      expect([400, 404]).toContain(bad.status)
      expect(bad.headers["content-type"]).toContain("application/json")
    })

    it("answers an unknown asset and an unknown route with a JSON 404", async () => {
      const asset = await rawGet(broker.httpPort, "/assets/main-NOTBUILT.js")
      expect(asset.status).toBe(404)
      expect(json(asset)._tag).toBe("NotFound")
      const route = await rawGet(broker.httpPort, "/../../etc/passwd")
      expect(route.status).toBe(404)
      expect(json(route)._tag).toBe("NotFound")
    })
  })

  describe.skipIf(!hasChromium && process.env.CI !== "true")(`in Chromium${hasChromium ? "" : " (skipped: /usr/bin/chromium is missing; apt-get install chromium)"}`, () => {
    let browser: Browser
    let page: Page
    const errors: Array<string> = []
    beforeAll(async () => {
      const { chromium } = await import("playwright-core")
      browser = await chromium.launch({ executablePath: CHROMIUM })
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      page.on("pageerror", (e) => errors.push(e.message))
    }, 30_000)
    afterAll(async () => {
      await browser?.close()
    })

    const stat = (id: string) => page.locator(`[data-stat="${id}"] .stat-value`)

    it("the overview's numbers change with MQTT traffic", async () => {
      await page.goto(base + "/")
      await expect.poll(() => stat("messages-received").textContent(), { timeout: 10_000 }).toMatch(/^\d+$/)
      const before = Number(await stat("messages-received").textContent())
      const connectionsBefore = Number(await stat("mqtt-connections").textContent())
      let client: TestClient | undefined
      try {
        client = await connect(broker.url, { clientId: "console-overview-pub" })
        for (let i = 0; i < 7; i++) await client.client.publishAsync("console/overview", `m${i}`, { qos: 1 })
        await expect.poll(async () => Number(await stat("messages-received").textContent()), { timeout: 10_000 }).toBe(before + 7)
        await expect.poll(async () => Number(await stat("mqtt-connections").textContent()), { timeout: 10_000 }).toBe(connectionsBefore + 1)
      } finally {
        await client?.end(true)
      }
      expect(errors).toEqual([])
    }, 30_000)

    it("the clients page lists a connected client, and kicking it sends DISCONNECT 0x98", async () => {
      const client = await connect(broker.url, { clientId: "console-kick-me", protocolVersion: 5 })
      const disconnected = new Promise<number | undefined>((resolve) => client.client.once("disconnect", (packet) => resolve(packet.reasonCode)))
      try {
        await page.goto(base + "/console/clients")
        await page.locator("input[name=prefix]").fill("console-kick")
        await page.locator("button[type=submit]", { hasText: "Filter" }).click()
        const row = page.locator('[data-testid=clients] tr[data-key="console-kick-me"]')
        await row.waitFor({ timeout: 10_000 })
        expect(await row.locator("td").allTextContents()).toEqual(expect.arrayContaining(["console-kick-me", "tcp", "5.0"]))
        expect(await page.locator("[data-testid=clients] tbody tr[data-key]").count()).toBe(1)
        page.once("dialog", (dialog) => void dialog.accept())
        await row.locator("button[name=kick]").click()
        expect(await disconnected).toBe(0x98)
        await expect.poll(() => page.getByTestId("note").textContent(), { timeout: 5000 }).toContain("Kick: done")
        await expect.poll(() => row.count(), { timeout: 5000 }).toBe(0)
      } finally {
        await client.end(true)
      }
      expect(errors).toEqual([])
    }, 30_000)

    it("the events page tails the control-event log live (SSE) and pages the stored log", async () => {
      await page.goto(base + "/console/events")
      await expect.poll(() => page.getByTestId("tail-status").textContent(), { timeout: 10_000 }).toBe("live")
      const client = await connect(broker.url, { clientId: "console-events", protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
      try {
        await client.client.subscribeAsync("console/events/#", { qos: 1 })
        const live = page.getByTestId("live-events").locator("tbody tr", { hasText: "session-console-events" })
        await expect.poll(() => live.allTextContents(), { timeout: 10_000 }).toEqual(
          expect.arrayContaining([expect.stringContaining("SessionStarted"), expect.stringContaining("SubscriptionAdded")])
        )
      } finally {
        await client.end(true)
      }
      await page.locator("input[name=stream]").fill("session-console-events")
      await page.locator("button", { hasText: "Show" }).click()
      const stored = page.getByTestId("events").locator("tbody tr[data-key]")
      await expect.poll(async () => (await stored.allTextContents()).join("\n"), { timeout: 10_000 }).toContain("SubscriptionAdded")
      expect((await stored.allTextContents()).every((row) => row.includes("session-console-events"))).toBe(true)
      expect(errors).toEqual([])
    }, 30_000)

    it("the access page bans a client id (its CONNECT is refused with 0x8A) and lifts the ban", async () => {
      await page.goto(base + "/console/access")
      await page.locator("select[name=banKind]").selectOption("clientid")
      await page.locator("input[name=banValue]").fill("console-banned")
      await page.locator("input[name=banReason]").fill("test")
      await page.locator("button", { hasText: "Ban" }).click()
      await expect.poll(() => page.getByTestId("note").textContent(), { timeout: 5000 }).toContain("banned clientid console-banned")
      const row = page.locator('[data-testid=bans] tr[data-key="clientid:console-banned"]')
      await row.waitFor({ timeout: 5000 })
      const refused = await connect(broker.url, { clientId: "console-banned", protocolVersion: 5 }).then(
        async (c) => {
          await c.end(true)
          return null
        },
        (e: { code?: number }) => e.code
      )
      expect(refused).toBe(0x8a)
      page.once("dialog", (dialog) => void dialog.accept())
      await row.locator("button[name=unban]").click()
      await expect.poll(() => row.count(), { timeout: 5000 }).toBe(0)
      const allowed = await connect(broker.url, { clientId: "console-banned", protocolVersion: 5 })
      await allowed.end(true)
      expect(errors).toEqual([])
    }, 30_000)

    it.skipIf(!mosquittoInstalled && process.env.CI !== "true")("the MQTT client page publishes to mosquitto_sub and shows what mosquitto_pub sends", async () => {
      const wsUrl = `ws://127.0.0.1:${broker.listeners.wsPort}/mqtt`
      // With nothing remembered, the page offers the broker's own WebSocket listener (from the overview API).
      await page.goto(`${base}/console/mqtt`)
      await expect.poll(() => page.locator("input[name=url]").inputValue(), { timeout: 5000 }).toBe(wsUrl)
      await page.goto(`${base}/console/mqtt?url=${encodeURIComponent(wsUrl)}`)
      await page.locator("input[name=clientId]").fill("console-browser")
      await page.locator("button[name=connect]").click()
      await expect.poll(() => page.getByTestId("mqtt-status").textContent(), { timeout: 10_000 }).toBe("connected")
      expect(broker.server.engine.sessions.get("console-browser" as never)?.conn).not.toBeNull()

      await page.locator("input[name=filter]").fill("console/in/#")
      await page.locator("button[name=subscribe]").click()
      await expect.poll(() => page.getByTestId("mqtt-note").textContent(), { timeout: 5000 }).toBe("subscribed to console/in/#")
      const pub = await spawnClient(PUB, ["-h", "127.0.0.1", "-p", String(broker.port), "-t", "console/in/sensor", "-m", "hello from mosquitto_pub", "-q", "1"]).exited
      expect(pub.code).toBe(0)
      const row = page.getByTestId("mqtt-messages").locator("tbody tr").first()
      await expect.poll(() => row.textContent(), { timeout: 5000 }).toContain("console/in/sensor")
      expect(await row.locator("td.payload").textContent()).toBe("hello from mosquitto_pub")

      const sub = await subscribe(broker, ["-h", "127.0.0.1", "-p", String(broker.port), "-t", "console/out", "-C", "1", "-q", "1"])
      await page.locator("input[name=topic]").fill("console/out")
      await page.locator("textarea[name=payload]").fill("hello from the browser")
      await page.locator("select[name=pubQos]").selectOption("1")
      await page.locator("button[name=publish]").click()
      const got = await sub.exited
      expect(got.code).toBe(0)
      expect(messageLines(got.stdout)).toEqual(["hello from the browser"])
      expect(errors).toEqual([])
    }, 30_000)
  })
})

describe.skipIf(!hasChromium && process.env.CI !== "true")("web console sign-in (Chromium)", () => {
  const TOKEN = "console-test-token-7f3a"
  let broker: TestBroker
  let browser: Browser
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "robustmq-console-auth-"))
    const passwordFile = writeUsers(dir, { admin: "admin-secret", device: "device-secret" })
    broker = await startBroker({ http: { port: 0, adminTokens: [TOKEN] }, auth: { passwordFile, superusers: ["admin"] } })
    const { chromium } = await import("playwright-core")
    browser = await chromium.launch({ executablePath: CHROMIUM })
  }, 30_000)
  afterAll(async () => {
    await browser?.close()
    await broker?.stop()
    broker?.cleanup()
    rmSync(dir, { recursive: true, force: true })
  })

  it("asks for a token when the API answers 401, then lists clients with it", async () => {
    const client = await connect(broker.url, { clientId: "console-behind-auth" })
    try {
      const page = await browser.newPage()
      await page.goto(`http://127.0.0.1:${broker.httpPort}/console/clients`)
      await page.locator("input[name=token]").fill("wrong-token")
      await page.locator("button", { hasText: "Use token" }).click()
      await expect.poll(() => page.getByTestId("login-error").textContent(), { timeout: 5000 }).toBe("The admin API refused that token.")
      await page.locator("input[name=token]").fill(TOKEN)
      await page.locator("button", { hasText: "Use token" }).click()
      await page.locator('tr[data-key="console-behind-auth"]').waitFor({ timeout: 10_000 })
      await page.close()
    } finally {
      await client.end(true)
    }
  }, 30_000)

  it("signs a superuser in with a session cookie, and refuses a user who is not one", async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`http://127.0.0.1:${broker.httpPort}/console/sessions`)
    await page.locator("input[name=username]").fill("device")
    await page.locator("input[name=password]").fill("device-secret")
    await page.locator("button", { hasText: "Sign in" }).click()
    await expect.poll(() => page.getByTestId("login-error").textContent(), { timeout: 5000 }).toContain("not in auth.superusers")
    await page.locator("input[name=username]").fill("admin")
    await page.locator("input[name=password]").fill("admin-secret")
    await page.locator("button", { hasText: "Sign in" }).click()
    await page.getByTestId("sessions").waitFor({ timeout: 10_000 })
    await expect.poll(() => page.getByTestId("list-error").count(), { timeout: 5000 }).toBe(0)
    const cookies = await context.cookies()
    expect(cookies.find((c) => c.name === "robustmq_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" })
    await context.close()
  }, 30_000)
})
