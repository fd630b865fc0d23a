/**
 * Kafka SASL SCRAM-SHA-256 and SCRAM-SHA-512 with real clients: kcat (librdkafka) over SASL_SSL
 * and SASL_PLAINTEXT and kafkajs with `ssl` + `sasl: scram-*` produce and consume, and fail
 * cleanly with a bad password or an unknown user. One `robustmq passwd` (the CLI) enables a
 * user for MQTT, Kafka PLAIN and Kafka SCRAM; the data dir and the sidecar hold no password,
 * salted password or client key; SCRAM works after a restart (replay). A user written without
 * verifiers (mosquitto_passwd) is told to run `robustmq passwd`; a changed password or verifier
 * closes a SCRAM connection; failed SCRAM logins count toward auth.max_failures. Raw frames
 * cover the SaslHandshake v0 path (bare SCRAM frames) and the `e=` server-final. Mosquitto
 * itself still reads the password file, and a debug-level broker run logs no secret.
 */
import { execFileSync, spawn } from "node:child_process"
import { createHmac, pbkdf2Sync, randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as net from "node:net"
import { userInfo } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { SASLOptions } from "kafkajs"
import { describe, expect, it } from "vitest"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { parseScramFile, setScramLines } from "../../domain/auth/scramFile.js"
import { passwd } from "../../src/auth/passwd.js"
import { deriveVerifierSync } from "../../src/auth/scramKeys.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"
import { authDir, connackCode, writeUsers } from "../auth/authFiles.js"
import { useCertificates } from "../support/certificates.js"
import { freePort } from "../support/freePort.js"
import { hasKcat, kafkaClient, kafkajsRoundTrip, kcat, kcatBroker, kcatRoundTrip, useKafkaClients } from "../support/kafka.js"
import { useKafkaWires } from "../support/KafkaWire.js"
import { useBrokerProcesses } from "../support/BrokerProcess.js"
import { waitUntil } from "../support/clients.js"
import { useBrokers } from "../support/lifecycle.js"
import { useProcesses } from "../support/processes.js"
import { ScramClient } from "../support/scramClient.js"
import type { TestBroker, TestBrokerOptions } from "../support/TestBroker.js"

const certs = useCertificates({ clientName: "scram-client" })
const life = useBrokers()
const clients = useKafkaClients()
const wires = useKafkaWires()
const dir = authDir()
const main = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url))
const spawnTracked = useProcesses()
const processes = useBrokerProcesses()
/** Debian package `mosquitto` (the broker and mosquitto_passwd; .ci/run installs it). */
const MOSQUITTO = "/usr/sbin/mosquitto"
const MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"

let files = 0
/** A password file (and its .scram sidecar) with `users`, written by `robustmq passwd`'s code. */
const passwdUsers = async (users: Record<string, string>, file = join(dir, `scram-${files++}.passwd`)): Promise<string> => {
  for (const [username, password] of Object.entries(users)) {
    await Effect.runPromise(passwd({ file, username, password, iterations: undefined, delete: false }))
  }
  return file
}

/** SASL required on both Kafka listeners (SASL_PLAINTEXT and SASL_SSL). */
const scramBroker = async (passwordFile: string, options: TestBrokerOptions = {}): Promise<TestBroker> =>
  life.broker({
    ...options,
    auth: { allowAnonymous: false, passwordFile, ...options.auth },
    kafka: { tlsPort: 0, ...options.kafka },
    tls: { certFile: certs.get().serverCert, keyFile: certs.get().serverKey, caFile: certs.get().caCert }
  })

type Mechanism = "scram-sha-256" | "scram-sha-512"
const MECHANISMS: ReadonlyArray<Mechanism> = ["scram-sha-256", "scram-sha-512"]
const ssl = () => ({ ssl: { ca: [Fs.readFileSync(certs.get().caCert)] } })
const scram = (mechanism: Mechanism, username: string, password: string): { sasl: SASLOptions } =>
  mechanism === "scram-sha-256" ? { sasl: { mechanism, username, password } } : { sasl: { mechanism, username, password } }

const kcatScram = (b: TestBroker, mechanism: Mechanism, username: string, password: string, overTls = true) => [
  ...kcatBroker(overTls ? b.kafkaTlsPort : b.kafkaPort),
  "-X", `security.protocol=${overTls ? "SASL_SSL" : "SASL_PLAINTEXT"}`,
  ...(overTls ? ["-X", `ssl.ca.location=${certs.get().caCert}`] : []),
  "-X", `sasl.mechanisms=${mechanism.toUpperCase()}`, "-X", `sasl.username=${username}`, "-X", `sasl.password=${password}`
]


/** The error kafkajs gives when connecting an admin with `overrides` (null when it connected). */
const connectError = async (port: number, clientId: string, overrides: Parameters<typeof kafkaClient>[2]) => {
  const admin = clients.track(kafkaClient(port, clientId, overrides).admin())
  return admin.connect().then(() => null, (e: Error) => e)
}

describe.skipIf(!hasKcat())("kcat (librdkafka) with SCRAM", () => {
  for (const mechanism of MECHANISMS) {
    it(`SASL_SSL ${mechanism.toUpperCase()}: produces and consumes; a bad password and an unknown user fail cleanly`, async () => {
      const b = await scramBroker(await passwdUsers({ alice: "a1-secret" }))
      await kcatRoundTrip(kcatScram(b, mechanism, "alice", "a1-secret"), `kc-${mechanism}`)
      for (const [user, password] of [["alice", "wrong"], ["mallory", "a1-secret"]] as const) {
        const result = await kcat([...kcatScram(b, mechanism, user, password), "-L", "-m", "3"])
        expect(result.code).not.toBe(0)
        expect(result.stderr).toMatch(/Authentication failed: Invalid username or password/)
      }
    })
  }

  it("SASL_PLAINTEXT SCRAM-SHA-512 on the plain listener", async () => {
    const b = await scramBroker(await passwdUsers({ bob: "b1-secret" }))
    await kcatRoundTrip(kcatScram(b, "scram-sha-512", "bob", "b1-secret", false), "kc-plain-scram")
    const bad = await kcat([...kcatScram(b, "scram-sha-256", "bob", "nope", false), "-L", "-m", "3"])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/Authentication failed/)
  })
})

describe("kafkajs with SCRAM", () => {
  for (const mechanism of MECHANISMS) {
    it(`ssl + sasl ${mechanism}: produces and consumes; a wrong password is a SASL authentication error`, async () => {
      const b = await scramBroker(await passwdUsers({ alice: "a1-secret" }))
      await kafkajsRoundTrip(clients, b.kafkaTlsPort, `js-${mechanism}`, { ...ssl(), ...scram(mechanism, "alice", "a1-secret") }, `js-${mechanism}`)
      const error = await connectError(b.kafkaTlsPort, `js-bad-${mechanism}`, { ...ssl(), ...scram(mechanism, "alice", "wrong") })
      expect(error?.name).toBe("KafkaJSSASLAuthenticationError")
      expect(error?.message).toMatch(/Authentication failed: Invalid username or password/)
    })
  }

  it("a user written without verifiers (mosquitto_passwd) may use PLAIN, and its SCRAM attempt says to run robustmq passwd", async () => {
    // The real mosquitto_passwd when installed, else the same $7$ line written by our hasher.
    const file = join(dir, "legacy.passwd")
    if (Fs.existsSync(MOSQUITTO_PASSWD)) execFileSync(MOSQUITTO_PASSWD, ["-c", "-b", file, "legacy", "l1"])
    else writeUsers(dir, { legacy: "l1" }, file)
    const b = await scramBroker(file)
    const admin = await clients.admin(kafkaClient(b.kafkaPort, "legacy-plain", { sasl: { mechanism: "plain", username: "legacy", password: "l1" } }))
    await admin.createTopics({ topics: [{ topic: "legacy-t" }] })
    expect(await admin.listTopics()).toContain("legacy-t")
    const error = await connectError(b.kafkaPort, "legacy-scram", scram("scram-sha-256", "legacy", "l1"))
    expect(error?.name).toBe("KafkaJSSASLAuthenticationError")
    expect(error?.message).toMatch(/user "legacy" has no SCRAM-SHA-256 credentials .*run `robustmq passwd <password_file> legacy`/)
  })

  it("a changed password closes the user's SCRAM connections on reload; then only the new one works", async () => {
    const file = await passwdUsers({ alice: "old-pass" })
    const b = await scramBroker(file)
    const wire = await wires.connect(b.kafkaPort)
    const client = new ScramClient("sha256", "alice", "old-pass")
    expect(await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "SCRAM-SHA-256" })).toMatchObject({ errorCode: 0 })
    const first = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(client.clientFirst()) })
    const final = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(client.clientFinal(first.authBytes.toString())) })
    expect(final.errorCode).toBe(0)
    await passwdUsers({ alice: "new-pass" }, file)
    const changes = await Effect.runPromise(b.server.context.auth!.reload)
    expect(changes).toMatchObject({ passwordsChanged: ["alice"], scramSet: ["alice (SCRAM-SHA-256)", "alice (SCRAM-SHA-512)"], kicked: 1 })
    expect(await wire.closedWithin(2_000)).toBe(true)
    expect((await connectError(b.kafkaPort, "after-old", scram("scram-sha-512", "alice", "old-pass")))?.name).toBe("KafkaJSSASLAuthenticationError")
    expect(await connectError(b.kafkaPort, "after-new", scram("scram-sha-512", "alice", "new-pass"))).toBe(null)
  })

  it("a SCRAM verifier changed alone (same password line) closes the user's connections on reload", async () => {
    const file = await passwdUsers({ alice: "a1-secret" })
    const b = await scramBroker(file)
    const wire = await wires.connect(b.kafkaPort)
    const client = new ScramClient("sha512", "alice", "a1-secret")
    await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "SCRAM-SHA-512" })
    const first = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(client.clientFirst()) })
    expect((await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(client.clientFinal(first.authBytes.toString())) })).errorCode).toBe(0)
    // A fresh salt for SCRAM-SHA-512 only, still bound to the same password line.
    const old = scramEntries(file).find((e) => e.mechanism === "SCRAM-SHA-512")!
    const v = deriveVerifierSync("sha512", "a1-secret", randomBytes(24), 4096)
    const renewed = { ...old, salt: v.salt.toString("base64"), storedKey: v.storedKey.toString("base64"), serverKey: v.serverKey.toString("base64") }
    const others = scramEntries(file).filter((e) => e !== old && e.mechanism !== "SCRAM-SHA-512")
    Fs.writeFileSync(`${file}.scram`, setScramLines("", "alice", [...others, renewed]))
    const changes = await Effect.runPromise(b.server.context.auth!.reload)
    expect(changes).toMatchObject({ passwordsChanged: [], scramSet: ["alice (SCRAM-SHA-512)"], scramRemoved: [], kicked: 1 })
    expect(await wire.closedWithin(2_000)).toBe(true)
    expect(await connectError(b.kafkaPort, "renewed", scram("scram-sha-512", "alice", "a1-secret"))).toBe(null)
  })

  it("failed SCRAM logins count toward auth.max_failures: the address is then refused", async () => {
    const b = await scramBroker(await passwdUsers({ dev: "right" }), { auth: { maxFailures: 2, failureWindow: 30 } })
    for (let i = 0; i < 2; i++) {
      expect((await connectError(b.kafkaPort, `bad-${i}`, scram("scram-sha-256", "dev", "wrong")))?.name).toBe("KafkaJSSASLAuthenticationError")
    }
    expect(await connectError(b.kafkaPort, "good", scram("scram-sha-256", "dev", "right"))).not.toBe(null)
    expect(b.server.context.admission.refused.banned).toBeGreaterThanOrEqual(1)
  })
})

describe("SCRAM on raw frames", () => {
  it("SaslHandshake v0: bare client-first/server-first and client-final/server-final frames, then requests", async () => {
    const b = await scramBroker(await passwdUsers({ alice: "a1-secret" }))
    const wire = await wires.connect(b.kafkaPort)
    expect(await wire.request(ApiKey.SaslHandshake, 0, { mechanism: "SCRAM-SHA-512" })).toMatchObject({ errorCode: 0 })
    const frame = (text: string) => {
      const size = Buffer.alloc(4)
      size.writeInt32BE(Buffer.byteLength(text))
      return [size, Buffer.from(text)]
    }
    const client = new ScramClient("sha512", "alice", "a1-secret")
    wire.write(frame(client.clientFirst()))
    const serverFirst = (await wire.nextFrame()).toString()
    expect(serverFirst).toMatch(new RegExp(`^r=${client.clientNonce.replace(/[+/]/g, "\\$&")}[^,]+,s=[A-Za-z0-9+/=]+,i=4096$`))
    wire.write(frame(client.clientFinal(serverFirst)))
    expect((await wire.nextFrame()).toString()).toBe(client.expectedServerFinal())
    const metadata = await wire.request(ApiKey.Metadata, 1, { topics: [], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false })
    expect(metadata.brokers).toHaveLength(1)

    // A wrong password on the v0 path: the e= server-final, then the connection ends.
    const refused = await wires.connect(b.kafkaPort)
    await refused.request(ApiKey.SaslHandshake, 0, { mechanism: "SCRAM-SHA-256" })
    const wrong = new ScramClient("sha256", "alice", "nope")
    refused.write(frame(wrong.clientFirst()))
    refused.write(frame(wrong.clientFinal((await refused.nextFrame()).toString())))
    expect((await refused.nextFrame()).toString()).toBe("e=invalid-proof")
    expect(await refused.closedWithin(2_000)).toBe(true)
  })

  it("SaslAuthenticate v1: a wrong proof gets SASL_AUTHENTICATION_FAILED with e=invalid-proof; a nonce change is refused", async () => {
    const b = await scramBroker(await passwdUsers({ alice: "a1-secret" }))
    const attempt = async (password: string, nonce?: (n: string) => string) => {
      const wire = await wires.connect(b.kafkaPort)
      await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "SCRAM-SHA-256" })
      const client = new ScramClient("sha256", "alice", password)
      const first = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(client.clientFirst()) })
      const serverFirst = first.authBytes.toString()
      const echoed = nonce?.(/^r=([^,]+)/.exec(serverFirst)![1]!)
      const final = await wire.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(client.clientFinal(serverFirst, echoed)) })
      return { final, closed: await wire.closedWithin(2_000) }
    }
    expect(await attempt("wrong")).toEqual({
      final: { errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: "Authentication failed: Invalid username or password", authBytes: Buffer.from("e=invalid-proof"), sessionLifetimeMs: 0 },
      closed: true
    })
    const nonce = await attempt("a1-secret", (n) => `${n}x`)
    expect(nonce.final).toMatchObject({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, authBytes: Buffer.from("e=other-error") })
  })
})

const scramEntries = (file: string) => {
  const sidecar = parseScramFile(Fs.readFileSync(`${file}.scram`, "utf8"))
  if (sidecar._tag !== "Parsed") throw new Error("the sidecar does not parse")
  return sidecar.value
}

/** What logs `password`'s user in, in every encoding it could leak as: the password, and per mechanism SaltedPassword and ClientKey. */
const loginSecrets = (file: string, password: string): Array<Buffer> => {
  const secrets = [Buffer.from(password), Buffer.from(Buffer.from(password).toString("base64"))]
  for (const e of scramEntries(file)) {
    const hash = e.mechanism === "SCRAM-SHA-256" ? "sha256" : "sha512"
    const salted = pbkdf2Sync(password, Buffer.from(e.salt, "base64"), e.iterations, hash === "sha256" ? 32 : 64, hash)
    const clientKey = createHmac(hash, salted).update("Client Key").digest()
    for (const secret of [salted, clientKey]) secrets.push(secret, Buffer.from(secret.toString("base64")), Buffer.from(secret.toString("hex")))
  }
  return secrets
}

describe("one `robustmq passwd` for MQTT, Kafka PLAIN and Kafka SCRAM", () => {
  const run = (args: ReadonlyArray<string>) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] })
      let out = ""
      child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
      child.stderr!.on("data", (d: Buffer) => (out += d.toString()))
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
      child.on("close", (code) => {
        clearTimeout(timer)
        resolve({ code, out })
      })
    })

  /** Every file under `root`, recursively. */
  const filesUnder = (root: string): Array<string> =>
    Fs.readdirSync(root, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(root, e.name)) : [join(root, e.name)]))

  it("works over all three, stores no password (nor salted password, nor client key), and survives a restart", { timeout: 120_000 }, async () => {
    if (!Fs.existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` first`)
    const file = join(dir, "one-command.passwd")
    const password = "c0rrect-horse-battery"
    const made = await run(["passwd", file, "carol", "--password", password])
    expect(made.code, made.out).toBe(0)
    let b = await scramBroker(file, { storage: "segment" })

    expect(await connackCode(b.url, { protocolVersion: 5, username: "carol", password })).toBe(0)
    await kafkajsRoundTrip(clients, b.kafkaPort, "carol-plain", { sasl: { mechanism: "plain", username: "carol", password } }, "carol-plain")
    await kafkajsRoundTrip(clients, b.kafkaTlsPort, "carol-scram", { ...ssl(), ...scram("scram-sha-256", "carol", password) }, "carol-scram")

    // What could log in must not be stored: the password (raw or base64), SaltedPassword, ClientKey.
    const forbidden = loginSecrets(file, password)
    const sidecar = scramEntries(file)
    const stored = [`${file}.scram`, file, ...filesUnder(b.dataDir)]
    expect(stored.length).toBeGreaterThan(2)
    for (const path of stored) {
      const bytes = Fs.readFileSync(path)
      for (const secret of forbidden) expect(bytes.includes(secret), `${path} holds a secret`).toBe(false)
    }
    // The verifiers did reach the data dir (the acl stream), as events.
    expect(filesUnder(b.dataDir).some((p) => Fs.readFileSync(p).includes(Buffer.from(sidecar[0]!.storedKey)))).toBe(true)

    b = life.adopt(await b.restart())
    const replayed = b.server.context.auth!.state.scram
    expect([...replayed.get("SCRAM-SHA-512")!.keys()]).toEqual(["carol"])
    // Nothing new to append at this boot: the files say what the replayed stream says.
    expect(await Effect.runPromise(b.server.context.auth!.reload)).toMatchObject({ usersAdded: [], scramSet: [], scramRemoved: [], kicked: 0 })
    if (hasKcat()) {
      const produced = await kcat([...kcatScram(b, "scram-sha-512", "carol", password), "-P", "-t", "after-restart"], { input: "hello\n" })
      expect(produced.code, produced.stderr).toBe(0)
    }
    expect(await connectError(b.kafkaTlsPort, "carol-after", { ...ssl(), ...scram("scram-sha-512", "carol", password) })).toBe(null)
    // Stopped here: the first broker's clean-up removes the shared data dir.
    await b.stop()
  })
})

describe.skipIf(!Fs.existsSync(MOSQUITTO))("Mosquitto still reads the password file", () => {
  const accepting = async (port: number) => {
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      const ok = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.destroy()
          resolve(true)
        })
        socket.on("error", () => resolve(false))
      })
      if (ok) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`mosquitto is not listening on ${port}`)
  }

  it("the file robustmq passwd wrote (with its .scram sidecar) logs the user in to mosquitto", async () => {
    const file = await passwdUsers({ dana: "d4na-pass", eve: "e-pass" })
    expect(Fs.existsSync(`${file}.scram`)).toBe(true)
    const port = await freePort()
    const conf = join(dir, `mosquitto-${port}.conf`)
    Fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${file}\nuser ${userInfo().username}\n`)
    const mosquitto = spawnTracked(MOSQUITTO, ["-c", conf], 60_000)
    await accepting(port)
    const url = `mqtt://127.0.0.1:${port}`
    expect(await connackCode(url, { protocolVersion: 5, username: "dana", password: "d4na-pass" })).toBe(0)
    expect(await connackCode(url, { protocolVersion: 5, username: "eve", password: "e-pass" })).toBe(0)
    expect(await connackCode(url, { protocolVersion: 5, username: "dana", password: "wrong" })).not.toBe(0)
    mosquitto.child.kill("SIGTERM")
    await mosquitto.exited
  })
})

describe("a debug-level run of the broker process", () => {
  it("logs no password, salted password, client key, StoredKey or ServerKey through logins, failures and a reload", { timeout: 120_000 }, async () => {
    const password = "l0g-me-not-pa55"
    const file = await passwdUsers({ frank: password })
    const b = await processes.start(processes.dataDir(), {
      storage: "sqlite",
      logLevel: "debug",
      env: { ROBUSTMQ_AUTH_ALLOW_ANONYMOUS: "false", ROBUSTMQ_AUTH_PASSWORD_FILE: file }
    })
    expect(await connackCode(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 5, username: "frank", password })).toBe(0)
    expect(await connackCode(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 5, username: "frank", password: `${password}-wrong` })).toBe(0x86)
    await kafkajsRoundTrip(clients, b.kafkaPort, "debug-scram", scram("scram-sha-512", "frank", password), "debug-scram")
    expect(await connectError(b.kafkaPort, "debug-plain", { sasl: { mechanism: "plain", username: "frank", password } })).toBe(null)
    expect((await connectError(b.kafkaPort, "debug-bad", scram("scram-sha-256", "frank", `${password}-wrong`)))?.name).toBe("KafkaJSSASLAuthenticationError")
    const secrets = loginSecrets(file, password)
    for (const e of scramEntries(file)) secrets.push(Buffer.from(e.storedKey), Buffer.from(e.serverKey))
    // A new password and SIGHUP: the reload is logged too.
    await passwdUsers({ frank: `${password}-2` }, file)
    b.child.kill("SIGHUP")
    await waitUntil(() => /auth reloaded/.test(b.output()), 10_000, () => b.output())
    for (const e of scramEntries(file)) secrets.push(Buffer.from(e.storedKey), Buffer.from(e.serverKey))
    await b.stop()
    const output = Buffer.from(b.output())
    expect(b.output()).toMatch(/DEBUG/)
    for (const secret of secrets) expect(output.includes(secret), `the log holds ${secret.toString().slice(0, 6)}...`).toBe(false)
    expect(b.output()).not.toContain(password)
  })
})
