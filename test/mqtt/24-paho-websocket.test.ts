/**
 * paho-mqtt (Python) over WebSocket (issue 9 acceptance): test/support/paho_ws.py connects with
 * transport="websockets" to mqtt.ws_path, subscribes, publishes and gets its message back, over
 * ws:// (MQTT 3.1.1 and 5) and wss:// trusting the run's CA; an MQTT.js client over TCP gets the
 * same message. Needs python3 with paho-mqtt (Debian: python3-paho-mqtt, which .ci/run installs);
 * skipped with a warning only where python3 itself is missing, and never under CI=true.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { useCertificates, withCertificates } from "../support/certificates.js"
import { connect } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { useProcesses } from "../support/processes.js"
import type { TestBroker } from "../support/TestBroker.js"

const script = fileURLToPath(new URL("../support/paho_ws.py", import.meta.url))

/** The first python3 that imports paho (Debian's package lands in /usr/bin/python3's path, not pyenv's). */
const pythons = ["/usr/bin/python3", "python3"]
const runs = (python: string, code: string): boolean => {
  try {
    execFileSync(python, ["-c", code], { stdio: "ignore", timeout: 10_000 })
    return true
  } catch {
    return false
  }
}
const python = pythons.find((p) => runs(p, "import paho.mqtt.client"))
const anyPython = pythons.some((p) => runs(p, "pass"))
const inCi = process.env.CI === "true"
if (!anyPython && !inCi) console.warn("[24-paho-websocket] SKIPPED: no python3 found; install python3 and python3-paho-mqtt (CI does)")
const withPython = anyPython || inCi ? it : it.skip

const certs = useCertificates()
const life = useBrokers()
const spawnClient = useProcesses()

const paho = async (args: ReadonlyArray<string>) => {
  if (python === undefined) throw new Error("python3 cannot import paho.mqtt: install paho-mqtt (Debian: apt-get install python3-paho-mqtt)")
  const run = await spawnClient(python, [script, ...args, "--timeout", "10"], 30_000).exited
  expect(run.code, `paho_ws.py ${args.join(" ")}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`).toBe(0)
  return run.stdout.split("\n").filter((l) => l !== "")
}

/** MQTT.js over TCP subscribed to `topic`: it must see what paho publishes over WebSocket. */
const tcpWatcher = async (b: TestBroker, topic: string) => {
  const client = life.track(await connect(b.url, { protocolVersion: 5 }))
  await client.client.subscribeAsync(topic, { qos: 1 })
  return client
}

describe("paho-mqtt (Python) over WebSocket", () => {
  for (const version of ["3.1.1", "5"] as const) {
    withPython(`subscribes, publishes and gets its message back over ws://host:port/mqtt (MQTT ${version})`, async () => {
      const b = await life.broker(withCertificates(certs.get(), { wsPort: 0 }, {}))
      const topic = `paho/ws/${version}`
      const watcher = await tcpWatcher(b, topic)
      const lines = await paho(["--port", String(b.listeners.wsPort), "--version", version, "--topic", topic, "--payload", `hello from paho ${version}`, "--client-id", `paho-${version}`])
      expect(lines).toEqual(["connected 0", "subscribed [1]", `received ${topic} hello from paho ${version}`, "acknowledged"])
      expect((await watcher.waitFor(1))[0]!.payload).toBe(`hello from paho ${version}`)
    })
  }

  withPython("over wss:// trusting the broker's CA", async () => {
    const b = await life.broker(withCertificates(certs.get(), { wssPort: 0 }, {}))
    const watcher = await tcpWatcher(b, "paho/wss")
    const lines = await paho(["--host", "localhost", "--port", String(b.listeners.wssPort), "--cafile", certs.get().caCert, "--topic", "paho/wss", "--payload", "over tls"])
    expect(lines).toEqual(["connected 0", "subscribed [1]", "received paho/wss over tls", "acknowledged"])
    expect((await watcher.waitFor(1))[0]!.payload).toBe("over tls")
  })

  withPython("a path other than mqtt.ws_path is refused: paho reports the failed upgrade", async () => {
    const b = await life.broker(withCertificates(certs.get(), { wsPort: 0 }, {}))
    if (python === undefined) throw new Error("python3 cannot import paho.mqtt: install paho-mqtt (Debian: apt-get install python3-paho-mqtt)")
    const run = await spawnClient(python, [script, "--port", String(b.listeners.wsPort), "--path", "/elsewhere", "--topic", "t", "--timeout", "5"], 30_000).exited
    expect(run.code).toBe(1)
    expect(run.stdout).not.toContain("connected 0")
  })
})
