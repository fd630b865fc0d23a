/**
 * The Mosquitto command line clients against a broker with a password file and an ACL:
 * mosquitto_pub/mosquitto_sub with -u/-P (MQTT 3.1.1 and 5), a wrong password refused, a
 * subscription the ACL refuses reported by mosquitto_sub, and the password file written by the
 * real mosquitto_passwd accepted as is. Every process has a bounded timeout.
 */
import { existsSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { connect, waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { useProcesses } from "../support/processes.js"
import { authDir, fixturePasswords, writeAcl } from "./authFiles.js"

const PUB = "/usr/bin/mosquitto_pub"
const SUB = "/usr/bin/mosquitto_sub"
const installed = existsSync(PUB) && existsSync(SUB)
if (!installed) console.warn(`[auth/04-mosquitto-clients] SKIPPED: ${PUB} / ${SUB} not found; install mosquitto-clients`)
const suite = installed ? describe : describe.skip

const life = useBrokers()
const dir = authDir()
const run = useProcesses()

// The users of the fixture written by mosquitto_passwd: alice ($7$) and legacy ($6$).
const ACL = "user alice\ntopic readwrite alice/#\nuser legacy\ntopic read alice/#\n"
const broker = () => life.broker({ auth: { allowAnonymous: false, passwordFile: fixturePasswords, aclFile: writeAcl(dir, ACL) } })

suite.each(["mqttv311", "mqttv5"] as const)("mosquitto clients with -u/-P (%s)", (protocol) => {
  it("publish with the right password reaches a subscriber; a wrong password is refused", async () => {
    const b = await broker()
    const sub = life.track(await connect(b.url, { protocolVersion: 5, username: "legacy", password: "legacy-secret" }))
    await sub.client.subscribeAsync("alice/#", { qos: 1 })
    const ok = await run(PUB, ["-V", protocol, "-h", "127.0.0.1", "-p", String(b.port), "-u", "alice", "-P", "alice-secret", "-t", "alice/t", "-m", "hello", "-q", "1"]).exited
    expect(ok.code, ok.stderr).toBe(0)
    expect((await sub.waitFor(1))[0]!.payload).toBe("hello")

    const wrong = await run(PUB, ["-V", protocol, "-h", "127.0.0.1", "-p", String(b.port), "-u", "alice", "-P", "nope", "-t", "alice/t", "-m", "x"]).exited
    expect(wrong.code).not.toBe(0)
    expect(wrong.stderr.toLowerCase()).toContain("bad user name or password")
    const anonymous = await run(PUB, ["-V", protocol, "-h", "127.0.0.1", "-p", String(b.port), "-t", "alice/t", "-m", "x"]).exited
    expect(anonymous.code).not.toBe(0)
    expect(anonymous.stderr.toLowerCase()).toMatch(/not authori[sz]ed/)
  })

  it("mosquitto_sub receives what it may read; a subscription the ACL refuses is reported denied", async () => {
    const b = await broker()
    const id = `mosq-legacy-${protocol}`
    const s = run(SUB, ["-V", protocol, "-h", "127.0.0.1", "-p", String(b.port), "-u", "legacy", "-P", "legacy-secret", "-i", id, "-t", "alice/#", "-C", "1", "-v"])
    await waitUntil(() => (b.server.engine.sessions.get(id)?.subscriptions.size ?? 0) > 0, 5000, () => `mosquitto_sub to subscribe: ${JSON.stringify(s.out)}`)
    const pub = life.track(await connect(b.url, { protocolVersion: 4, username: "alice", password: "alice-secret" }))
    await pub.client.publishAsync("alice/news", "read me", { qos: 1 })
    const got = await s.exited
    expect(got.code).toBe(0)
    expect(got.stdout.trim()).toBe("alice/news read me")

    const denied = await run(SUB, ["-V", protocol, "-h", "127.0.0.1", "-p", String(b.port), "-u", "legacy", "-P", "legacy-secret", "-t", "bob/#", "-W", "5"]).exited
    expect(denied.stderr).toContain("All subscription requests were denied")
  })
})
