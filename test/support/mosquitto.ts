/**
 * The Mosquitto command line clients (Debian `mosquitto-clients`) for interoperability tests:
 * where they are, a subscriber that resolves once the broker holds its subscription, and the
 * message lines of its output.
 */
import { existsSync } from "node:fs"
import { waitUntil } from "./clients.js"
import type { Run, Spawned } from "./processes.js"
import type { TestBroker } from "./TestBroker.js"

export const PUB = "/usr/bin/mosquitto_pub"
export const SUB = "/usr/bin/mosquitto_sub"
export const mosquittoInstalled = existsSync(PUB) && existsSync(SUB)

let subIds = 0

/**
 * mosquitto_sub (with -d, for the packet log printed at exit) under a fresh client id; resolves
 * once the broker has its subscription in place, so publishing can start. (mosquitto_sub's own
 * output is block-buffered on a pipe, so its "received SUBACK" line only shows at exit.)
 */
export const subscribeWith = (spawnClient: (cmd: string, args: ReadonlyArray<string>) => Spawned) =>
  async (b: TestBroker, args: ReadonlyArray<string>): Promise<Spawned> => {
    const id = `mosq-sub-${process.pid}-${subIds++}`
    const s = spawnClient(SUB, ["-d", "-i", id, ...args])
    let early: Run | null = null
    void s.exited.then((r) => (early = r), () => {})
    await waitUntil(
      () => early !== null || (b.server.engine.sessions.get(id)?.subscriptions.size ?? 0) > 0,
      5000,
      () => `mosquitto_sub to subscribe; stdout: ${s.out.stdout} stderr: ${s.out.stderr}`
    )
    if (early !== null) throw new Error(`mosquitto_sub exited early: ${JSON.stringify(early)}`)
    return s
  }

/** Output lines that are messages, not -d debug lines. */
export const messageLines = (stdout: string) =>
  stdout.split("\n").filter((l) => l !== "" && !l.startsWith("Client ") && !l.startsWith("Subscribed (mid:"))
