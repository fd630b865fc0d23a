/**
 * loadConfig: precedence (defaults < TOML file < env < flags), every env var, and the one-line
 * message of every way a configuration can be wrong. Files are real, in a temp dir.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { stringify } from "smol-toml"
import { defaultConfig } from "../../config/BrokerConfigShape.js"
import { type ConfigField, configFields, ConfigError, encodeConfig, loadConfig, sectionTable } from "../../config/loadConfig.js"

const tmp = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "robustmq-config-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

let fileCount = 0
const tomlFile = (text: string): string => {
  const file = NodePath.join(tmp, `broker-${++fileCount}.toml`)
  Fs.writeFileSync(file, text)
  return file
}

const example = fileURLToPath(new URL("../../config/broker.example.toml", import.meta.url))

const cwd = "/srv/robustmq"

/** The error's message, checking it is a ConfigError and a single line. */
const failure = (options: Parameters<typeof loadConfig>[0]) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(loadConfig({ env: {}, cwd, ...options }))
    expect(error).toBeInstanceOf(ConfigError)
    expect(error._tag).toBe("ConfigError")
    expect(error.message).not.toContain("\n")
    return error.message
  })

describe("loadConfig precedence", () => {
  it.effect("no file, env or flags gives the defaults, data_dir resolved against cwd", () =>
    Effect.gen(function*() {
      const config = yield* loadConfig({ env: {}, cwd })
      expect(config).toEqual({
        ...defaultConfig,
        storage: { ...defaultConfig.storage, dataDir: "/srv/robustmq/data" }
      })
    }))

  it.effect("defaults < TOML file < env < flags, key by key", () =>
    Effect.gen(function*() {
      const file = tomlFile(`
[mqtt]
host = "10.0.0.1"
port = 1001
max_keepalive = 30
[storage]
kind = "memory"
data_dir = "/from/file"
[limits]
max_inflight = 5
`)
      const env = {
        ROBUSTMQ_MQTT_HOST: "10.0.0.2",
        ROBUSTMQ_MQTT_PORT: "1002",
        ROBUSTMQ_DATA_DIR: "/from/env",
        ROBUSTMQ_LIMITS_MAX_INFLIGHT: "6"
      }
      const flags = { mqttPort: "1003", storage: "sqlite" }

      const fileOnly = yield* loadConfig({ configFile: file, env: {}, cwd })
      expect(fileOnly.mqtt).toEqual({ host: "10.0.0.1", port: 1001, maxKeepalive: 30, sysInterval: 10, logQos0: false, queuedMaxPacketBytes: defaultConfig.mqtt.queuedMaxPacketBytes, tlsPort: -1, wsPort: -1, wsPath: "/mqtt", wssPort: -1, wsTrustProxy: false })
      expect(fileOnly.storage).toEqual({ ...defaultConfig.storage, kind: "memory", dataDir: "/from/file" })
      expect(fileOnly.limits).toEqual({ ...defaultConfig.limits, maxInflight: 5 })

      const withEnv = yield* loadConfig({ configFile: file, env, cwd })
      expect(withEnv.mqtt).toEqual({ host: "10.0.0.2", port: 1002, maxKeepalive: 30, sysInterval: 10, logQos0: false, queuedMaxPacketBytes: defaultConfig.mqtt.queuedMaxPacketBytes, tlsPort: -1, wsPort: -1, wsPath: "/mqtt", wssPort: -1, wsTrustProxy: false })
      expect(withEnv.storage).toEqual({ ...defaultConfig.storage, kind: "memory", dataDir: "/from/env" })
      expect(withEnv.limits.maxInflight).toBe(6)

      const withFlags = yield* loadConfig({ configFile: file, env, overrides: flags, cwd })
      expect(withFlags.mqtt).toEqual({ host: "10.0.0.2", port: 1003, maxKeepalive: 30, sysInterval: 10, logQos0: false, queuedMaxPacketBytes: defaultConfig.mqtt.queuedMaxPacketBytes, tlsPort: -1, wsPort: -1, wsPath: "/mqtt", wssPort: -1, wsTrustProxy: false })
      expect(withFlags.storage).toEqual({ ...defaultConfig.storage, kind: "sqlite", dataDir: "/from/env" })

      const allFlags = yield* loadConfig({
        configFile: file,
        env,
        overrides: { mqttHost: "::1", mqttPort: 0, dataDir: "/from/flag", storage: "memory" },
        cwd
      })
      expect(allFlags.mqtt.host).toBe("::1")
      expect(allFlags.mqtt.port).toBe(0)
      expect(allFlags.storage).toEqual({ ...defaultConfig.storage, kind: "memory", dataDir: "/from/flag" })
    }))

  it.effect("every env var sets its key", () =>
    Effect.gen(function*() {
      // The names operators rely on; the table must keep them.
      const documented = [
        "ROBUSTMQ_MQTT_HOST",
        "ROBUSTMQ_MQTT_PORT",
        "ROBUSTMQ_MQTT_MAX_KEEPALIVE",
        "ROBUSTMQ_SYS_INTERVAL",
        "ROBUSTMQ_MQTT_LOG_QOS0",
        "ROBUSTMQ_KAFKA_ENABLED",
        "ROBUSTMQ_KAFKA_HOST",
        "ROBUSTMQ_KAFKA_PORT",
        "ROBUSTMQ_KAFKA_ADVERTISED_HOST",
        "ROBUSTMQ_KAFKA_AUTO_CREATE_TOPICS",
        "ROBUSTMQ_KAFKA_DEFAULT_PARTITIONS",
        "ROBUSTMQ_KAFKA_MQTT_TOPIC",
        "ROBUSTMQ_KAFKA_BINDINGS",
        "ROBUSTMQ_KAFKA_QUEUED_MAX_REQUEST_BYTES",
        "ROBUSTMQ_MQTT_QUEUED_MAX_PACKET_BYTES",
        "ROBUSTMQ_STORAGE",
        "ROBUSTMQ_DATA_DIR",
        "ROBUSTMQ_STORAGE_PARTITIONS",
        "ROBUSTMQ_STORAGE_SEGMENT_BYTES",
        "ROBUSTMQ_STORAGE_SEGMENT_MS",
        "ROBUSTMQ_STORAGE_RETENTION_BYTES",
        "ROBUSTMQ_STORAGE_RETENTION_MS",
        "ROBUSTMQ_STORAGE_FSYNC",
        "ROBUSTMQ_STORAGE_FSYNC_INTERVAL_MS",
        "ROBUSTMQ_LIMITS_MAX_PACKET_SIZE",
        "ROBUSTMQ_LIMITS_MAX_INFLIGHT",
        "ROBUSTMQ_LIMITS_RECEIVE_MAXIMUM",
        "ROBUSTMQ_LIMITS_MAX_QUEUED_MESSAGES",
        "ROBUSTMQ_LIMITS_MAX_TOPIC_LEVELS",
        "ROBUSTMQ_LIMITS_MAX_TOPIC_LENGTH",
        "ROBUSTMQ_LIMITS_MAX_CONNECTIONS",
        "ROBUSTMQ_LIMITS_TOPIC_ALIAS_MAXIMUM",
        "ROBUSTMQ_LIMITS_MAX_SESSION_EXPIRY",
        "ROBUSTMQ_LIMITS_MAX_OUTPUT_BUFFER",
        "ROBUSTMQ_LIMITS_STALL_TIMEOUT",
        "ROBUSTMQ_LIMITS_MAX_SUBSCRIPTIONS",
        "ROBUSTMQ_LIMITS_MAX_PUBLISH_RATE",
        "ROBUSTMQ_LIMITS_LOG_HIGH_WATER",
        "ROBUSTMQ_LIMITS_INCOMPLETE_REQUEST_TIMEOUT_MS",
        "ROBUSTMQ_LIMITS_MAX_CONNECTIONS_PER_IP",
        "ROBUSTMQ_LIMITS_MAX_CONNECT_RATE",
        "ROBUSTMQ_AUTH_ALLOW_ANONYMOUS",
        "ROBUSTMQ_AUTH_PASSWORD_FILE",
        "ROBUSTMQ_AUTH_ACL_FILE",
        "ROBUSTMQ_AUTH_MAX_FAILURES",
        "ROBUSTMQ_AUTH_FAILURE_WINDOW",
        "ROBUSTMQ_AUTH_JWT_SECRET_FILE",
        "ROBUSTMQ_AUTH_JWT_SECRET",
        "ROBUSTMQ_AUTH_JWT_PUBLIC_KEY_FILE",
        "ROBUSTMQ_AUTH_JWT_JWKS_FILE",
        "ROBUSTMQ_AUTH_JWT_USERNAME_CLAIM",
        "ROBUSTMQ_AUTH_JWT_CLOCK_SKEW",
        "ROBUSTMQ_AUTH_JWT_ISSUER",
        "ROBUSTMQ_AUTH_JWT_AUDIENCE",
        "ROBUSTMQ_MQTT_TLS_PORT",
        "ROBUSTMQ_MQTT_WS_PORT",
        "ROBUSTMQ_MQTT_WS_PATH",
        "ROBUSTMQ_MQTT_WSS_PORT",
        "ROBUSTMQ_MQTT_WS_TRUST_PROXY",
        "ROBUSTMQ_KAFKA_TLS_PORT",
        "ROBUSTMQ_TLS_CERT_FILE",
        "ROBUSTMQ_TLS_KEY_FILE",
        "ROBUSTMQ_TLS_CA_FILE",
        "ROBUSTMQ_TLS_VERIFY_CLIENT",
        "ROBUSTMQ_TLS_CN_AS_USERNAME",
        "ROBUSTMQ_TLS_MIN_VERSION",
        "ROBUSTMQ_KAFKA_ACL_DEFAULT",
        "ROBUSTMQ_AUTH_SUPERUSERS",
        "ROBUSTMQ_LOG_LEVEL",
        "ROBUSTMQ_HTTP_HOST",
        "ROBUSTMQ_HTTP_PORT",
        "ROBUSTMQ_HTTP_ADMIN_TOKENS",
        "ROBUSTMQ_HTTP_METRICS_AUTH",
        "ROBUSTMQ_CLUSTER_ETCD_ENDPOINTS",
        "ROBUSTMQ_CLUSTER_NODE_ID",
        "ROBUSTMQ_CLUSTER_ADVERTISE_HOST",
        "ROBUSTMQ_CLUSTER_PORT",
        "ROBUSTMQ_CLUSTER_NAME",
        "ROBUSTMQ_CLUSTER_LEASE_TTL",
        "ROBUSTMQ_CLUSTER_ETCD_COMPACT_INTERVAL",
        "ROBUSTMQ_CLUSTER_WORKERS",
        "ROBUSTMQ_CLUSTER_SECRET",
        "ROBUSTMQ_CLUSTER_TLS_CERT_FILE",
        "ROBUSTMQ_CLUSTER_TLS_KEY_FILE",
        "ROBUSTMQ_CLUSTER_TLS_CA_FILE"
      ]
      expect(configFields.map((f) => f.env).sort()).toEqual([...documented].sort())

      const defaults = encodeConfig(yield* loadConfig({ env: {}, cwd }))
      const special: Record<string, [string, unknown]> = {
        ROBUSTMQ_MQTT_HOST: ["127.0.0.1", "127.0.0.1"],
        ROBUSTMQ_STORAGE: ["memory", "memory"],
        ROBUSTMQ_DATA_DIR: ["/var/lib/robustmq", "/var/lib/robustmq"],
        ROBUSTMQ_STORAGE_SEGMENT_BYTES: [" 4096 ", 4096],
        ROBUSTMQ_STORAGE_FSYNC: ["always", "always"],
        ROBUSTMQ_MQTT_LOG_QOS0: ["true", true],
        ROBUSTMQ_KAFKA_ENABLED: ["false", false],
        ROBUSTMQ_KAFKA_HOST: ["127.0.0.1", "127.0.0.1"],
        ROBUSTMQ_KAFKA_ADVERTISED_HOST: ["broker.example", "broker.example"],
        ROBUSTMQ_KAFKA_AUTO_CREATE_TOPICS: ["0", false],
        ROBUSTMQ_KAFKA_MQTT_TOPIC: ["iot", "iot"],
        ROBUSTMQ_KAFKA_BINDINGS: ["sensors/#=sensors, a/+/c = ac", { "sensors/#": "sensors", "a/+/c": "ac" }],
        ROBUSTMQ_AUTH_ALLOW_ANONYMOUS: ["false", false],
        ROBUSTMQ_AUTH_PASSWORD_FILE: ["/etc/robustmq/passwd", "/etc/robustmq/passwd"],
        ROBUSTMQ_AUTH_ACL_FILE: ["/etc/robustmq/acl", "/etc/robustmq/acl"],
        ROBUSTMQ_LIMITS_MAX_OUTPUT_BUFFER: ["65536", 65536],
        ROBUSTMQ_LIMITS_LOG_HIGH_WATER: ["2097152", 2097152],
        ROBUSTMQ_MQTT_WS_PATH: ["/ws", "/ws"],
        ROBUSTMQ_MQTT_WS_TRUST_PROXY: ["true", true],
        ROBUSTMQ_TLS_CERT_FILE: ["/etc/robustmq/server.crt", "/etc/robustmq/server.crt"],
        ROBUSTMQ_TLS_KEY_FILE: ["/etc/robustmq/server.key", "/etc/robustmq/server.key"],
        ROBUSTMQ_TLS_CA_FILE: ["/etc/robustmq/ca.crt", "/etc/robustmq/ca.crt"],
        ROBUSTMQ_TLS_VERIFY_CLIENT: ["required", "required"],
        ROBUSTMQ_TLS_CN_AS_USERNAME: ["1", true],
        ROBUSTMQ_TLS_MIN_VERSION: ["TLSv1.3", "TLSv1.3"],
        ROBUSTMQ_KAFKA_ACL_DEFAULT: ["deny", "deny"],
        ROBUSTMQ_AUTH_SUPERUSERS: ["admin, ops,", ["admin", "ops"]],
        ROBUSTMQ_LOG_LEVEL: ["debug", "debug"],
        ROBUSTMQ_HTTP_HOST: ["127.0.0.1", "127.0.0.1"],
        ROBUSTMQ_HTTP_ADMIN_TOKENS: ["0123456789abcdef0123, fedcba9876543210fedc", ["0123456789abcdef0123", "fedcba9876543210fedc"]],
        ROBUSTMQ_HTTP_METRICS_AUTH: ["true", true],
        ROBUSTMQ_AUTH_JWT_SECRET_FILE: ["/etc/robustmq/jwt.secret", "/etc/robustmq/jwt.secret"],
        ROBUSTMQ_AUTH_JWT_SECRET: ["s3cret", "s3cret"],
        ROBUSTMQ_AUTH_JWT_PUBLIC_KEY_FILE: ["/etc/robustmq/jwt.pem", "/etc/robustmq/jwt.pem"],
        ROBUSTMQ_AUTH_JWT_JWKS_FILE: ["/etc/robustmq/jwks.json", "/etc/robustmq/jwks.json"],
        ROBUSTMQ_AUTH_JWT_USERNAME_CLAIM: ["username", "username"],
        ROBUSTMQ_AUTH_JWT_ISSUER: ["https://issuer.example", "https://issuer.example"],
        ROBUSTMQ_AUTH_JWT_AUDIENCE: ["mqtt", "mqtt"],
        ROBUSTMQ_CLUSTER_ETCD_ENDPOINTS: ["http://10.0.0.1:2379, http://10.0.0.2:2379", ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]],
        ROBUSTMQ_CLUSTER_NODE_ID: ["node-1", "node-1"],
        ROBUSTMQ_CLUSTER_ADVERTISE_HOST: ["10.0.0.5", "10.0.0.5"],
        ROBUSTMQ_CLUSTER_NAME: ["prod", "prod"],
        ROBUSTMQ_CLUSTER_WORKERS: ["auto", "auto"],
        ROBUSTMQ_CLUSTER_SECRET: ["s3cret-link", "s3cret-link"],
        ROBUSTMQ_CLUSTER_TLS_CERT_FILE: ["/etc/robustmq/node.crt", "/etc/robustmq/node.crt"],
        ROBUSTMQ_CLUSTER_TLS_KEY_FILE: ["/etc/robustmq/node.key", "/etc/robustmq/node.key"],
        ROBUSTMQ_CLUSTER_TLS_CA_FILE: ["/etc/robustmq/cluster-ca.crt", "/etc/robustmq/cluster-ca.crt"]
      }
      // The document without one setting ([auth.jwt] is a table inside [auth]).
      const blank = (doc: Record<string, Record<string, unknown>>, field: ConfigField) => {
        const copy = structuredClone(doc)
        sectionTable(copy, field.section)![field.key] = undefined
        return copy
      }
      for (const field of configFields) {
        const [text, expected] = special[field.env] ?? [" 7 ", 7] // surrounding blanks are tolerated
        expect(sectionTable(defaults, field.section)![field.key]).not.toEqual(expected)
        const config = encodeConfig(yield* loadConfig({ env: { [field.env]: text }, cwd }))
        expect(sectionTable(config, field.section)![field.key], field.env).toEqual(expected)
        // ...and nothing else moved.
        expect(blank(config, field)).toEqual(blank(defaults, field))
      }
    }))

  it.effect("an empty env var counts as unset", () =>
    Effect.gen(function*() {
      const config = yield* loadConfig({ env: { ROBUSTMQ_MQTT_PORT: "", ROBUSTMQ_STORAGE: "" }, cwd })
      expect(config.mqtt.port).toBe(1883)
      expect(config.storage.kind).toBe("sqlite")
    }))

  it.effect("ROBUSTMQ_CONFIG names the file when --config is absent; --config wins", () =>
    Effect.gen(function*() {
      const a = tomlFile("[mqtt]\nport = 2001\n")
      const b = tomlFile("[mqtt]\nport = 2002\n")
      expect((yield* loadConfig({ env: { ROBUSTMQ_CONFIG: a }, cwd })).mqtt.port).toBe(2001)
      expect((yield* loadConfig({ configFile: b, env: { ROBUSTMQ_CONFIG: a }, cwd })).mqtt.port).toBe(2002)
    }))

  it.effect("a relative data_dir is resolved against the working directory, not the file's", () =>
    Effect.gen(function*() {
      const file = tomlFile(`[storage]\ndata_dir = "var/data"\n`)
      expect((yield* loadConfig({ configFile: file, env: {}, cwd })).storage.dataDir).toBe("/srv/robustmq/var/data")
      expect((yield* loadConfig({ env: { ROBUSTMQ_DATA_DIR: "../d" }, cwd })).storage.dataDir).toBe("/srv/d")
      expect((yield* loadConfig({ overrides: { dataDir: "." }, env: {}, cwd })).storage.dataDir).toBe(cwd)
    }))

  it.effect("broker.example.toml sets every key, to its default", () =>
    Effect.gen(function*() {
      const fromExample = yield* loadConfig({ configFile: example, env: {}, cwd })
      expect(fromExample).toEqual(yield* loadConfig({ env: {}, cwd }))
      const text = Fs.readFileSync(example, "utf8")
      for (const field of configFields) {
        if (field.key === "bindings") expect(text).toMatch(/^\[kafka\.bindings\]$/m)
        else expect(text, field.key).toMatch(new RegExp(`^${field.key} = `, "m"))
        expect(text, field.env).toContain(field.section === "limits" ? "ROBUSTMQ_LIMITS_<KEY" : field.env)
      }
    }))

  it.effect("encodeConfig output is a config file that loads back to the same config", () =>
    Effect.gen(function*() {
      const config = yield* loadConfig({ env: { ROBUSTMQ_MQTT_PORT: "9" }, overrides: { storage: "memory" }, cwd })
      const again = yield* loadConfig({ configFile: tomlFile(stringify(encodeConfig(config))), env: {}, cwd })
      expect(again).toEqual(config)
    }))
})

describe("loadConfig errors", () => {
  it.effect("kafka.acl_default and auth.superusers say what they accept", () =>
    Effect.gen(function*() {
      expect(yield* failure({ env: { ROBUSTMQ_KAFKA_ACL_DEFAULT: "maybe" } })).toBe(
        `ROBUSTMQ_KAFKA_ACL_DEFAULT (kafka.acl_default) must be "allow" or "deny", got "maybe"`
      )
      expect(yield* failure({ configFile: tomlFile(`[auth]\nsuperusers = "admin"\n`) })).toMatch(
        /^auth\.superusers must be a list of user names, e\.g\. \["admin"\], got "admin" in /
      )
      const file = tomlFile(`[auth]\nsuperusers = ["admin"]\n[kafka]\nacl_default = "deny"\n`)
      const config = yield* loadConfig({ configFile: file, env: {}, cwd })
      expect([config.auth.superusers, config.kafka.aclDefault]).toEqual([["admin"], "deny"])
    }))

  it.effect("missing file names the path, the errno and the flag", () =>
    Effect.gen(function*() {
      const missing = NodePath.join(tmp, "nope.toml")
      expect(yield* failure({ configFile: missing })).toBe(
        `cannot read config file ${missing} (ENOENT): check the path passed to --config`
      )
      expect(yield* failure({ env: { ROBUSTMQ_CONFIG: missing } })).toBe(
        `cannot read config file ${missing} (ENOENT): check the path passed to ROBUSTMQ_CONFIG`
      )
    }))

  it.effect("a directory instead of a file", () =>
    Effect.gen(function*() {
      expect(yield* failure({ configFile: tmp })).toBe(
        `cannot read config file ${tmp} (EISDIR): --config must name a TOML file, not a directory`
      )
    }))

  it.effect.skipIf(process.getuid?.() === 0)("an unreadable file", () =>
    Effect.gen(function*() {
      const file = tomlFile("[mqtt]\n")
      Fs.chmodSync(file, 0o000)
      expect(yield* failure({ configFile: file })).toBe(
        `cannot read config file ${file} (EACCES): make the file readable by this user`
      )
    }))

  it.effect("invalid TOML gives line, column and reason", () =>
    Effect.gen(function*() {
      const file = tomlFile("[mqtt]\nport = = 3\n")
      expect(yield* failure({ configFile: file })).toBe(
        `invalid TOML in ${file} at line 2, column 8: invalid value: fix the syntax`
      )
      const dup = tomlFile("[mqtt]\nport = 1\n[mqtt]\n")
      expect(yield* failure({ configFile: dup })).toMatch(
        new RegExp(`^invalid TOML in ${dup} at line 3, column \\d+: .*redefine.*: fix the syntax$`)
      )
    }))

  it.effect("unknown keys and sections are rejected, naming the key and the file", () =>
    Effect.gen(function*() {
      const typo = tomlFile("[mqtt]\nport = 1\nprot = 2\n")
      expect(yield* failure({ configFile: typo })).toBe(
        `unknown key "mqtt.prot" in ${typo}: [mqtt] accepts host, port, max_keepalive, sys_interval, log_qos0, queued_max_packet_bytes, ` +
          `tls_port, ws_port, ws_path, wss_port, ws_trust_proxy`
      )
      const camel = tomlFile("[limits]\nmaxInflight = 2\n")
      expect(yield* failure({ configFile: camel })).toBe(
        `unknown key "limits.maxInflight" in ${camel}: [limits] accepts max_packet_size, max_inflight, ` +
          `receive_maximum, max_queued_messages, max_topic_levels, max_topic_length, max_connections, ` +
          `topic_alias_maximum, max_session_expiry, max_output_buffer, stall_timeout, max_subscriptions, ` +
          `max_publish_rate, log_high_water, incomplete_request_timeout_ms, max_connections_per_ip, max_connect_rate`
      )
      const nested = tomlFile("[storage.sqlite]\nx = 1\n")
      expect(yield* failure({ configFile: nested })).toBe(
        `unknown key "storage.sqlite" in ${nested}: [storage] accepts kind, data_dir, partitions, ` +
          `segment_bytes, segment_ms, retention_bytes, retention_ms, fsync, fsync_interval_ms`
      )
      const section = tomlFile("[amqp]\nport = 5672\n")
      expect(yield* failure({ configFile: section })).toBe(
        `unknown section [amqp] in ${section}: the sections are [mqtt], [kafka], [storage], [limits], [auth], [tls], [log], [http] and [cluster]`
      )
      const topLevel = tomlFile("port = 1883\n")
      expect(yield* failure({ configFile: topLevel })).toBe(
        `unknown top-level key "port" in ${topLevel}: put settings under [mqtt], [kafka], [storage], [limits], [auth], [tls], [log], [http] or [cluster]`
      )
    }))

  it.effect("wrong types name the key, the expectation, the value and the file", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        [`[mqtt]\nport = "abc"`, `mqtt.port must be an integer 0-65535, got "abc"`],
        [`[mqtt]\nport = 70000`, `mqtt.port must be an integer 0-65535, got 70000`],
        [`[mqtt]\nport = 1.5`, `mqtt.port must be an integer 0-65535, got 1.5`],
        [`[mqtt]\nhost = 42`, `mqtt.host must be a non-empty string, got 42`],
        [`[mqtt]\nhost = ""`, `mqtt.host must be a non-empty string, got ""`],
        [`[mqtt]\nsys_interval = -1`, `mqtt.sys_interval must be an integer >= 0, got -1`],
        [`[storage]\npartitions = 0`, `storage.partitions must be an integer 1-65536, got 0`],
        [`[limits]\nreceive_maximum = 0`, `limits.receive_maximum must be an integer 1-65535, got 0`],
        [`[limits]\nmax_inflight = [1, 2]`, `limits.max_inflight must be an integer 1-65535, got [1,2]`],
        [`[limits]\nmax_session_expiry = 4294967296`, `limits.max_session_expiry must be an integer 0-4294967295, got 4294967296`],
        [`mqtt = 3`, `mqtt must be a table (a [mqtt] section), got 3`]
      ]
      for (const [text, message] of cases) {
        const file = tomlFile(text + "\n")
        expect(yield* failure({ configFile: file })).toBe(`${message} in ${file}`)
      }
    }))

  it.effect("storage kind must be memory, sqlite or segment, from every source", () =>
    Effect.gen(function*() {
      const file = tomlFile(`[storage]\nkind = "segment-file"\n`)
      expect(yield* failure({ configFile: file })).toBe(
        `storage.kind must be "memory", "sqlite" or "segment", got "segment-file" in ${file}`
      )
      expect(yield* failure({ env: { ROBUSTMQ_STORAGE: "disk" } })).toBe(
        `ROBUSTMQ_STORAGE (storage.kind) must be "memory", "sqlite" or "segment", got "disk"`
      )
      expect(yield* failure({ overrides: { storage: "bogus" } })).toBe(
        `--storage must be "memory", "sqlite" or "segment", got "bogus"`
      )
      expect((yield* loadConfig({ env: { ROBUSTMQ_STORAGE: "segment" }, cwd })).storage.kind).toBe("segment")
    }))

  it.effect("kafka keys: bindings in file order, env forms, one-line errors", () =>
    Effect.gen(function*() {
      const file = tomlFile(`[kafka]\nport = 19092\n[kafka.bindings]\n"sensors/#" = "sensors"\n"factory/+/events" = "events"\n`)
      const config = yield* loadConfig({ configFile: file, env: {}, cwd })
      expect(config.kafka.port).toBe(19092)
      expect(config.kafka.bindings).toEqual([
        { filter: "sensors/#", topic: "sensors" },
        { filter: "factory/+/events", topic: "events" }
      ])
      expect((yield* loadConfig({ env: {}, overrides: { kafkaPort: "0" }, cwd })).kafka.port).toBe(0)
      const badFilter = tomlFile(`[kafka.bindings]\n"a/#/b" = "x"\n`)
      expect(yield* failure({ configFile: badFilter })).toBe(
        `kafka.bindings must be "MQTT filter" = "Kafka topic" pairs: "a/#/b" is not a topic filter, got {"a/#/b":"x"} in ${badFilter}`
      )
      const badTopic = tomlFile(`[kafka.bindings]\n"a/#" = "no spaces"\n`)
      expect(yield* failure({ configFile: badTopic })).toContain(`"a/#" has an invalid one: topic "no spaces" has characters other than`)
      expect(yield* failure({ env: { ROBUSTMQ_KAFKA_MQTT_TOPIC: "__x" } })).toContain(`ROBUSTMQ_KAFKA_MQTT_TOPIC (kafka.mqtt_topic) must be a Kafka topic name`)
      expect(yield* failure({ env: { ROBUSTMQ_KAFKA_ENABLED: "maybe" } })).toBe(
        `ROBUSTMQ_KAFKA_ENABLED (kafka.enabled) must be true or false, got "maybe"`
      )
    }))

  it.effect("segment keys: file, env, and one-line errors", () =>
    Effect.gen(function*() {
      const file = tomlFile(
        `[storage]\nkind = "segment"\nsegment_bytes = 1048576\nsegment_ms = 60000\n` +
          `retention_bytes = 10485760\nretention_ms = -1\nfsync = "always"\nfsync_interval_ms = 50\n`
      )
      const config = yield* loadConfig({ configFile: file, env: { ROBUSTMQ_STORAGE_RETENTION_BYTES: "-1" }, cwd })
      expect(config.storage).toEqual({
        kind: "segment",
        dataDir: "/srv/robustmq/data",
        partitions: 1,
        segmentBytes: 1048576,
        segmentMs: 60000,
        retentionBytes: -1,
        retentionMs: -1,
        fsync: "always",
        fsyncIntervalMs: 50
      })
      const cases: ReadonlyArray<readonly [string, string]> = [
        [`segment_bytes = 100`, `storage.segment_bytes must be an integer 1024-1073741824, got 100`],
        [`segment_bytes = 2147483648`, `storage.segment_bytes must be an integer 1024-1073741824, got 2147483648`],
        [`segment_ms = 0`, `storage.segment_ms must be an integer >= 1, got 0`],
        [`retention_bytes = -2`, `storage.retention_bytes must be an integer >= 0, or -1 for unlimited, got -2`],
        [`retention_ms = "7d"`, `storage.retention_ms must be an integer >= 0, or -1 for unlimited, got "7d"`],
        [`fsync = "sometimes"`, `storage.fsync must be "always", "interval" or "never", got "sometimes"`],
        [`fsync_interval_ms = 0`, `storage.fsync_interval_ms must be an integer >= 1, got 0`]
      ]
      for (const [text, message] of cases) {
        const bad = tomlFile(`[storage]\n${text}\n`)
        expect(yield* failure({ configFile: bad })).toBe(`${message} in ${bad}`)
      }
      expect(yield* failure({ env: { ROBUSTMQ_STORAGE_FSYNC: "no" } })).toBe(
        `ROBUSTMQ_STORAGE_FSYNC (storage.fsync) must be "always", "interval" or "never", got "no"`
      )
      expect(yield* failure({ env: { ROBUSTMQ_STORAGE_SEGMENT_BYTES: "1GiB" } })).toBe(
        `ROBUSTMQ_STORAGE_SEGMENT_BYTES (storage.segment_bytes) must be an integer 1024-1073741824, got "1GiB"`
      )
    }))

  it.effect("bad env and flag values name the variable or the flag", () =>
    Effect.gen(function*() {
      expect(yield* failure({ env: { ROBUSTMQ_MQTT_PORT: "abc" } })).toBe(
        `ROBUSTMQ_MQTT_PORT (mqtt.port) must be an integer 0-65535, got "abc"`
      )
      expect(yield* failure({ env: { ROBUSTMQ_LIMITS_MAX_PACKET_SIZE: "1MB" } })).toBe(
        `ROBUSTMQ_LIMITS_MAX_PACKET_SIZE (limits.max_packet_size) must be an integer 1-268435460, got "1MB"`
      )
      expect(yield* failure({ env: { ROBUSTMQ_SYS_INTERVAL: "-5" } })).toBe(
        `ROBUSTMQ_SYS_INTERVAL (mqtt.sys_interval) must be an integer >= 0, got -5`
      )
      expect(yield* failure({ overrides: { mqttPort: "abc" } })).toBe(`--mqtt-port must be an integer 0-65535, got "abc"`)
      expect(yield* failure({ overrides: { mqttPort: 65536 } })).toBe(`--mqtt-port must be an integer 0-65535, got 65536`)
      expect(yield* failure({ overrides: { mqttHost: "" } })).toBe(`--mqtt-host must be a non-empty string, got ""`)
    }))

  it.effect("TLS and WebSocket keys: flags, relative files, and one-line errors", () =>
    Effect.gen(function*() {
      const fromFlags = yield* loadConfig({
        overrides: { mqttsPort: "8883", wsPort: "0", wssPort: "8084", tlsCert: "certs/server.crt", tlsKey: "certs/server.key", tlsCa: "/etc/ca.crt" },
        env: {},
        cwd
      })
      expect(fromFlags.mqtt).toMatchObject({ tlsPort: 8883, wsPort: 0, wssPort: 8084, wsPath: "/mqtt" })
      expect(fromFlags.tls).toMatchObject({ certFile: "/srv/robustmq/certs/server.crt", keyFile: "/srv/robustmq/certs/server.key", caFile: "/etc/ca.crt" })
      expect(yield* failure({ overrides: { mqttsPort: "-2" } })).toBe(`--mqtts-port must be an integer 0-65535, or -1 for off, got -2`)
      expect(yield* failure({ env: { ROBUSTMQ_TLS_VERIFY_CLIENT: "yes" } })).toBe(
        `ROBUSTMQ_TLS_VERIFY_CLIENT (tls.verify_client) must be "none", "optional" or "required", got "yes"`
      )
      const badPath = tomlFile(`[mqtt]\nws_path = "mqtt"\n`)
      expect(yield* failure({ configFile: badPath })).toBe(
        `mqtt.ws_path must be a URL path starting with "/" (no query), e.g. "/mqtt", got "mqtt" in ${badPath}`
      )
      const badVersion = tomlFile(`[tls]\nmin_version = "TLSv1.1"\n`)
      expect(yield* failure({ configFile: badVersion })).toBe(`tls.min_version must be "TLSv1.2" or "TLSv1.3", got "TLSv1.1" in ${badVersion}`)
    }))

  it.effect("cluster.tls_* files: off by default, relative paths resolved against the working directory", () =>
    Effect.gen(function*() {
      const defaults = (yield* loadConfig({ env: {}, cwd })).cluster
      expect([defaults.tlsCertFile, defaults.tlsKeyFile, defaults.tlsCaFile]).toEqual(["", "", ""])
      const file = tomlFile(`[cluster]\ntls_cert_file = "certs/node-1.crt"\ntls_key_file = "certs/node-1.key"\ntls_ca_file = "/etc/cluster-ca.crt"\n`)
      const config = (yield* loadConfig({ configFile: file, env: { ROBUSTMQ_CLUSTER_TLS_KEY_FILE: "keys/n1.key" }, cwd })).cluster
      expect(config).toMatchObject({ tlsCertFile: "/srv/robustmq/certs/node-1.crt", tlsKeyFile: "/srv/robustmq/keys/n1.key", tlsCaFile: "/etc/cluster-ca.crt" })
    }))

  it.effect("kafka.tls_port: off by default, set by file, env and flag, -1 off", () =>
    Effect.gen(function*() {
      expect((yield* loadConfig({ env: {}, cwd })).kafka.tlsPort).toBe(-1)
      const file = tomlFile(`[kafka]\ntls_port = 9093\n`)
      expect((yield* loadConfig({ configFile: file, env: {}, cwd })).kafka.tlsPort).toBe(9093)
      expect((yield* loadConfig({ configFile: file, env: { ROBUSTMQ_KAFKA_TLS_PORT: "0" }, cwd })).kafka.tlsPort).toBe(0)
      expect((yield* loadConfig({ configFile: file, env: { ROBUSTMQ_KAFKA_TLS_PORT: "0" }, overrides: { kafkaTlsPort: "-1" }, cwd })).kafka.tlsPort).toBe(-1)
      expect(yield* failure({ overrides: { kafkaTlsPort: "70000" } })).toBe(`--kafka-tls-port must be an integer 0-65535, or -1 for off, got 70000`)
      expect(yield* failure({ env: { ROBUSTMQ_KAFKA_TLS_PORT: "x" } })).toBe(`ROBUSTMQ_KAFKA_TLS_PORT (kafka.tls_port) must be an integer 0-65535, or -1 for off, got "x"`)
    }))

  it.effect("log.level: info by default, set by file, env and --log-level, one of four names", () =>
    Effect.gen(function*() {
      expect((yield* loadConfig({ env: {}, cwd })).log.level).toBe("info")
      const file = tomlFile(`[log]\nlevel = "warning"\n`)
      expect((yield* loadConfig({ configFile: file, env: {}, cwd })).log.level).toBe("warning")
      expect((yield* loadConfig({ configFile: file, env: { ROBUSTMQ_LOG_LEVEL: "error" }, cwd })).log.level).toBe("error")
      expect((yield* loadConfig({ configFile: file, env: { ROBUSTMQ_LOG_LEVEL: "error" }, overrides: { logLevel: "debug" }, cwd })).log.level).toBe("debug")
      expect(yield* failure({ overrides: { logLevel: "trace" } })).toBe(`--log-level must be "debug", "info", "warning" or "error", got "trace"`)
      expect(yield* failure({ env: { ROBUSTMQ_LOG_LEVEL: "verbose" } })).toBe(
        `ROBUSTMQ_LOG_LEVEL (log.level) must be "debug", "info", "warning" or "error", got "verbose"`
      )
      const bad = tomlFile(`[log]\nlevel = "INFO"\nformat = "json"\n`)
      expect(yield* failure({ configFile: bad })).toBe(`unknown key "log.format" in ${bad}: [log] accepts level`)
    }))

  it.effect("a file error is reported before env and flag errors", () =>
    Effect.gen(function*() {
      const file = tomlFile(`[mqtt]\nport = "x"\n`)
      expect(
        yield* failure({ configFile: file, env: { ROBUSTMQ_MQTT_PORT: "y" }, overrides: { mqttPort: "z" } })
      ).toBe(`mqtt.port must be an integer 0-65535, got "x" in ${file}`)
    }))
})
