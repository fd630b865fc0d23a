/**
 * `robustmq events dump` on the data directory of a real broker process that ran, took a user
 * (password hash and SCRAM verifiers in the `acl` stream), a topic and an MQTT session, and was
 * stopped: the lines show those events, secrets redacted, and `--output json` parses.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { useBrokerProcesses } from "../support/BrokerProcess.js"
import { connect } from "../support/clients.js"
import { useRobustmqCli } from "../support/robustmqCli.js"

const processes = useBrokerProcesses()
const { run: robustmq } = useRobustmqCli()

const PASSWORD = "dump-test-secret"

interface DumpedEvent {
  readonly position: number
  readonly recordedAt: string
  readonly stream: string
  readonly version: number
  readonly type: string
  readonly data: Record<string, unknown>
}

describe("robustmq events dump", () => {
  it("prints a stopped broker's control events, one a line, without secrets", { timeout: 120_000 }, async () => {
    const dir = processes.dataDir()
    const passwords = NodePath.join(dir, "passwd")
    const added = await robustmq(["passwd", passwords, "alice", "--password", PASSWORD])
    expect(added.code, added.stderr).toBe(0)

    const broker = await processes.start(dir, { storage: "sqlite", env: { ROBUSTMQ_AUTH_PASSWORD_FILE: passwords } })
    const client = await connect(`mqtt://127.0.0.1:${broker.port}`, {
      clientId: "dump-c1", username: "alice", password: PASSWORD, protocolVersion: 5, clean: false,
      properties: { sessionExpiryInterval: 300 }
    })
    await client.client.subscribeAsync("dump/+", { qos: 1 })
    await client.end()
    await broker.stop()
    expect(broker.exit()?.code).toBe(0)

    const table = await robustmq(["events", "dump", "--data-dir", dir])
    expect(table.code, table.stderr).toBe(0)
    const lines = table.stdout.trimEnd().split("\n")
    const line = (type: string) => lines.find((l) => l.includes(` ${type} `))
    expect(line("UserAdded")).toMatch(/^\s*\d+ {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}acl +UserAdded +\{"username":"alice","passwordHash":"<redacted>"\}$/)
    expect(line("ScramCredentialSet")).toContain(`"salt":"<redacted>","storedKey":"<redacted>","serverKey":"<redacted>"`)
    expect(line("SessionStarted")).toMatch(/session-dump-c1 +SessionStarted +\{"clientId":"dump-c1","expiryInterval":300\}/)
    expect(line("SubscriptionAdded")).toContain(`"filter":"dump/+"`)
    // Aligned: the type column starts at the same place on every line.
    const typeColumn = new Set(lines.map((l) => l.search(/ (UserAdded|Scram\w+|Session\w+|Subscription\w+|Topic\w+|\w+) +\{/)))
    expect(typeColumn.size).toBe(1)
    const hashLine = Fs.readFileSync(passwords, "utf8").trim().split(":")[1]!
    for (const secret of [PASSWORD, hashLine]) expect(table.stdout).not.toContain(secret)

    const json = await robustmq(["events", "dump", "--data-dir", dir, "--stream", "session-dump-c1", "--output", "json"])
    expect(json.code, json.stderr).toBe(0)
    const events = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as DumpedEvent)
    expect(events.every((e) => e.stream === "session-dump-c1")).toBe(true)
    expect(events.map((e) => e.type)).toContain("SubscriptionAdded")
    expect(events[0]).toMatchObject({ version: 1, type: "SessionStarted", data: { _tag: "SessionStarted", clientId: "dump-c1", expiryInterval: 300 } })
    expect(Date.parse(events[0]!.recordedAt)).toBeGreaterThan(Date.now() - 60_000)

    const from = events[1]!.position
    const later = await robustmq(["events", "dump", "--data-dir", dir, "--from", String(from), "-o", "json"])
    const positions = later.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as DumpedEvent).position)
    expect(positions[0]).toBe(from)
    expect(positions).toEqual([...positions].sort((a, b) => a - b))
  })

  it("says what to do when the directory holds no event store", { timeout: 60_000 }, async () => {
    const memoryDir = processes.dataDir()
    const none = await robustmq(["events", "dump", "--data-dir", memoryDir])
    expect(none.code).toBe(1)
    expect(none.stderr.trim()).toMatch(/^no event store in .*: a memory broker keeps its events in memory only/)
    expect(none.stderr.trim().split("\n")).toHaveLength(1)

    const missing = await robustmq(["events", "dump", "--data-dir", NodePath.join(memoryDir, "nope")])
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim()).toMatch(/^no directory .*nope: pass the broker's --data-dir/)

    const badFrom = await robustmq(["events", "dump", "--data-dir", memoryDir, "--from", "x"])
    expect(badFrom.code).toBe(1)
    expect(badFrom.stderr.trim()).toBe(`--from must be an event position (a whole number, 1 or more), got "x"`)
  })
})
