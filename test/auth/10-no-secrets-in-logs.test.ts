/**
 * No secret in any log line or in the data directory (issue 9 acceptance): a real broker process
 * at log.level = "debug" with a password file, an ACL, TLS on every listener and Kafka SASL/PLAIN
 * is driven through good and bad MQTT logins (TCP, TLS, WS, WSS), good and bad Kafka PLAIN and
 * SCRAM logins (SASL_PLAINTEXT, SASL_SSL), JWTs (good, forged, expired), TLS handshakes and a
 * SIGHUP reload; then the whole output of the run
 * and every file under its data dir are searched for each secret, as text and as hex, base64 and
 * byte lists (what a logged Buffer or JSON would show).
 *
 * To cover a new secret, add one row to `cases`: what must never show (`secrets`) and how a
 * client presents it to the broker (`drive`, asserting the outcome so the secret surely reached
 * the broker). Rows run in order against one broker; `live.users` and `live.reload()` change the
 * password file; a new mechanism's settings go in `brokerSettings`.
 */
import { createHmac, pbkdf2Sync } from "node:crypto"
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as tls from "node:tls"
import { Effect } from "effect"
import type { Kafka, KafkaConfig, SASLOptions } from "kafkajs"
import { describe, expect, it } from "vitest"
import { authDir, connackCode, writeAcl, writeUsers } from "./authFiles.js"
import { useBrokerProcesses, type BrokerProcess } from "../support/BrokerProcess.js"
import { type TestCertificates, useCertificates } from "../support/certificates.js"
import { connect, waitUntil } from "../support/clients.js"
import { kafkaClient, withTimeout } from "../support/kafka.js"
import { KafkaWire } from "../support/KafkaWire.js"
import { parseScramFile } from "../../domain/auth/scramFile.js"
import { passwd } from "../../src/auth/passwd.js"
import { ApiKey } from "../../src/kafka/protocol/index.js"

const certs = useCertificates({ clientName: "device-1" })
const processes = useBrokerProcesses()
const dir = authDir()

/** The running broker as the rows see it. */
interface Live {
  readonly broker: BrokerProcess
  readonly certs: TestCertificates
  readonly ports: { readonly mqtt: number; readonly mqtts: number; readonly ws: number; readonly wss: number; readonly kafka: number; readonly kafkaTls: number }
  /** The password file (its `.scram` sidecar beside it). */
  readonly passwordFile: string
  /** The password file's users (name -> password); change it, then `reload()`. */
  readonly users: Record<string, string>
  /** Rewrites the password file from `users`, sends SIGHUP and waits for both reload lines. */
  reload(): Promise<void>
}

interface SecretCase {
  readonly name: string
  /** Texts that must appear nowhere (each at least 8 characters, so a hit is no accident). */
  readonly secrets: (live: Live) => ReadonlyArray<string>
  /** Presents the secret to the broker as clients do, good and bad, and asserts the outcome. */
  readonly drive: (live: Live) => Promise<void>
}

// --- the secrets -------------------------------------------------------------------------------

const ALICE = "alice-S3cret-mqtt-Pa55"
const WRONG = "not-alices-Guess-9921"
const KAFKA = "kbob-S3cret-kafka-Pa55"
const KAFKA_WRONG = "kbob-wrong-Guess-4471"
const ROTATED = "alice-Rotated-after-HUP-77"
const GARBLED = "kbob-Garbled-token-Pa55"
const SCRAM = "scarlett-S3cret-scram-Pa55"
const SCRAM_WRONG = "scarlett-wrong-Guess-6113"
const JWT_SECRET = "jwt-hmac-S3cret-0f1e2d3c4b5a69788796a5b4c3d2e1f0"

/** A compact HS256 JWT, signed here with node:crypto (what an identity service would issue). */
const hs256 = (claims: Record<string, unknown>, secret: string): string => {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url")
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`
}
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s
const JWT_GOOD = hs256({ sub: "alice", exp: inSeconds(600) }, JWT_SECRET)
const JWT_FORGED = hs256({ sub: "alice", exp: inSeconds(600) }, "not-the-jwt-secret-9a8b7c6d5e4f3a2b1c0d")
const JWT_EXPIRED = hs256({ sub: "alice", exp: inSeconds(-3600) }, JWT_SECRET)

/** What SCRAM must never show for `password`: per mechanism the SaltedPassword and ClientKey (hex and base64). */
const scramDerived = (passwordFile: string, password: string): Array<string> => {
  const sidecar = parseScramFile(readFileSync(`${passwordFile}.scram`, "utf8"))
  if (sidecar._tag !== "Parsed") throw new Error("the .scram sidecar does not parse")
  return sidecar.value.flatMap((e) => {
    const hash = e.mechanism === "SCRAM-SHA-256" ? "sha256" : "sha512"
    const salted = pbkdf2Sync(password, Buffer.from(e.salt, "base64"), e.iterations, hash === "sha256" ? 32 : 64, hash)
    const clientKey = createHmac(hash, salted).update("Client Key").digest()
    return [salted, clientKey].flatMap((b) => [b.toString("hex"), b.toString("base64")])
  })
}

const mqttLogin = (live: Live, password: string, version: 4 | 5 = 5) => {
  const options = { username: "alice", password, protocolVersion: version, clientId: `login-${version}-${Math.random().toString(36).slice(2, 8)}` }
  const ca = readFileSync(live.certs.caCert)
  return {
    tcp: () => connackCode(`mqtt://127.0.0.1:${live.ports.mqtt}`, options),
    tls: () => connackCode(`mqtts://127.0.0.1:${live.ports.mqtts}`, { ...options, ca }),
    ws: () => connackCode(`ws://127.0.0.1:${live.ports.ws}/mqtt`, options),
    wss: () => connackCode(`wss://localhost:${live.ports.wss}/mqtt`, { ...options, ca })
  }
}

/** A kafkajs admin's connect and one request (PLAIN as kbob unless `sasl` says otherwise) over the plain or the TLS listener: null when it worked, else the error's name. */
const kafkaLogin = async (live: Live, password: string, overTls: boolean, sasl: SASLOptions = { mechanism: "plain", username: "kbob", password }): Promise<string | null> => {
  const config: Partial<KafkaConfig> = {
    sasl,
    ...(overTls ? { ssl: { ca: [readFileSync(live.certs.caCert)] } } : {})
  }
  const kafka: Kafka = kafkaClient(overTls ? live.ports.kafkaTls : live.ports.kafka, `secrets-${overTls ? "tls" : "plain"}`, config)
  const admin = kafka.admin()
  try {
    await withTimeout(admin.connect(), 15_000, "kafkajs connect")
    await withTimeout(admin.listTopics(), 15_000, "kafkajs listTopics")
    return null
  } catch (e) {
    return (e as Error).name
  } finally {
    await withTimeout(admin.disconnect(), 5_000, "kafkajs disconnect").catch(() => {})
  }
}

/** The base64 lines of a PEM file: what a leaked key would look like in a log or a file. */
const pemBody = (file: string): ReadonlyArray<string> => {
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("-----"))
  const joined = lines.join("")
  return [joined, ...lines.filter((l) => l.length >= 16), Buffer.from(joined, "base64").toString("hex")]
}

const cases: ReadonlyArray<SecretCase> = [
  {
    name: "MQTT password",
    secrets: () => [ALICE],
    drive: async (live) => {
      for (const version of [4, 5] as const) {
        const login = mqttLogin(live, ALICE, version)
        expect(await login.tcp()).toBe(0)
        expect(await login.tls()).toBe(0)
      }
      expect(await mqttLogin(live, ALICE).ws()).toBe(0)
      expect(await mqttLogin(live, ALICE).wss()).toBe(0)
      // A publish the ACL refuses, for the debug lines around it.
      const client = await connect(`mqtt://127.0.0.1:${live.ports.mqtt}`, { username: "alice", password: ALICE, protocolVersion: 5 })
      await client.client.publishAsync("not-alices/topic", "x", { qos: 1 }).catch(() => {})
      await client.end()
    }
  },
  {
    name: "a wrong MQTT password",
    secrets: () => [WRONG],
    drive: async (live) => {
      expect(await mqttLogin(live, WRONG, 5).tcp()).toBe(0x86)
      expect(await mqttLogin(live, WRONG, 4).tcp()).toBe(4)
      expect(await mqttLogin(live, WRONG, 5).tls()).toBe(0x86)
      expect(await mqttLogin(live, WRONG, 5).ws()).toBe(0x86)
    }
  },
  {
    name: "Kafka SASL/PLAIN password",
    secrets: () => [KAFKA],
    drive: async (live) => {
      expect(await kafkaLogin(live, KAFKA, false)).toBe(null)
      expect(await kafkaLogin(live, KAFKA, true)).toBe(null)
    }
  },
  {
    name: "a wrong Kafka SASL/PLAIN password",
    secrets: () => [KAFKA_WRONG],
    drive: async (live) => {
      expect(await kafkaLogin(live, KAFKA_WRONG, false)).toBe("KafkaJSSASLAuthenticationError")
      expect(await kafkaLogin(live, KAFKA_WRONG, true)).toBe("KafkaJSSASLAuthenticationError")
    }
  },
  {
    name: "a garbled SASL/PLAIN token (a password sent without the NUL separators)",
    secrets: () => [GARBLED],
    drive: async (live) => {
      const wire = await KafkaWire.connect(live.ports.kafka, 5_000)
      try {
        expect((await wire.request(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" })).errorCode).toBe(0)
        const answer = await wire.request(ApiKey.SaslAuthenticate, 0, { authBytes: Buffer.from(`kbob ${GARBLED}`) })
        expect(answer.errorCode).not.toBe(0)
      } finally {
        wire.destroy()
      }
    }
  },
  {
    name: "the TLS server's private key",
    secrets: (live) => pemBody(live.certs.serverKey),
    drive: async (live) => {
      // Handshakes with and without a client certificate (verify_client = "optional").
      for (const withCert of [false, true]) {
        const socket = tls.connect({
          host: "127.0.0.1", port: live.ports.mqtts, servername: "localhost", ca: readFileSync(live.certs.caCert),
          ...(withCert ? { cert: readFileSync(live.certs.clientCert), key: readFileSync(live.certs.clientKey) } : {})
        })
        await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject))
        expect(socket.authorized).toBe(true)
        await new Promise<void>((resolve) => socket.end(() => resolve()))
      }
    }
  },
  {
    name: "Kafka SCRAM (SHA-256 and SHA-512): the password, SaltedPassword and ClientKey",
    secrets: (live) => [SCRAM, SCRAM_WRONG, ...scramDerived(live.passwordFile, SCRAM)],
    drive: async (live) => {
      for (const mechanism of ["scram-sha-256", "scram-sha-512"] as const) {
        expect(await kafkaLogin(live, SCRAM, false, { mechanism, username: "scarlett", password: SCRAM })).toBe(null)
        expect(await kafkaLogin(live, SCRAM, true, { mechanism, username: "scarlett", password: SCRAM })).toBe(null)
      }
      expect(await kafkaLogin(live, SCRAM_WRONG, true, { mechanism: "scram-sha-512", username: "scarlett", password: SCRAM_WRONG })).toBe("KafkaJSSASLAuthenticationError")
    }
  },
  {
    name: "JWTs (good, forged, expired) and the JWT secret",
    secrets: () => [JWT_SECRET, JWT_GOOD, JWT_FORGED, JWT_EXPIRED, ...[JWT_GOOD, JWT_FORGED, JWT_EXPIRED].map((t) => t.split(".")[2]!)],
    drive: async (live) => {
      expect(await mqttLogin(live, JWT_GOOD).tcp()).toBe(0)
      expect(await mqttLogin(live, JWT_GOOD).wss()).toBe(0)
      expect(await mqttLogin(live, JWT_FORGED).tcp()).toBe(0x86)
      expect(await mqttLogin(live, JWT_EXPIRED, 4).tls()).toBe(4)
    }
  },
  {
    name: "a password set by a SIGHUP reload (which re-reads the TLS key too)",
    secrets: () => [ROTATED],
    drive: async (live) => {
      live.users.alice = ROTATED
      await live.reload()
      expect(await mqttLogin(live, ROTATED).tcp()).toBe(0)
      expect(await mqttLogin(live, ROTATED).tls()).toBe(0)
      expect(await mqttLogin(live, ALICE).tcp()).toBe(0x86)
    }
  }
]

/** How the broker is started: every listener, TLS with optional client certificates, logins required. */
const brokerSettings = (c: TestCertificates, files: { readonly passwordFile: string; readonly aclFile: string; readonly jwtSecretFile: string }) => ({
  args: [
    "--log-level", "debug",
    "--mqtts-port", "0", "--ws-port", "0", "--wss-port", "0", "--kafka-tls-port", "0",
    "--tls-cert", c.serverCert, "--tls-key", c.serverKey, "--tls-ca", c.caCert
  ],
  env: {
    ROBUSTMQ_AUTH_ALLOW_ANONYMOUS: "false",
    ROBUSTMQ_AUTH_PASSWORD_FILE: files.passwordFile,
    ROBUSTMQ_AUTH_ACL_FILE: files.aclFile,
    ROBUSTMQ_AUTH_JWT_SECRET_FILE: files.jwtSecretFile,
    ROBUSTMQ_TLS_VERIFY_CLIENT: "optional",
    ROBUSTMQ_LOG_FORMAT: "terse"
  }
})

// --- the search --------------------------------------------------------------------------------

/** A secret as text and as the encodings a logged Buffer, JSON or hex dump would give it. */
const spellings = (secret: string): ReadonlyArray<string> => {
  const bytes = Buffer.from(secret)
  return [
    secret,
    bytes.toString("hex"),
    bytes.toString("base64").replace(/=+$/, ""),
    [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" "), // <Buffer 61 6c ...>
    [...bytes].join(",") // {"type":"Buffer","data":[97,108,...]}
  ]
}

const filesUnder = (root: string): Array<string> =>
  readdirSync(root).flatMap((name) => {
    const path = join(root, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })

/** Where `text` occurs: "output" and/or the data files holding it. */
const foundIn = (text: string, output: string, files: ReadonlyArray<readonly [string, Buffer]>): Array<string> => {
  const found = output.includes(text) ? ["output"] : []
  const bytes = Buffer.from(text)
  for (const [path, content] of files) if (content.includes(bytes)) found.push(path)
  return found
}

const listenedPort = (output: string, what: RegExp): number | undefined => {
  const m = new RegExp(`${what.source} listening on [^\\s]+:(\\d+)`).exec(output)
  return m === null ? undefined : Number(m[1])
}

describe("no secret in the logs or the data dir", () => {
  it("a debug-level run with logins of every kind, TLS and a reload shows no password or key anywhere", async () => {
    const users: Record<string, string> = { alice: ALICE, kbob: KAFKA }
    const passwordFile = writeUsers(dir, users)
    const aclFile = writeAcl(dir, "user alice\ntopic readwrite alice/#\nuser kbob\ntopic readwrite #\n")
    // scarlett is written by `robustmq passwd` (its SCRAM verifiers go to the .scram sidecar).
    await Effect.runPromise(passwd({ file: passwordFile, username: "scarlett", password: SCRAM, iterations: undefined, delete: false }))
    const jwtSecretFile = join(dir, "jwt.secret")
    writeFileSync(jwtSecretFile, JWT_SECRET, { mode: 0o600 })
    const c = certs.get()
    const dataDir = processes.dataDir()
    const broker = await processes.start(dataDir, { storage: "segment", ...brokerSettings(c, { passwordFile, aclFile, jwtSecretFile }), startTimeoutMs: 60_000 })
    await waitUntil(() => listenedPort(broker.output(), /Kafka over TLS \([A-Z_]+\)/) !== undefined && listenedPort(broker.output(), /MQTT over WebSocket with TLS \(path \/mqtt\)/) !== undefined, 30_000, () => `every listener; output: ${broker.output()}`)
    const out = broker.output()
    const live: Live = {
      broker,
      certs: c,
      passwordFile,
      ports: {
        mqtt: broker.port,
        kafka: broker.kafkaPort,
        mqtts: listenedPort(out, /MQTT over TLS/)!,
        ws: listenedPort(out, /MQTT over WebSocket \(path \/mqtt\)/)!,
        wss: listenedPort(out, /MQTT over WebSocket with TLS \(path \/mqtt\)/)!,
        kafkaTls: listenedPort(out, /Kafka over TLS \([A-Z_]+\)/)!
      },
      users,
      reload: async () => {
        writeUsers(dir, users, passwordFile)
        const reloads = (broker.output().match(/auth reloaded/g) ?? []).length
        const tlsReloads = (broker.output().match(/tls: certificate files reloaded/g) ?? []).length
        broker.child.kill("SIGHUP")
        await waitUntil(
          () => (broker.output().match(/auth reloaded/g) ?? []).length > reloads && (broker.output().match(/tls: certificate files reloaded/g) ?? []).length > tlsReloads,
          15_000,
          () => `the reload lines; output: ${broker.output()}`
        )
      }
    }

    const secrets: Array<readonly [string, string]> = []
    for (const row of cases) {
      for (const secret of row.secrets(live)) {
        expect(secret.length, `${row.name}: a secret this short could match by accident`).toBeGreaterThanOrEqual(8)
        secrets.push([row.name, secret])
      }
      await row.drive(live)
    }
    await broker.stop(10_000)
    expect(broker.exit()?.code).toBe(0)

    const output = broker.output()
    // The whole run is kept (BrokerProcess keeps the last 1 MB), and it was at debug level:
    // the logins above are in it, by user name and outcome.
    expect(output.length).toBeLessThan(1_000_000)
    expect(output).toMatch(/ DEBUG mqtt: CONNECT from 127\.0\.0\.1:\d+: client id "login-5-\w+", user "alice", a password/)
    expect(output).toMatch(/ DEBUG auth: user "alice" refused: wrong password/)
    expect(output).toMatch(/ DEBUG auth: user "kbob" accepted/)
    expect(output).toMatch(/ DEBUG kafka: SASL login from 127\.0\.0\.1:\d+ accepted as user "kbob"/)
    expect(output).toMatch(/ DEBUG mqtt: connection from 127\.0\.0\.1:\d+ over wss/)
    // Connection lines name the address, the listener, the client id and the user.
    expect(output).toMatch(/ DEBUG mqtt: CONNACK to 127\.0\.0\.1:\d+ over \w+, client "login-5-\w+", user "alice": accepted/)
    expect(output).toMatch(/ DEBUG mqtt: connection from 127\.0\.0\.1:\d+ over \w+, client "[^"]+", user "alice" closed/)
    expect(output).toMatch(/ DEBUG kafka: SASL login from 127\.0\.0\.1:\d+ refused: SASL_AUTHENTICATION_FAILED/)
    expect(output).toMatch(/ DEBUG kafka: connection from 127\.0\.0\.1:\d+ over \w+, client "[^"]+", user "kbob" closed/)
    const files = filesUnder(dataDir).map((path) => [path, readFileSync(path)] as const)
    expect(files.length).toBeGreaterThan(0)
    // The search does see what the broker stored: the users' names are in the acl stream.
    expect(foundIn("kbob", "", files).length).toBeGreaterThan(0)

    const leaks: Array<string> = []
    for (const [name, secret] of secrets) {
      for (const spelling of spellings(secret)) {
        const where = foundIn(spelling, output, files)
        if (where.length > 0) leaks.push(`${name} (${spelling === secret ? "as text" : `as ${spelling.slice(0, 12)}...`}) in ${where.join(", ")}`)
      }
    }
    expect(leaks).toEqual([])
  }, 240_000)
})
