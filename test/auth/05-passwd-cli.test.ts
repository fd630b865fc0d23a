/**
 * `robustmq passwd` and SIGHUP as an operator meets them: the compiled entry (dist/src/main.js,
 * built by `tsc -b` before vitest) run as a child process. The file it writes is accepted by the
 * broker and by our verifier; edits keep the other lines; failures are one line on stderr with
 * exit 1; and a running broker process applies an edited password file on SIGHUP (kicking the
 * removed user with DISCONNECT 0x98), or refuses to start on a file that does not parse.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import mqtt from "mqtt"
import type { IDisconnectPacket } from "mqtt-packet"
import { afterEach, describe, expect, it } from "vitest"
import { parsePasswordFile, parsePasswordHash } from "../../domain/auth/passwordFile.js"
import { verifyPassword } from "../../src/auth/passwordHash.js"
import { waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { authDir, connackCode } from "./authFiles.js"

const main = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url))
const life = useBrokers()
const dir = authDir()
const running = new Set<ChildProcess>()
afterEach(() => {
  for (const c of running) c.kill("SIGKILL")
  running.clear()
})

interface Run {
  readonly child: ChildProcess
  readonly output: { stdout: string; stderr: string }
  readonly exited: Promise<number | null>
}

/**
 * The robustmq executable, without the developer's ROBUSTMQ_* variables; killed after 60 s at
 * most (a start loads the whole broker: ~2 s of CPU, many times that when the full suite keeps
 * both cores busy and a test runs six at once).
 */
const robustmq = (args: ReadonlyArray<string>, options: { stdin?: string; env?: Record<string, string> } = {}): Run => {
  if (!Fs.existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` first (npm test does)`)
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ROBUSTMQ_")) env[k] = v
  const child = spawn(process.execPath, [main, ...args], {
    cwd: dir,
    env: { ...env, NO_COLOR: "1", ROBUSTMQ_KAFKA_ENABLED: "false", ...options.env },
    stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"]
  })
  running.add(child)
  if (options.stdin !== undefined) child.stdin!.end(options.stdin)
  const output = { stdout: "", stderr: "" }
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (output.stdout += c))
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (output.stderr += c))
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer)
      running.delete(child)
      resolve(code)
    })
  )
  return { child, output, exited }
}

const passwd = async (args: ReadonlyArray<string>, stdin?: string) => {
  const r = robustmq(["passwd", ...args], stdin === undefined ? {} : { stdin })
  const code = await r.exited
  return { code, ...r.output }
}

const usersIn = (file: string) => {
  const parsed = parsePasswordFile(Fs.readFileSync(file, "utf8"))
  if (parsed._tag !== "Parsed") throw new Error(JSON.stringify(parsed.errors))
  return parsed.value
}

const verifies = async (file: string, username: string, password: string) => {
  const entry = usersIn(file).find((u) => u.username === username)
  if (entry === undefined) return false
  const hash = parsePasswordHash(entry.passwordHash)
  return typeof hash !== "string" && verifyPassword(hash, Buffer.from(password))
}

describe("robustmq passwd", () => {
  it("creates the file (0600) with a $7$ line the broker accepts", async () => {
    const file = NodePath.join(dir, "new.passwd")
    const r = await passwd([file, "alice", "--password", "wonderland"])
    expect(r).toEqual({ code: 0, stdout: `user "alice" added to ${file} (SCRAM verifiers in ${file}.scram); send SIGHUP to the broker (or restart it) to apply\n`, stderr: "" })
    expect(Fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(Fs.readFileSync(file, "utf8")).toMatch(/^alice:\$7\$101\$[^$]+\$[^$]+\n$/)
    expect(await verifies(file, "alice", "wonderland")).toBe(true)
    const b = await life.broker({ auth: { allowAnonymous: false, passwordFile: file } })
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "wonderland" })).toBe(0)
    expect(await connackCode(b.url, { protocolVersion: 5, username: "alice", password: "wonder" })).toBe(0x86)
  })

  it("keeps SCRAM verifiers for both mechanisms in FILE.scram (0600), never the password; --delete removes them", async () => {
    const file = NodePath.join(dir, "scram.passwd")
    expect((await passwd([file, "alice", "--password", "wonderland"])).code).toBe(0)
    expect((await passwd([file, "bob", "--password", "builder"])).code).toBe(0)
    const sidecar = `${file}.scram`
    expect(Fs.statSync(sidecar).mode & 0o777).toBe(0o600)
    const lines = () => Fs.readFileSync(sidecar, "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("#"))
    expect(lines().map((l) => l.split(":").slice(0, 3).join(":"))).toEqual([
      "alice:SCRAM-SHA-256:4096", "alice:SCRAM-SHA-512:4096", "bob:SCRAM-SHA-256:4096", "bob:SCRAM-SHA-512:4096"
    ])
    // Bound to the password line's salt; the password itself is nowhere.
    const passwordSalt = Fs.readFileSync(file, "utf8").split("\n")[0]!.split("$")[3]
    expect(lines()[0]!.split(":")[6]).toBe(passwordSalt)
    expect(Fs.readFileSync(sidecar, "utf8")).not.toMatch(/wonderland|builder/)
    expect(Fs.readFileSync(sidecar, "utf8")).not.toContain(Buffer.from("wonderland").toString("base64"))
    // The password file itself stays Mosquitto's: user:$7$ lines only.
    expect(Fs.readFileSync(file, "utf8")).toMatch(/^alice:\$7\$101\$[^$\n]+\$[^$\n]+\nbob:\$7\$101\$[^$\n]+\$[^$\n]+\n$/)
    expect((await passwd([file, "alice", "--delete"])).code).toBe(0)
    expect(lines().map((l) => l.split(":")[0])).toEqual(["bob", "bob"])
  })

  it("reads the password from stdin (one line), honours --iterations, edits in place and deletes", async () => {
    const file = NodePath.join(dir, "edit.passwd")
    Fs.copyFileSync(fileURLToPath(new URL("../fixtures/auth/mosquitto.passwd", import.meta.url)), file)
    const before = Fs.readFileSync(file, "utf8")
    expect((await passwd([file, "bob", "--iterations", "1000"], "new bob pass\nignored second line\n")).code).toBe(0)
    const after = Fs.readFileSync(file, "utf8")
    const changed = after.split("\n").filter((line, i) => line !== before.split("\n")[i])
    expect(changed).toHaveLength(1) // only bob's line, in place; comments and the rest untouched
    expect(changed[0]).toMatch(/^bob:\$7\$1000\$/)
    expect(await verifies(file, "bob", "new bob pass")).toBe(true)
    expect(await verifies(file, "alice", "alice-secret")).toBe(true)

    const r = await passwd([file, "legacy", "--delete"])
    expect(r.stdout).toBe(`user "legacy" deleted from ${file}; send SIGHUP to the broker (or restart it) to apply\n`)
    expect(usersIn(file).map((u) => u.username)).toEqual(["alice", "bob", "dev ice"])
  })

  // A real terminal through util-linux `script` (a pty): typed characters must not be echoed,
  // and the password is asked twice. Input is typed only once the prompt is out, as a person would.
  const scriptBin = ["/usr/bin/script", "/bin/script"].find((p) => Fs.existsSync(p))
  it.skipIf(scriptBin === undefined)("at a terminal asks twice without echoing (Backspace edits), and refuses a mismatch", async () => {
    const atTerminal = async (file: string, user: string, typed: ReadonlyArray<string>) => {
      const child = spawn(scriptBin!, ["-qec", `${process.execPath} ${main} passwd ${file} ${user}`, "/dev/null"], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: "1" },
        stdio: ["pipe", "pipe", "pipe"]
      })
      running.add(child)
      let out = ""
      child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c))
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
      for (const [i, line] of typed.entries()) {
        await waitUntil(() => out.includes(i === 0 ? "Password: " : "Reenter password: "), 10_000, () => `no prompt ${i + 1}: ${JSON.stringify(out)}`)
        child.stdin!.write(line)
      }
      const code = await exited
      running.delete(child)
      return { code, out }
    }
    const file = NodePath.join(dir, "tty.passwd")
    const ok = await atTerminal(file, "carol", ["sx\u007fecret-9\r", "secret-9\r"])
    expect(ok.code).toBe(0)
    expect(ok.out).toContain(`user "carol" added to ${file}`)
    expect(ok.out).not.toContain("secret")
    expect(await verifies(file, "carol", "secret-9")).toBe(true)
    const mismatch = await atTerminal(file, "dave", ["one\r", "two\r"])
    expect(mismatch.code).toBe(1)
    expect(mismatch.out).toContain("the passwords do not match: run the command again")
    expect(usersIn(file).map((u) => u.username)).toEqual(["carol"])
  })

  it("every failure is one line on stderr and exit 1", { timeout: 120_000 }, async () => {
    const file = NodePath.join(dir, "errors.passwd")
    await passwd([file, "alice", "--password", "x"])
    const cases: Array<[ReadonlyArray<string>, string | undefined, string]> = [
      [[file, "nobody", "--delete"], undefined, `user "nobody" is not in ${file}`],
      [[NodePath.join(dir, "absent"), "x", "--delete"], undefined, `${NodePath.join(dir, "absent")} does not exist: nothing to delete`],
      [[file, "x", "--iterations", "0", "--password", "p"], undefined, `--iterations must be an integer 1-10000000, got "0"`],
      [[file, "a:b", "--password", "p"], undefined, `the username must not contain ":"`],
      [[file, "x"], "", "the password is empty: pass --password or write it on stdin"],
      [[dir, "x", "--password", "p"], undefined, `${dir} is a directory: give the password file's path`]
    ]
    const results = await Promise.all(cases.map(([args, stdin]) => passwd(args, stdin)))
    cases.forEach(([args, , message], i) => expect(results[i], args.join(" ")).toEqual({ code: 1, stdout: "", stderr: `${message}\n` }))
    Fs.writeFileSync(NodePath.join(dir, "broken.passwd"), "ok:line-without-hash\n")
    const broken = await passwd([NodePath.join(dir, "broken.passwd"), "x", "--password", "p"])
    expect(broken.code).toBe(1)
    expect(broken.stderr).toMatch(/^.*broken\.passwd, line 1: user "ok": unknown password hash format .*: fix the file first\n$/)
  })
})

describe("a broker process", () => {
  const start = (passwordFile: string) =>
    robustmq(["start", "--storage", "memory", "--mqtt-host", "127.0.0.1", "--mqtt-port", "0"], {
      env: { ROBUSTMQ_AUTH_ALLOW_ANONYMOUS: "false", ROBUSTMQ_AUTH_PASSWORD_FILE: passwordFile }
    })
  const listening = async (r: Run) => {
    await waitUntil(() => /MQTT listening on 127\.0\.0\.1:\d+/.test(r.output.stdout) || r.child.exitCode !== null, 15_000, () => r.output.stdout)
    return Number(/MQTT listening on 127\.0\.0\.1:(\d+)/.exec(r.output.stdout)![1])
  }

  it("applies `robustmq passwd` edits on SIGHUP: the deleted user is disconnected (0x98) and refused", { timeout: 90_000 }, async () => {
    const file = NodePath.join(dir, "hup.passwd")
    await passwd([file, "alice", "--password", "a1"])
    await passwd([file, "bob", "--password", "b1"])
    const broker = start(file)
    const port = await listening(broker)
    const url = `mqtt://127.0.0.1:${port}`
    const alice = mqtt.connect(url, { protocolVersion: 5, username: "alice", password: "a1", reconnectPeriod: 0 })
    let kicked: IDisconnectPacket | null = null
    alice.on("disconnect", (p) => (kicked = p))
    await new Promise<void>((resolve, reject) => {
      alice.once("connect", () => resolve())
      alice.once("error", reject)
    })
    expect((await passwd([file, "alice", "--delete"])).code).toBe(0)
    broker.child.kill("SIGHUP")
    await waitUntil(() => kicked !== null, 10_000, () => `a DISCONNECT; broker: ${JSON.stringify(broker.output)}`)
    expect(kicked!.reasonCode).toBe(0x98)
    alice.end(true)
    // The log line may follow the DISCONNECT by a moment.
    await waitUntil(() => /INFO auth reloaded: 1 user\(s\) removed, 2 SCRAM verifier\(s\) removed, 1 connection\(s\) closed/.test(broker.output.stdout), 10_000, () => broker.output.stdout)
    expect(await connackCode(url, { protocolVersion: 5, username: "alice", password: "a1" })).toBe(0x86)
    expect(await connackCode(url, { protocolVersion: 4, username: "bob", password: "b1" })).toBe(0)
    broker.child.kill("SIGTERM")
    expect(await broker.exited).toBe(0)
  })

  it("refuses to start on a password file that does not parse: one line naming the file and the line", async () => {
    const file = NodePath.join(dir, "bad.passwd")
    Fs.writeFileSync(file, "# users\nalice:clear-text\n")
    const broker = start(file)
    expect(await broker.exited).toBe(1)
    expect(broker.output.stderr).toMatch(new RegExp(`^invalid password file ${file}, line 2: user "alice": unknown password hash format [^\\n]*\\n$`))
    expect(broker.output.stderr).not.toContain("clear-text")
  })
})
