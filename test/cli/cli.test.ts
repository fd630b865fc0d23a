/**
 * The `robustmq` executable as an operator meets it: the compiled entry (`dist/src/main.js`, built
 * by `tsc -b` before vitest runs) started as a child process. Checks the listening line, graceful
 * exit 0 on SIGTERM and SIGINT, and that every failure is exactly one line on stderr with exit 1.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as NodePath from "node:path"
import * as Tls from "node:tls"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../", import.meta.url))
const main = NodePath.join(root, "dist/src/main.js")
const tmp = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-cli-"))

/**
 * The child's environment: ours without ROBUSTMQ_* so a developer's shell cannot leak in, and a
 * free Kafka port (two brokers of parallel test files must not both take 9092) and HTTP port
 * on loopback (nor 8080).
 */
const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ROBUSTMQ_")) env[k] = v
  return { ...env, NO_COLOR: "1", ROBUSTMQ_KAFKA_PORT: "0", ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_HTTP_PORT: "0" }
}

interface Run {
  readonly child: ChildProcess
  readonly output: { stdout: string; stderr: string }
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const running = new Set<ChildProcess>()

const robustmq = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Run => {
  if (!Fs.existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` first (npm test does)`)
  const child = spawn(process.execPath, [main, ...args], {
    cwd: tmp,
    env: { ...baseEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  running.add(child)
  const output = { stdout: "", stderr: "" }
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output.stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output.stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
    })
  )
  return { child, output, exited }
}

const within = <A>(ms: number, what: string, promise: Promise<A>): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

const waitForStdout = (run: Run, pattern: RegExp, ms = 15_000): Promise<RegExpMatchArray> =>
  within(
    ms,
    `${pattern} on stdout`,
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = run.output.stdout.match(pattern)
        if (match !== null) resolve(match)
      }
      run.child.stdout!.on("data", check)
      void run.exited.then(() => {
        check()
        reject(new Error(`exited before ${pattern}; stdout: ${run.output.stdout} stderr: ${run.output.stderr}`))
      })
      check()
    })
  )

const listening = /MQTT listening on (\S+):(\d+)/

afterEach(() => {
  for (const child of running) child.kill("SIGKILL")
  running.clear()
})
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

describe("robustmq start", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`logs the listening address and exits 0 on ${signal}`, async () => {
      const run = robustmq(["start", "--mqtt-port", "0", "--storage", "memory", "--data-dir", NodePath.join(tmp, "data")])
      const [, , port] = await waitForStdout(run, listening)
      // Port 0 asks for any free port: the line must carry the one actually bound, and accept.
      expect(Number(port)).toBeGreaterThan(0)
      await within(5_000, "TCP connect", new Promise<void>((resolve, reject) => {
        const socket = Net.connect(Number(port), "127.0.0.1", () => {
          socket.destroy()
          resolve()
        })
        socket.on("error", reject)
      }))
      // Normal logs are one terse line each: `timestamp LEVEL message`.
      expect(run.output.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO MQTT listening on /m)
      run.child.kill(signal)
      const { code } = await within(10_000, "exit", run.exited)
      expect(code).toBe(0)
      expect(run.output.stderr).toBe("")
    })
  }
})

describe("robustmq failures: one line on stderr, exit 1", () => {
  const fails = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Promise<string> => {
    const run = robustmq(args, env)
    const { code } = await within(15_000, "exit", run.exited)
    expect(code).toBe(1)
    expect(run.output.stderr.endsWith("\n")).toBe(true)
    const lines = run.output.stderr.split("\n").filter((l) => l !== "")
    expect(lines, run.output.stderr).toHaveLength(1)
    expect(run.output.stderr).not.toMatch(/\bat .+:\d+:\d+|FiberFailure|\x1b\[/) // no stack, no fiber dump, no colours
    return lines[0]!
  }

  it("a --config file that does not exist", async () => {
    const missing = NodePath.join(tmp, "missing.toml")
    expect(await fails(["start", "--config", missing])).toBe(
      `cannot read config file ${missing} (ENOENT): check the path passed to --config`
    )
  })

  it("a --config path that cannot be read as a file", async () => {
    expect(await fails(["start", "--config", tmp])).toBe(
      `cannot read config file ${tmp} (EISDIR): --config must name a TOML file, not a directory`
    )
  })

  it("a --config file with invalid TOML or an unknown key", async () => {
    const bad = NodePath.join(tmp, "bad.toml")
    Fs.writeFileSync(bad, "[mqtt]\nport = = 1\n")
    expect(await fails(["start", "--config", bad])).toBe(
      `invalid TOML in ${bad} at line 2, column 8: invalid value: fix the syntax`
    )
    Fs.writeFileSync(bad, "[mqtt]\nprot = 1\n")
    expect(await fails(["start", "--config", bad])).toMatch(/^unknown key "mqtt\.prot" in .*bad\.toml: /)
  })

  it("--storage bogus", async () => {
    expect(await fails(["start", "--mqtt-port", "0", "--storage", "bogus"])).toBe(
      `--storage must be "memory", "sqlite" or "segment", got "bogus"`
    )
  })

  it("--mqtt-port abc, and a bad env var", async () => {
    expect(await fails(["start", "--mqtt-port", "abc"])).toBe(`--mqtt-port must be an integer 0-65535, got "abc"`)
    expect(await fails(["start"], { ROBUSTMQ_MQTT_PORT: "99999" })).toBe(
      `ROBUSTMQ_MQTT_PORT (mqtt.port) must be an integer 0-65535, got 99999`
    )
  })

  it("an MQTT port already in use", async () => {
    const server = Net.createServer()
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve))
    const { port } = server.address() as Net.AddressInfo
    try {
      expect(await fails(["start", "--mqtt-port", String(port), "--storage", "memory"])).toMatch(
        new RegExp(`^MQTT port ${port} is already in use`)
      )
    } finally {
      server.close()
    }
  })

  it("a Kafka port already in use", async () => {
    const server = Net.createServer()
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve))
    const { port } = server.address() as Net.AddressInfo
    try {
      expect(await fails(["start", "--mqtt-port", "0", "--kafka-port", String(port), "--storage", "memory"])).toBe(
        `Kafka port ${port} is already in use: stop the other process or pass --kafka-port (or set kafka.enabled = false)`
      )
    } finally {
      server.close()
    }
  })

  it("a TLS port without a certificate names the setting to add", async () => {
    expect(await fails(["start", "--mqtt-port", "0", "--storage", "memory", "--mqtts-port", "0"])).toBe(
      "mqtt.tls_port is set but tls.cert_file is empty: add tls.cert_file (or --tls-cert) with the server's PEM certificate; `robustmq cert dev DIR` writes a set to try"
    )
  })

  it("a Kafka TLS port without a certificate names the setting to add", async () => {
    expect(await fails(["start", "--mqtt-port", "0", "--kafka-port", "0", "--storage", "memory", "--kafka-tls-port", "0"])).toBe(
      "kafka.tls_port is set but tls.cert_file is empty: add tls.cert_file (or --tls-cert) with the server's PEM certificate; `robustmq cert dev DIR` writes a set to try"
    )
  })

  it("cert dev without openssl on the PATH says to install it", async () => {
    expect(await fails(["cert", "dev", NodePath.join(tmp, "no-openssl")], { PATH: "/nonexistent" })).toBe(
      "openssl was not found on the PATH: install it (Debian/Ubuntu: apt-get install openssl) and run `robustmq cert dev` again"
    )
  })

  it("--log-level with a level that is not one of the four", async () => {
    expect(await fails(["--log-level", "trace", "start"])).toBe(`--log-level must be "debug", "info", "warning" or "error", got "trace"`)
  })

  it("an unknown flag", async () => {
    expect(await fails(["start", "--bogus"])).toBe(`Received unknown argument: '--bogus'`)
  })
})

describe("robustmq config", () => {
  it("prints the resolved configuration as TOML, flags over env over file", async () => {
    const file = NodePath.join(tmp, "broker.toml")
    Fs.writeFileSync(file, `[mqtt]\nport = 1000\nhost = "10.0.0.1"\n[storage]\ndata_dir = "d"\n`)
    const run = robustmq(["config", "--config", file, "--mqtt-port", "3000"], { ROBUSTMQ_MQTT_HOST: "10.0.0.2" })
    expect((await within(15_000, "exit", run.exited)).code).toBe(0)
    expect(run.output.stdout).toContain(`[mqtt]\nhost = "10.0.0.2"\nport = 3000\n`)
    // data_dir is resolved against the working directory (the child runs in tmp).
    expect(run.output.stdout).toContain(`data_dir = ${JSON.stringify(NodePath.join(Fs.realpathSync(tmp), "d"))}`)
    expect(run.output.stderr).toBe("")
  })

  it("--log-level, before or after the subcommand, wins over the file's [log] level", async () => {
    const file = NodePath.join(tmp, "log.toml")
    Fs.writeFileSync(file, `[log]\nlevel = "error"\n`)
    for (const args of [["--log-level", "debug", "config", "--config", file], ["config", "--config", file, "--log-level=warning"]]) {
      const run = robustmq(args)
      expect((await within(15_000, "exit", run.exited)).code).toBe(0)
      expect(run.output.stdout).toContain(`[log]\nlevel = "${args.includes("debug") ? "debug" : "warning"}"`)
    }
  })

  it("prints JSON with --format json", async () => {
    const run = robustmq(["config", "--format", "json", "--storage", "memory"])
    expect((await within(15_000, "exit", run.exited)).code).toBe(0)
    const doc = JSON.parse(run.output.stdout)
    expect(doc.storage.kind).toBe("memory")
    expect(doc.limits.max_packet_size).toBe(1048576)
  })
})

describe("robustmq cert dev", () => {
  it("writes a CA, a server and a client certificate, and start --mqtts-port serves TLS with them", async () => {
    const dir = NodePath.join(tmp, "certs")
    const made = robustmq(["cert", "dev", dir, "--client-cn", "sensor-7"])
    expect((await within(30_000, "cert dev", made.exited)).code).toBe(0)
    expect(made.output.stdout).toMatch(/^writing CA: /m)
    expect(made.output.stdout).toMatch(/^writing server certificate for localhost, 127\.0\.0\.1/m)
    expect(made.output.stdout).toMatch(/^writing client certificate with CN sensor-7: /m)
    for (const f of ["ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"]) expect(Fs.existsSync(NodePath.join(dir, f)), f).toBe(true)
    expect(Fs.statSync(NodePath.join(dir, "server.key")).mode & 0o077).toBe(0) // keys readable by the owner only
    expect(new (await import("node:crypto")).X509Certificate(Fs.readFileSync(NodePath.join(dir, "client.crt"))).subject).toContain("CN=sensor-7")

    const run = robustmq([
      "start", "--mqtt-host", "127.0.0.1", "--mqtt-port", "0", "--storage", "memory", "--mqtts-port", "0",
      "--tls-cert", NodePath.join(dir, "server.crt"), "--tls-key", NodePath.join(dir, "server.key"), "--tls-ca", NodePath.join(dir, "ca.crt")
    ])
    const [, , port] = await waitForStdout(run, /MQTT over TLS listening on (\S+):(\d+)/)
    const authorized = await within(5_000, "TLS handshake", new Promise<boolean>((resolve, reject) => {
      const socket = Tls.connect({ host: "127.0.0.1", port: Number(port), ca: Fs.readFileSync(NodePath.join(dir, "ca.crt")) }, () => {
        resolve(socket.authorized)
        socket.destroy()
      })
      socket.on("error", reject)
    }))
    expect(authorized).toBe(true)
    run.child.kill("SIGTERM")
    expect((await within(10_000, "exit", run.exited)).code).toBe(0)
  })
})
