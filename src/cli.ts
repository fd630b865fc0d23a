/**
 * The `robustmq` command line: `start` runs the broker, `config` prints the configuration it would
 * run with, `passwd` edits a Mosquitto password file (src/auth/passwd.ts), `log verify|repair`
 * checks or mends the stored logs (layers/LogCheck.ts), `cert dev` writes certificates to try TLS
 * with (src/tls/devCertificates.ts), `events dump` prints a stopped broker's control-event log; `status`,
 * `clients`, `sessions`, `subscriptions`, `topics`, `groups`, `retained`, `bans`, `publish` and
 * `events tail` and `cluster status` act on a running broker through its admin API (src/cli/). Owns flag parsing and nothing else: configuration rules live in config/loadConfig.ts
 * (so a bad `--mqtt-port` reads exactly like a bad `mqtt.port` in the file), and the broker's
 * lifetime is `Layer.launch(App.layer)`, interrupted by src/main.ts on SIGINT/SIGTERM.
 *
 * The value flags are plain text on purpose: loadConfig validates them with the same Schema as the
 * file and env, and reports one line naming the flag (`--storage must be "memory", "sqlite" or "segment",
 * got "bogus"`), where @effect/cli's own choice/integer errors name neither flag nor value.
 */
import { Args, Command, Options, ValidationError } from "@effect/cli"
import type { CliApp } from "@effect/cli"
import { Console, Effect, FiberRef, Layer, Logger, LogLevel, Option } from "effect"
import { stringify as stringifyToml } from "smol-toml"
import * as BrokerConfig from "../config/BrokerConfig.js"
import type { LogLevelName } from "../config/BrokerConfigShape.js"
import { type ConfigError, type ConfigOverrides, encodeConfig, loadConfig } from "../config/loadConfig.js"
import * as LogCheck from "../layers/LogCheck.js"
import { passwd as runPasswd } from "./auth/passwd.js"
import { bans } from "./cli/bansCommands.js"
import { clients } from "./cli/clientsCommands.js"
import { cluster } from "./cli/clusterCommands.js"
import { dump as eventsDump } from "./cli/eventsDump.js"
import { tail as eventsTail } from "./cli/eventsTail.js"
import { groups, topics } from "./cli/kafkaCommands.js"
import { publish } from "./cli/publishCommand.js"
import { retained } from "./cli/retainedCommands.js"
import { sessions, subscriptions } from "./cli/sessionsCommands.js"
import { status } from "./cli/statusCommand.js"
import { writeDevCertificates } from "./tls/devCertificates.js"
import { VERSION } from "./version.js"

/** An optional text flag: `--name PSEUDO`, shown with `description` in --help. */
const optionalText = (name: string, pseudoName: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(pseudoName), Options.withDescription(description), Options.optional)

const configFile = Options.text("config").pipe(
  Options.withAlias("c"),
  Options.withPseudoName("FILE"),
  Options.withDescription("TOML config file (see config/broker.example.toml); default: $ROBUSTMQ_CONFIG"),
  Options.optional
)
const mqttHost = optionalText("mqtt-host", "HOST", "MQTT listen address (mqtt.host)")
const mqttPort = optionalText("mqtt-port", "PORT", "MQTT TCP port, 0 = any free port (mqtt.port)")
const kafkaPort = optionalText("kafka-port", "PORT", "Kafka protocol TCP port, 0 = any free port (kafka.port)")
const dataDir = optionalText("data-dir", "DIR", "data directory, relative to the working directory (storage.data_dir)")
const storage = optionalText("storage", "memory|sqlite|segment", "storage backend (storage.kind)")

const mqttsPort = optionalText("mqtts-port", "PORT", "MQTT over TLS port, 0 = any free port; off unless set (mqtt.tls_port)")
const wsPort = optionalText("ws-port", "PORT", "MQTT over WebSocket port, 0 = any free port; off unless set (mqtt.ws_port)")
const wssPort = optionalText("wss-port", "PORT", "MQTT over WebSocket with TLS port; off unless set (mqtt.wss_port)")
const kafkaTlsPort = optionalText("kafka-tls-port", "PORT", "Kafka over TLS (SSL, or SASL_SSL without anonymous clients) port; off unless set (kafka.tls_port)")
const tlsCert = optionalText("tls-cert", "FILE", "PEM server certificate for the TLS listeners (tls.cert_file)")
const tlsKey = optionalText("tls-key", "FILE", "PEM private key of --tls-cert (tls.key_file)")
const tlsCa = optionalText("tls-ca", "FILE", "PEM CA that client certificates are checked against (tls.ca_file)")

const httpPort = optionalText("http-port", "PORT", "HTTP port for /metrics and /health, 0 = any free port, -1 = off (http.port)")

const clusterEtcd = optionalText("cluster-etcd", "URL[,URL...]", "etcd client URLs: join the cluster they coordinate; off unless set (cluster.etcd_endpoints)")
const nodeId = optionalText("node-id", "ID", "this node's unique, stable id in the cluster (cluster.node_id)")
const advertiseHost = optionalText("advertise-host", "HOST", "host the other nodes and clients reach this node at; default: the host name (cluster.advertise_host)")
const clusterPort = optionalText("cluster-port", "PORT", "node-to-node link port, 0 = any free port (cluster.port)")
const workers = optionalText("workers", "N|auto", "worker processes behind the same ports, each a cluster node; auto = one per core (cluster.workers)")

const sourceOptions = {
  configFile, mqttHost, mqttPort, kafkaPort, dataDir, storage, mqttsPort, wsPort, wssPort, kafkaTlsPort, tlsCert, tlsKey, tlsCa, httpPort,
  clusterEtcd, nodeId, advertiseHost, clusterPort, workers
}

/** The flags a command was given that override settings (a command may take only some). */
type SourceFlags = { readonly configFile: Option.Option<string> } & { readonly [K in keyof ConfigOverrides]?: Option.Option<string> }

/** Every key of ConfigOverrides: a flag added there is listed here too. */
const overrideNames = ["mqttHost", "mqttPort", "kafkaPort", "dataDir", "storage", "mqttsPort", "wsPort", "wssPort", "kafkaTlsPort", "tlsCert", "tlsKey", "tlsCa", "httpPort",
  "clusterEtcd", "nodeId", "advertiseHost", "clusterPort", "workers"] as const

/** `--log-level`, taken off the command line by `run` (see takeLogLevel). */
const logLevelFlag = FiberRef.unsafeMake<string | undefined>(undefined)

const load = (flags: SourceFlags) =>
  Effect.flatMap(FiberRef.get(logLevelFlag), (logLevel) => {
    const overrides: ConfigOverrides = {
      ...Object.fromEntries(overrideNames.map((name) => [name, Option.getOrUndefined(flags[name] ?? Option.none())])),
      logLevel
    }
    return loadConfig({ configFile: Option.getOrUndefined(flags.configFile), overrides })
  })

const minimumLevel: Record<LogLevelName, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error
}

const start = Command.make("start", sourceOptions, (flags) =>
  Effect.gen(function*() {
    const loaded = yield* load(flags)
    // The broker's modules load only here: the admin commands start without them.
    const Workers = yield* Effect.promise(() => import("./cluster/workers/workerConfig.js"))
    // The node link's certificate files, checked before anything listens (a primary, a worker or a single node).
    const { loadLinkTls } = yield* Effect.promise(() => import("./cluster/linkTls.js"))
    yield* Effect.try({ try: () => loadLinkTls(loaded.cluster), catch: (e) => e as Error })
    const index = Workers.workerIndex()
    const count = Workers.workerCount(loaded.cluster.workers)
    const level = minimumLevel[loaded.log.level]
    if (index === null && count > 1) {
      const { runPrimary } = yield* Effect.promise(() => import("./cluster/workers/primary.js"))
      return yield* runPrimary(loaded, count).pipe(Logger.withMinimumLogLevel(level))
    }
    const config = index === null ? loaded : Workers.workerConfig(loaded, index)
    const App = yield* Effect.promise(() => import("./App.js"))
    // A worker without etcd coordinates through its primary; it stops when the primary is gone.
    const coordination = index !== null && config.cluster.etcdEndpoints.length === 0
      ? (yield* Effect.promise(() => import("./cluster/workers/ipcCoordination.js"))).layer
      : Layer.empty
    if (index !== null) process.once("disconnect", () => process.kill(process.pid, "SIGTERM"))
    return yield* Effect.zipRight(
      Effect.logDebug(`storage ${config.storage.kind} in ${config.storage.dataDir}`),
      Layer.launch(App.layer.pipe(Layer.provide(BrokerConfig.layer(config)), Layer.provide(coordination)))
    ).pipe(
      Logger.withMinimumLogLevel(level),
      // The workers of one machine log to one stdout: each line says whose it is.
      index === null ? (e) => e : Effect.annotateLogs("node", config.cluster.nodeId)
    )
  })).pipe(Command.withDescription("Run the broker until SIGINT or SIGTERM"))

const format = Options.choice("format", ["toml", "json"]).pipe(
  Options.withDescription("output format; keys are the TOML file's"),
  Options.withDefault("toml" as const)
)

const config = Command.make("config", { ...sourceOptions, format }, (flags) =>
  Effect.gen(function*() {
    const document = encodeConfig(yield* load(flags))
    yield* Console.log(
      flags.format === "json" ? JSON.stringify(document, null, 2) : stringifyToml(document).trimEnd()
    )
  })).pipe(Command.withDescription("Print the resolved configuration (defaults < file < env < flags)"))

const passwordFile = Args.text({ name: "FILE" }).pipe(Args.withDescription("Mosquitto password file (created if missing)"))
const username = Args.text({ name: "USERNAME" })
const password = optionalText("password", "P", "the password; default: typed twice at a terminal (not echoed), or one line from a pipe")
const iterations = optionalText("iterations", "N", "PBKDF2 iterations (default 101, as mosquitto_passwd): more is stronger and slower at CONNECT")
const deleteUser = Options.boolean("delete").pipe(Options.withDescription("remove the user instead"))

const passwd = Command.make(
  "passwd",
  { file: passwordFile, username, password, iterations, delete: deleteUser },
  (flags) =>
    Effect.flatMap(
      runPasswd({
        file: flags.file,
        username: flags.username,
        password: Option.getOrUndefined(flags.password),
        iterations: Option.getOrUndefined(flags.iterations),
        delete: flags.delete
      }),
      Console.log
    )
).pipe(Command.withDescription("Add, change or delete a user in a Mosquitto password file ($7$ PBKDF2-SHA512)"))

/** The data directory the broker would use with these flags (config file, env, --data-dir). */
const dataDirOf = (flags: { readonly configFile: Option.Option<string>; readonly dataDir: Option.Option<string> }) =>
  Effect.map(
    load(flags),
    (c) => c.storage.dataDir
  )

const logOptions = { configFile, dataDir }

const verify = Command.make("verify", logOptions, (flags) =>
  Effect.gen(function*() {
    const dir = yield* dataDirOf(flags)
    const reports = yield* Effect.promise(() => LogCheck.verify(dir))
    for (const r of reports) yield* Console.log(LogCheck.formatReport(r))
    const bad = reports.filter((r) => r.status === "bad").length
    if (bad > 0) {
      return yield* Effect.fail(
        new Error(`${bad} damaged file(s) in ${dir}; with the broker stopped, \`robustmq log repair --data-dir ${dir}\` cuts them back to their last whole batch`)
      )
    }
  })).pipe(Command.withDescription("Check every batch CRC and index of the logs in the data directory (broker stopped); exit 1 on damage"))

const repair = Command.make("repair", logOptions, (flags) =>
  Effect.gen(function*() {
    const dir = yield* dataDirOf(flags)
    const reports = yield* Effect.promise(() => LogCheck.repair(dir))
    for (const r of reports) yield* Console.log(LogCheck.formatReport(r))
    const left = (yield* Effect.promise(() => LogCheck.verify(dir))).filter((r) => r.status === "bad")
    if (left.length > 0) {
      return yield* Effect.fail(new Error(`repair could not mend ${left.map((r) => r.path).join(", ")}`))
    }
  })).pipe(Command.withDescription("Cut each damaged log back to its last whole valid batch and rebuild indexes (broker stopped)"))

const log = Command.make("log").pipe(
  Command.withDescription("Check or repair the stored logs"),
  Command.withSubcommands([verify, repair])
)

const certDir = Args.text({ name: "DIR" }).pipe(Args.withDescription("directory for the PEM files (created if missing)"))
const clientName = Options.text("client-cn").pipe(
  Options.withPseudoName("NAME"),
  Options.withDescription("CN of the client certificate (the user name with tls.cn_as_username)"),
  Options.withDefault("device-1")
)

const dev = Command.make("dev", { dir: certDir, clientName }, (flags) =>
  Effect.gen(function*() {
    const certs = yield* Effect.tryPromise({
      try: () => writeDevCertificates(flags.dir, { clientName: flags.clientName, progress: (line) => console.log(`writing ${line}`) }),
      catch: (e) => (e instanceof Error ? e : new Error(String(e)))
    })
    yield* Console.log(`done. Try TLS: robustmq start --mqtts-port 8883 --tls-cert ${certs.serverCert} --tls-key ${certs.serverKey} --tls-ca ${certs.caCert}`)
    yield* Console.log(`  mosquitto_sub -h localhost -p 8883 --cafile ${certs.caCert} -t '#' -v`)
    yield* Console.log(`  mTLS: add --cert ${certs.clientCert} --key ${certs.clientKey} (broker: [tls] verify_client = "required", cn_as_username = true)`)
    yield* Console.log("For development only: the keys are unencrypted and the CA key is beside them.")
  })).pipe(Command.withDescription("Write a development CA, a server certificate for localhost/127.0.0.1 and a client certificate (PEM, via openssl)"))

const cert = Command.make("cert").pipe(
  Command.withDescription("Make TLS certificates"),
  Command.withSubcommands([dev])
)

const events = Command.make("events").pipe(
  Command.withDescription("The control-event log: follow it live over the API, or dump a stopped broker's data directory"),
  Command.withSubcommands([eventsTail, eventsDump])
)

export const command = Command.make("robustmq").pipe(
  Command.withDescription("MQTT 3.1.1/5.0 and Kafka broker"),
  Command.withSubcommands([
    start, config, passwd, log, cert,
    status, clients, sessions, subscriptions, topics, groups, retained, bans, publish, events, cluster
  ])
)

const cli = Command.run(command, { name: "robustmq", version: VERSION })

const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, "")

/**
 * @effect/cli prints its own parse errors (unknown flag, missing value) through Console.error as
 * paragraphs; squeeze them to one line so every failure on stderr is one line.
 */
const oneLineErrors = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.consoleWith((console) =>
    Effect.withConsole(effect, {
      ...console,
      error: (...args: ReadonlyArray<unknown>) =>
        console.error(
          stripAnsi(args.map(String).join(" "))
            .split("\n")
            .map((line) => line.trim())
            .filter((line) => line.length > 0)
            .join(" ")
        )
    })
  )

/**
 * Takes `--log-level LEVEL` / `--log-level=LEVEL` off the command line, wherever it stands
 * (before the subcommand, as @effect/cli's built-in flag of that name is placed, or after it).
 * It is the setting log.level: loadConfig validates it and ranks it above the file and env like
 * every flag. Left to @effect/cli, the built-in would set the level before the file is read, so
 * the file's level would win over the flag.
 */
export const takeLogLevel = (argv: ReadonlyArray<string>): { readonly argv: ReadonlyArray<string>; readonly level: string | undefined } => {
  const rest: Array<string> = []
  let level: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      rest.push(...argv.slice(i))
      break
    }
    if (arg === "--log-level") level = argv[++i] ?? ""
    else if (arg.startsWith("--log-level=")) level = arg.slice("--log-level=".length)
    else rest.push(arg)
  }
  return { argv: rest, level }
}

/**
 * Runs the command line (`argv` as in `process.argv`, executable and script first). A
 * ValidationError has already been printed by @effect/cli; the others carry a one-line `message`.
 */
export const run = (
  argv: ReadonlyArray<string>
): Effect.Effect<void, ConfigError | Error | ValidationError.ValidationError, CliApp.CliApp.Environment> => {
  const taken = takeLogLevel(argv)
  return oneLineErrors(cli(taken.argv)).pipe(Effect.locally(logLevelFlag, taken.level))
}
