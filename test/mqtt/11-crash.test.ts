/**
 * Nothing acknowledged is lost when the broker process dies: the real executable on SQLite is
 * killed with SIGKILL (no shutdown, no final snapshot) and started again on the same data dir.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { connect, waitUntil } from "../support/clients.js"

const main = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url))
const children = new Set<ChildProcess>()
const dirs: Array<string> = []
afterEach(() => {
  for (const c of children) c.kill("SIGKILL")
  children.clear()
  for (const d of dirs.splice(0)) Fs.rmSync(d, { recursive: true, force: true })
})

/** Starts `robustmq start` on a free port; resolves with the child and its port. */
const start = async (dataDir: string, port = 0) => {
  if (!Fs.existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` first (npm test does)`)
  const child = spawn(process.execPath, [main, "start", "--mqtt-host", "127.0.0.1", "--mqtt-port", String(port), "--kafka-port", "0", "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  let out = ""
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d))
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d))
  await waitUntil(() => /MQTT listening on [^:]+:\d+/.test(out), 15_000, () => `the broker to listen; output: ${out}`)
  return { child, port: Number(/MQTT listening on [^:]+:(\d+)/.exec(out)![1]) }
}

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

describe("broker crash (SIGKILL) on SQLite", () => {
  it("delivers every acknowledged QoS 1 message to a persistent session, and keeps retained messages", async () => {
    const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-crash-"))
    dirs.push(dir)
    const a = await start(dir)
    const url = `mqtt://127.0.0.1:${a.port}`
    const session = { protocolVersion: 5 as const, clientId: "survivor", clean: false, properties: { sessionExpiryInterval: 3600 } }
    const sub = await connect(url, session)
    await sub.client.subscribeAsync("crash/#", { qos: 1 })
    await sub.end()
    const pub = await connect(url, { protocolVersion: 5 })
    const count = 300
    for (let i = 0; i < count; i++) await pub.client.publishAsync(`crash/${i % 5}`, `m${i}`, { qos: 1 }) // each PUBACKed
    await pub.client.publishAsync("state/door", "open", { qos: 1, retain: true })
    await pub.end(true)

    await kill(a.child)
    const b = await start(dir, a.port)
    const back = await connect(`mqtt://127.0.0.1:${b.port}`, session)
    await back.waitFor(count, 10_000)
    expect(back.messages.map((m) => m.payload)).toEqual(Array.from({ length: count }, (_, i) => `m${i}`))
    const late = await connect(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 5 })
    await late.client.subscribeAsync("state/#", { qos: 1 })
    const [door] = await late.waitFor(1)
    expect([door!.topic, door!.payload, door!.packet.retain]).toEqual(["state/door", "open", true])
    await back.end()
    await late.end()
  })
})
