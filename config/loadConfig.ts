/**
 * Resolves the broker's configuration from its four sources, in increasing precedence:
 * built-in defaults < TOML file (`--config` or `ROBUSTMQ_CONFIG`) < `ROBUSTMQ_*` environment
 * variables < CLI flags. Every source goes through the same `effect/Schema` codec, so a bad value
 * is reported the same way wherever it came from, naming the key, env var or flag and what to do.
 *
 * Owns: reading and parsing the file, validation, the table that ties TOML keys to env vars and
 * flags (`configFields`), and the snake_case encoding used by `robustmq config`. It never starts
 * anything and never reads the environment unless no `env` is passed.
 *
 * Relative `data_dir`, `password_file`, `acl_file`, `[tls]` and `cluster.tls_*` file values (file, env or flag) are resolved
 * against the process's working directory, not the config file's directory: that is what a path
 * typed on a shell or in a unit file means to an operator, and it keeps `robustmq config` output
 * usable from anywhere.
 */
import { Data, Effect, Either, ParseResult, Schema } from "effect"
import { readFile } from "node:fs/promises"
import * as NodePath from "node:path"
import { parse as parseToml, TomlError } from "smol-toml"
import { invalidTopicName, isInternalTopic } from "../domain/meta/topics.js"
import { validateTopicFilter } from "../domain/topic/TopicFilter.js"
import { type BrokerConfigShape, defaultConfig } from "./BrokerConfigShape.js"

/** One line, for a human: what is wrong, where, and what to do next. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

/** Values from CLI flags; strings are accepted so flag errors read like file and env errors. */
export interface ConfigOverrides {
  readonly mqttHost?: string | undefined
  readonly mqttPort?: number | string | undefined
  readonly kafkaPort?: number | string | undefined
  readonly kafkaTlsPort?: number | string | undefined
  readonly dataDir?: string | undefined
  readonly storage?: string | undefined
  readonly mqttsPort?: number | string | undefined
  readonly wsPort?: number | string | undefined
  readonly wssPort?: number | string | undefined
  readonly tlsCert?: string | undefined
  readonly tlsKey?: string | undefined
  readonly tlsCa?: string | undefined
  readonly logLevel?: string | undefined
  readonly httpPort?: number | string | undefined
  readonly clusterEtcd?: string | undefined
  readonly nodeId?: string | undefined
  readonly advertiseHost?: string | undefined
  readonly clusterPort?: number | string | undefined
  readonly workers?: number | string | undefined
}

export interface LoadConfigOptions {
  /** TOML file; when absent, `env.ROBUSTMQ_CONFIG` is used if set. */
  readonly configFile?: string | undefined
  readonly overrides?: ConfigOverrides | undefined
  /** Defaults to `process.env`. */
  readonly env?: Record<string, string | undefined> | undefined
  /** Base for a relative data_dir; defaults to `process.cwd()`. */
  readonly cwd?: string | undefined
}

// --- the schema: snake_case on the encoded (TOML) side, BrokerConfigShape on the decoded side ----

const mustBe = (text: string) => ({ message: () => ({ message: `must be ${text}`, override: true }) })

const intBetween = (min: number, max: number) =>
  Schema.Number.pipe(Schema.int(), Schema.between(min, max), Schema.annotations(mustBe(`an integer ${min}-${max}`)))

const intAtLeast = (min: number) =>
  Schema.Number.pipe(
    Schema.int(),
    Schema.between(min, Number.MAX_SAFE_INTEGER),
    Schema.annotations(mustBe(`an integer >= ${min}`))
  )

const NonEmpty = Schema.String.pipe(Schema.minLength(1), Schema.annotations(mustBe("a non-empty string")))
const Bool = Schema.Boolean.annotations(mustBe("true or false"))

const KafkaTopicName = Schema.String.pipe(
  Schema.filter((name) => {
    const invalid = invalidTopicName(name)
    if (invalid !== undefined) return invalid
    return isInternalTopic(name) ? `topic names starting with "__" are reserved for the broker` : undefined
  }),
  Schema.annotations(mustBe("a Kafka topic name (ASCII letters, digits, '.', '_', '-'; at most 249)"))
)

/**
 * `[kafka.bindings]`: MQTT filter = Kafka topic, tried in file order. Decoded into a list of
 * bindings (the env var form is "filter=topic,filter=topic").
 */
const Bindings = Schema.transformOrFail(
  Schema.Record({ key: Schema.String, value: Schema.String }),
  Schema.Array(Schema.Struct({ filter: Schema.String, topic: Schema.String })),
  {
    strict: true,
    decode: (table, _, ast) => {
      const out: Array<{ filter: string; topic: string }> = []
      for (const [filter, topic] of Object.entries(table)) {
        const problem = bindingProblem(filter, topic)
        if (problem !== undefined) return ParseResult.fail(new ParseResult.Type(ast, table, problem))
        out.push({ filter, topic })
      }
      return ParseResult.succeed(out)
    },
    encode: (list) => ParseResult.succeed(Object.fromEntries(list.map((b) => [b.filter, b.topic])))
  }
)

const bindingProblem = (filter: string, topic: string): string | undefined => {
  if (validateTopicFilter(filter, 128, 65535) !== 0 || filter.startsWith("$share/")) {
    return `must be "MQTT filter" = "Kafka topic" pairs: "${filter}" is not a topic filter`
  }
  const invalid = invalidTopicName(topic)
  if (invalid !== undefined) return `must be "MQTT filter" = "Kafka topic" pairs: "${filter}" has an invalid one: ${invalid}`
  if (isInternalTopic(topic)) return `must be "MQTT filter" = "Kafka topic" pairs: "${topic}" is reserved (starts with "__")`
  return undefined
}
const StorageKind = Schema.Literal("memory", "sqlite", "segment").annotations(
  mustBe(`"memory", "sqlite" or "segment"`)
)
const FsyncPolicy = Schema.Literal("always", "interval", "never").annotations(
  mustBe(`"always", "interval" or "never"`)
)
/** A size or age limit where -1 means unlimited (Kafka's convention for retention.*). */
const limitOrUnlimited = Schema.Number.pipe(
  Schema.int(),
  Schema.between(-1, Number.MAX_SAFE_INTEGER),
  Schema.annotations(mustBe("an integer >= 0, or -1 for unlimited"))
)
const U16 = intBetween(0, 65535)
/** A listener that is off unless a port is given: -1 = off, 0 = any free port. */
const OptionalPort = intBetween(-1, 65535).annotations(mustBe("an integer 0-65535, or -1 for off"))
const WsPath = Schema.String.pipe(Schema.pattern(/^\/[^\s?#]*$/), Schema.annotations(mustBe(`a URL path starting with "/" (no query), e.g. "/mqtt"`)))
const VerifyClient = Schema.Literal("none", "optional", "required").annotations(mustBe(`"none", "optional" or "required"`))
const AclDefault = Schema.Literal("allow", "deny").annotations(mustBe(`"allow" or "deny"`))
const UserNames = Schema.Array(NonEmpty).annotations(mustBe(`a list of user names, e.g. ["admin"]`))
const LogLevelName = Schema.Literal("debug", "info", "warning", "error").annotations(mustBe(`"debug", "info", "warning" or "error"`))
const TlsVersion = Schema.Literal("TLSv1.2", "TLSv1.3").annotations(mustBe(`"TLSv1.2" or "TLSv1.3"`))

const MqttSection = Schema.Struct({
  host: Schema.optional(NonEmpty),
  port: Schema.optional(U16),
  maxKeepalive: Schema.optional(U16).pipe(Schema.fromKey("max_keepalive")),
  sysInterval: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("sys_interval")),
  logQos0: Schema.optional(Bool).pipe(Schema.fromKey("log_qos0")),
  queuedMaxPacketBytes: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("queued_max_packet_bytes")),
  tlsPort: Schema.optional(OptionalPort).pipe(Schema.fromKey("tls_port")),
  wsPort: Schema.optional(OptionalPort).pipe(Schema.fromKey("ws_port")),
  wsPath: Schema.optional(WsPath).pipe(Schema.fromKey("ws_path")),
  wssPort: Schema.optional(OptionalPort).pipe(Schema.fromKey("wss_port")),
  wsTrustProxy: Schema.optional(Bool).pipe(Schema.fromKey("ws_trust_proxy"))
})

const KafkaSection = Schema.Struct({
  enabled: Schema.optional(Bool),
  host: Schema.optional(NonEmpty),
  port: Schema.optional(U16),
  advertisedHost: Schema.optional(Schema.String).pipe(Schema.fromKey("advertised_host")),
  tlsPort: Schema.optional(OptionalPort).pipe(Schema.fromKey("tls_port")),
  autoCreateTopics: Schema.optional(Bool).pipe(Schema.fromKey("auto_create_topics")),
  defaultPartitions: Schema.optional(intBetween(1, 65536)).pipe(Schema.fromKey("default_partitions")),
  mqttTopic: Schema.optional(KafkaTopicName).pipe(Schema.fromKey("mqtt_topic")),
  bindings: Schema.optional(Bindings),
  queuedMaxRequestBytes: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("queued_max_request_bytes")),
  aclDefault: Schema.optional(AclDefault).pipe(Schema.fromKey("acl_default"))
})

const StorageSection = Schema.Struct({
  kind: Schema.optional(StorageKind),
  dataDir: Schema.optional(NonEmpty).pipe(Schema.fromKey("data_dir")),
  partitions: Schema.optional(intBetween(1, 65536)),
  // Index entries hold 32-bit file positions: a segment stays well below 4 GiB even when one
  // group commit overshoots the limit.
  segmentBytes: Schema.optional(intBetween(1024, 1073741824)).pipe(Schema.fromKey("segment_bytes")),
  segmentMs: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("segment_ms")),
  retentionBytes: Schema.optional(limitOrUnlimited).pipe(Schema.fromKey("retention_bytes")),
  retentionMs: Schema.optional(limitOrUnlimited).pipe(Schema.fromKey("retention_ms")),
  fsync: Schema.optional(FsyncPolicy),
  fsyncIntervalMs: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("fsync_interval_ms"))
})

const LimitsSection = Schema.Struct({
  // MQTT 5 Maximum Packet Size: remaining length (max 268435455) plus at most 5 header bytes.
  maxPacketSize: Schema.optional(intBetween(1, 268435460)).pipe(Schema.fromKey("max_packet_size")),
  maxInflight: Schema.optional(intBetween(1, 65535)).pipe(Schema.fromKey("max_inflight")),
  // MQTT 5 Receive Maximum is a two-byte integer and 0 is a protocol error.
  receiveMaximum: Schema.optional(intBetween(1, 65535)).pipe(Schema.fromKey("receive_maximum")),
  maxQueuedMessages: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("max_queued_messages")),
  maxTopicLevels: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("max_topic_levels")),
  // A topic is a UTF-8 string with a two-byte length prefix.
  maxTopicLength: Schema.optional(intBetween(1, 65535)).pipe(Schema.fromKey("max_topic_length")),
  maxConnections: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("max_connections")),
  topicAliasMaximum: Schema.optional(U16).pipe(Schema.fromKey("topic_alias_maximum")),
  maxSessionExpiry: Schema.optional(intBetween(0, 4294967295)).pipe(Schema.fromKey("max_session_expiry")),
  maxOutputBuffer: Schema.optional(intAtLeast(1024)).pipe(Schema.fromKey("max_output_buffer")),
  stallTimeout: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("stall_timeout")),
  maxSubscriptions: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("max_subscriptions")),
  maxPublishRate: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("max_publish_rate")),
  logHighWater: Schema.optional(intAtLeast(1024 * 1024)).pipe(Schema.fromKey("log_high_water")),
  incompleteRequestTimeoutMs: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("incomplete_request_timeout_ms")),
  maxConnectionsPerIp: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("max_connections_per_ip")),
  maxConnectRate: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("max_connect_rate"))
})

const ClaimName = Schema.String.pipe(Schema.minLength(1), Schema.annotations(mustBe("a claim name, e.g. \"sub\"")))

/** `[auth.jwt]`, a table inside [auth]. */
const JwtSection = Schema.Struct({
  // "" = none. Relative paths are resolved against the working directory, like data_dir.
  secretFile: Schema.optional(Schema.String).pipe(Schema.fromKey("secret_file")),
  secret: Schema.optional(Schema.String),
  publicKeyFile: Schema.optional(Schema.String).pipe(Schema.fromKey("public_key_file")),
  jwksFile: Schema.optional(Schema.String).pipe(Schema.fromKey("jwks_file")),
  usernameClaim: Schema.optional(ClaimName).pipe(Schema.fromKey("username_claim")),
  clockSkew: Schema.optional(intBetween(0, 3600)).pipe(Schema.fromKey("clock_skew")),
  issuer: Schema.optional(Schema.String),
  audience: Schema.optional(Schema.String)
})

const AuthSection = Schema.Struct({
  allowAnonymous: Schema.optional(Bool).pipe(Schema.fromKey("allow_anonymous")),
  // "" = no file. Relative paths are resolved against the working directory, like data_dir.
  passwordFile: Schema.optional(Schema.String).pipe(Schema.fromKey("password_file")),
  aclFile: Schema.optional(Schema.String).pipe(Schema.fromKey("acl_file")),
  maxFailures: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("max_failures")),
  failureWindow: Schema.optional(intAtLeast(1)).pipe(Schema.fromKey("failure_window")),
  superusers: Schema.optional(UserNames),
  jwt: Schema.optional(JwtSection)
})

const TlsSection = Schema.Struct({
  // "" = none. Relative paths are resolved against the working directory, like data_dir.
  certFile: Schema.optional(Schema.String).pipe(Schema.fromKey("cert_file")),
  keyFile: Schema.optional(Schema.String).pipe(Schema.fromKey("key_file")),
  caFile: Schema.optional(Schema.String).pipe(Schema.fromKey("ca_file")),
  verifyClient: Schema.optional(VerifyClient).pipe(Schema.fromKey("verify_client")),
  cnAsUsername: Schema.optional(Bool).pipe(Schema.fromKey("cn_as_username")),
  minVersion: Schema.optional(TlsVersion).pipe(Schema.fromKey("min_version"))
})

const LogSection = Schema.Struct({
  level: Schema.optional(LogLevelName)
})

const AdminTokens = Schema.Array(Schema.String.pipe(Schema.minLength(16))).annotations(
  mustBe(`a list of tokens of at least 16 characters, e.g. ["$(openssl rand -hex 24)"]`)
)

const HttpSection = Schema.Struct({
  host: Schema.optional(NonEmpty),
  port: Schema.optional(OptionalPort),
  adminTokens: Schema.optional(AdminTokens).pipe(Schema.fromKey("admin_tokens")),
  metricsAuth: Schema.optional(Bool).pipe(Schema.fromKey("metrics_auth"))
})

const EtcdEndpoint = Schema.String.pipe(
  Schema.pattern(/^https?:\/\/[^\s/]+(:\d+)?\/?$/),
  Schema.annotations(mustBe(`a list of etcd client URLs, e.g. ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]`))
)

const NodeId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9._-]{0,64}$/),
  Schema.annotations(mustBe("1-64 letters, digits, '.', '_' or '-' (unique in the cluster, e.g. node-1)"))
)

const ClusterSection = Schema.Struct({
  etcdEndpoints: Schema.optional(Schema.Array(EtcdEndpoint)).pipe(Schema.fromKey("etcd_endpoints")),
  nodeId: Schema.optional(NodeId).pipe(Schema.fromKey("node_id")),
  advertiseHost: Schema.optional(Schema.String).pipe(Schema.fromKey("advertise_host")),
  port: Schema.optional(U16),
  name: Schema.optional(NodeId.pipe(Schema.minLength(1))),
  leaseTtl: Schema.optional(intBetween(1, 300)).pipe(Schema.fromKey("lease_ttl")),
  etcdCompactInterval: Schema.optional(intAtLeast(0)).pipe(Schema.fromKey("etcd_compact_interval")),
  secret: Schema.optional(Schema.String),
  // "" = none; relative paths are resolved against the working directory, like [tls].
  tlsCertFile: Schema.optional(Schema.String).pipe(Schema.fromKey("tls_cert_file")),
  tlsKeyFile: Schema.optional(Schema.String).pipe(Schema.fromKey("tls_key_file")),
  tlsCaFile: Schema.optional(Schema.String).pipe(Schema.fromKey("tls_ca_file")),
  workers: Schema.optional(Schema.Union(intBetween(1, 256), Schema.Literal("auto")).pipe(Schema.annotations(mustBe(`an integer 1-256 or "auto" (one worker per core)`))))
})

/** A config document (a TOML file, or one source's values), every key optional. */
export const ConfigDocument = Schema.Struct({
  mqtt: Schema.optional(MqttSection),
  kafka: Schema.optional(KafkaSection),
  storage: Schema.optional(StorageSection),
  limits: Schema.optional(LimitsSection),
  auth: Schema.optional(AuthSection),
  tls: Schema.optional(TlsSection),
  log: Schema.optional(LogSection),
  http: Schema.optional(HttpSection),
  cluster: Schema.optional(ClusterSection)
})
type ConfigDocument = typeof ConfigDocument.Type

// --- which TOML key is which env var and flag ---------------------------------------------------

/** A TOML table; "auth.jwt" is the `jwt` table inside [auth]. */
export type ConfigSection = "mqtt" | "kafka" | "storage" | "limits" | "auth" | "auth.jwt" | "tls" | "log" | "http" | "cluster"

export interface ConfigField {
  readonly section: ConfigSection
  /** snake_case key in the TOML section. */
  readonly key: string
  readonly env: string
  readonly flag?: string
  readonly override?: keyof ConfigOverrides
  /** Env values that look like integers become numbers before validation. */
  readonly numeric: boolean
  /** How an env value of a non-text, non-numeric setting is read (booleans, bindings). */
  readonly fromEnv?: (text: string) => unknown
}

const envBoolean = (text: string): unknown => {
  const t = text.trim().toLowerCase()
  return t === "true" || t === "1" ? true : t === "false" || t === "0" ? false : text
}

/** "admin, ops" -> ["admin", "ops"]. */
const envList = (text: string): unknown => text.split(",").map((s) => s.trim()).filter((s) => s !== "")

/** "sensors/#=sensors,factory/+/events=events" -> the TOML table form. */
const envBindings = (text: string): unknown => {
  const table: Record<string, string> = {}
  for (const part of text.split(",")) {
    if (part.trim() === "") continue
    const eq = part.lastIndexOf("=")
    if (eq < 0) return text
    table[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  return table
}

const limitKeys = [
  "max_packet_size",
  "max_inflight",
  "receive_maximum",
  "max_queued_messages",
  "max_topic_levels",
  "max_topic_length",
  "max_connections",
  "topic_alias_maximum",
  "max_session_expiry",
  "max_output_buffer",
  "stall_timeout",
  "max_subscriptions",
  "max_publish_rate",
  "log_high_water",
  "incomplete_request_timeout_ms",
  "max_connections_per_ip",
  "max_connect_rate"
] as const

/** The segment store's keys in [storage] (env ROBUSTMQ_STORAGE_<KEY>). */
const segmentKeys = [
  "segment_bytes",
  "segment_ms",
  "retention_bytes",
  "retention_ms",
  "fsync",
  "fsync_interval_ms"
] as const

/** Every setting once: TOML section/key, env var, and CLI flag where there is one. */
export const configFields: ReadonlyArray<ConfigField> = [
  { section: "mqtt", key: "host", env: "ROBUSTMQ_MQTT_HOST", flag: "--mqtt-host", override: "mqttHost", numeric: false },
  { section: "mqtt", key: "port", env: "ROBUSTMQ_MQTT_PORT", flag: "--mqtt-port", override: "mqttPort", numeric: true },
  { section: "mqtt", key: "max_keepalive", env: "ROBUSTMQ_MQTT_MAX_KEEPALIVE", numeric: true },
  { section: "mqtt", key: "sys_interval", env: "ROBUSTMQ_SYS_INTERVAL", numeric: true },
  { section: "mqtt", key: "log_qos0", env: "ROBUSTMQ_MQTT_LOG_QOS0", numeric: false, fromEnv: envBoolean },
  { section: "mqtt", key: "queued_max_packet_bytes", env: "ROBUSTMQ_MQTT_QUEUED_MAX_PACKET_BYTES", numeric: true },
  { section: "mqtt", key: "tls_port", env: "ROBUSTMQ_MQTT_TLS_PORT", flag: "--mqtts-port", override: "mqttsPort", numeric: true },
  { section: "mqtt", key: "ws_port", env: "ROBUSTMQ_MQTT_WS_PORT", flag: "--ws-port", override: "wsPort", numeric: true },
  { section: "mqtt", key: "ws_path", env: "ROBUSTMQ_MQTT_WS_PATH", numeric: false },
  { section: "mqtt", key: "wss_port", env: "ROBUSTMQ_MQTT_WSS_PORT", flag: "--wss-port", override: "wssPort", numeric: true },
  { section: "mqtt", key: "ws_trust_proxy", env: "ROBUSTMQ_MQTT_WS_TRUST_PROXY", numeric: false, fromEnv: envBoolean },
  { section: "kafka", key: "enabled", env: "ROBUSTMQ_KAFKA_ENABLED", numeric: false, fromEnv: envBoolean },
  { section: "kafka", key: "host", env: "ROBUSTMQ_KAFKA_HOST", numeric: false },
  { section: "kafka", key: "port", env: "ROBUSTMQ_KAFKA_PORT", flag: "--kafka-port", override: "kafkaPort", numeric: true },
  { section: "kafka", key: "tls_port", env: "ROBUSTMQ_KAFKA_TLS_PORT", flag: "--kafka-tls-port", override: "kafkaTlsPort", numeric: true },
  { section: "kafka", key: "advertised_host", env: "ROBUSTMQ_KAFKA_ADVERTISED_HOST", numeric: false },
  { section: "kafka", key: "auto_create_topics", env: "ROBUSTMQ_KAFKA_AUTO_CREATE_TOPICS", numeric: false, fromEnv: envBoolean },
  { section: "kafka", key: "default_partitions", env: "ROBUSTMQ_KAFKA_DEFAULT_PARTITIONS", numeric: true },
  { section: "kafka", key: "mqtt_topic", env: "ROBUSTMQ_KAFKA_MQTT_TOPIC", numeric: false },
  { section: "kafka", key: "bindings", env: "ROBUSTMQ_KAFKA_BINDINGS", numeric: false, fromEnv: envBindings },
  { section: "kafka", key: "queued_max_request_bytes", env: "ROBUSTMQ_KAFKA_QUEUED_MAX_REQUEST_BYTES", numeric: true },
  { section: "kafka", key: "acl_default", env: "ROBUSTMQ_KAFKA_ACL_DEFAULT", numeric: false },
  { section: "storage", key: "kind", env: "ROBUSTMQ_STORAGE", flag: "--storage", override: "storage", numeric: false },
  { section: "storage", key: "data_dir", env: "ROBUSTMQ_DATA_DIR", flag: "--data-dir", override: "dataDir", numeric: false },
  { section: "storage", key: "partitions", env: "ROBUSTMQ_STORAGE_PARTITIONS", numeric: true },
  ...segmentKeys.map((key): ConfigField => ({
    section: "storage",
    key,
    env: `ROBUSTMQ_STORAGE_${key.toUpperCase()}`,
    numeric: key !== "fsync"
  })),
  ...limitKeys.map((key): ConfigField => ({
    section: "limits",
    key,
    env: `ROBUSTMQ_LIMITS_${key.toUpperCase()}`,
    numeric: true
  })),
  { section: "auth", key: "allow_anonymous", env: "ROBUSTMQ_AUTH_ALLOW_ANONYMOUS", numeric: false, fromEnv: envBoolean },
  { section: "auth", key: "password_file", env: "ROBUSTMQ_AUTH_PASSWORD_FILE", numeric: false },
  { section: "auth", key: "acl_file", env: "ROBUSTMQ_AUTH_ACL_FILE", numeric: false },
  { section: "auth", key: "max_failures", env: "ROBUSTMQ_AUTH_MAX_FAILURES", numeric: true },
  { section: "auth", key: "failure_window", env: "ROBUSTMQ_AUTH_FAILURE_WINDOW", numeric: true },
  { section: "auth", key: "superusers", env: "ROBUSTMQ_AUTH_SUPERUSERS", numeric: false, fromEnv: envList },
  { section: "auth.jwt", key: "secret_file", env: "ROBUSTMQ_AUTH_JWT_SECRET_FILE", numeric: false },
  { section: "auth.jwt", key: "secret", env: "ROBUSTMQ_AUTH_JWT_SECRET", numeric: false },
  { section: "auth.jwt", key: "public_key_file", env: "ROBUSTMQ_AUTH_JWT_PUBLIC_KEY_FILE", numeric: false },
  { section: "auth.jwt", key: "jwks_file", env: "ROBUSTMQ_AUTH_JWT_JWKS_FILE", numeric: false },
  { section: "auth.jwt", key: "username_claim", env: "ROBUSTMQ_AUTH_JWT_USERNAME_CLAIM", numeric: false },
  { section: "auth.jwt", key: "clock_skew", env: "ROBUSTMQ_AUTH_JWT_CLOCK_SKEW", numeric: true },
  { section: "auth.jwt", key: "issuer", env: "ROBUSTMQ_AUTH_JWT_ISSUER", numeric: false },
  { section: "auth.jwt", key: "audience", env: "ROBUSTMQ_AUTH_JWT_AUDIENCE", numeric: false },
  { section: "tls", key: "cert_file", env: "ROBUSTMQ_TLS_CERT_FILE", flag: "--tls-cert", override: "tlsCert", numeric: false },
  { section: "tls", key: "key_file", env: "ROBUSTMQ_TLS_KEY_FILE", flag: "--tls-key", override: "tlsKey", numeric: false },
  { section: "tls", key: "ca_file", env: "ROBUSTMQ_TLS_CA_FILE", flag: "--tls-ca", override: "tlsCa", numeric: false },
  { section: "tls", key: "verify_client", env: "ROBUSTMQ_TLS_VERIFY_CLIENT", numeric: false },
  { section: "tls", key: "cn_as_username", env: "ROBUSTMQ_TLS_CN_AS_USERNAME", numeric: false, fromEnv: envBoolean },
  { section: "tls", key: "min_version", env: "ROBUSTMQ_TLS_MIN_VERSION", numeric: false },
  { section: "log", key: "level", env: "ROBUSTMQ_LOG_LEVEL", flag: "--log-level", override: "logLevel", numeric: false },
  { section: "http", key: "host", env: "ROBUSTMQ_HTTP_HOST", numeric: false },
  { section: "http", key: "port", env: "ROBUSTMQ_HTTP_PORT", flag: "--http-port", override: "httpPort", numeric: true },
  { section: "http", key: "admin_tokens", env: "ROBUSTMQ_HTTP_ADMIN_TOKENS", numeric: false, fromEnv: envList },
  { section: "http", key: "metrics_auth", env: "ROBUSTMQ_HTTP_METRICS_AUTH", numeric: false, fromEnv: envBoolean },
  { section: "cluster", key: "etcd_endpoints", env: "ROBUSTMQ_CLUSTER_ETCD_ENDPOINTS", flag: "--cluster-etcd", override: "clusterEtcd", numeric: false, fromEnv: envList },
  { section: "cluster", key: "node_id", env: "ROBUSTMQ_CLUSTER_NODE_ID", flag: "--node-id", override: "nodeId", numeric: false },
  { section: "cluster", key: "advertise_host", env: "ROBUSTMQ_CLUSTER_ADVERTISE_HOST", flag: "--advertise-host", override: "advertiseHost", numeric: false },
  { section: "cluster", key: "port", env: "ROBUSTMQ_CLUSTER_PORT", flag: "--cluster-port", override: "clusterPort", numeric: true },
  { section: "cluster", key: "name", env: "ROBUSTMQ_CLUSTER_NAME", numeric: false },
  { section: "cluster", key: "lease_ttl", env: "ROBUSTMQ_CLUSTER_LEASE_TTL", numeric: true },
  { section: "cluster", key: "etcd_compact_interval", env: "ROBUSTMQ_CLUSTER_ETCD_COMPACT_INTERVAL", numeric: true },
  { section: "cluster", key: "workers", env: "ROBUSTMQ_CLUSTER_WORKERS", flag: "--workers", override: "workers", numeric: true },
  { section: "cluster", key: "secret", env: "ROBUSTMQ_CLUSTER_SECRET", numeric: false },
  { section: "cluster", key: "tls_cert_file", env: "ROBUSTMQ_CLUSTER_TLS_CERT_FILE", numeric: false },
  { section: "cluster", key: "tls_key_file", env: "ROBUSTMQ_CLUSTER_TLS_KEY_FILE", numeric: false },
  { section: "cluster", key: "tls_ca_file", env: "ROBUSTMQ_CLUSTER_TLS_CA_FILE", numeric: false }
]

const sections: ReadonlyArray<ConfigSection> = ["mqtt", "kafka", "storage", "limits", "auth", "auth.jwt", "tls", "log", "http", "cluster"]

/** The table of `section` inside a document ("auth.jwt" is doc.auth.jwt); undefined when absent. */
export const sectionTable = (doc: unknown, section: ConfigSection): Record<string, unknown> | undefined => {
  let table: unknown = doc
  for (const name of section.split(".")) table = isTable(table) ? table[name] : undefined
  return isTable(table) ? table : undefined
}

const fieldAt = (section: unknown, key: unknown): ConfigField | undefined =>
  configFields.find((f) => f.section === section && f.key === key)

// --- decoding one source -------------------------------------------------------------------------

type Raw = Record<string, Record<string, unknown>>

/** How a source names a setting in messages, and where the source is. */
interface Source {
  readonly name: (field: ConfigField) => string
  /** Appended to value errors, e.g. " in ./broker.toml". */
  readonly where: string
  readonly file?: string
}

const decodeDocument = Schema.decodeUnknownEither(ConfigDocument, { errors: "first", onExcessProperty: "error" })

const show = (value: unknown): string => {
  let text: string
  try {
    text = value instanceof Date ? JSON.stringify(value.toISOString()) : JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

const isTable = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !(u instanceof Date)

const keysOf = (section: ConfigSection) =>
  configFields.filter((f) => f.section === section).map((f) => f.key).join(", ")

const describeIssue = (issue: ParseResult.ArrayFormatterIssue, raw: unknown, source: Source): string => {
  // A nested table ([auth.jwt]) is named as one section.
  const nested = issue.path[0] === "auth" && issue.path[1] === "jwt" && (issue.path.length >= 3 || issue._tag !== "Unexpected")
  const [section, key] = nested ? [`${String(issue.path[0])}.${String(issue.path[1])}`, issue.path[2]] : issue.path
  const file = source.file ?? "the config"
  if (issue._tag === "Unexpected") {
    if (key === undefined) {
      const value = isTable(raw) ? raw[String(section)] : undefined
      return isTable(value)
        ? `unknown section [${String(section)}] in ${file}: the sections are [mqtt], [kafka], [storage], [limits], [auth], [tls], [log], [http] and [cluster]`
        : `unknown top-level key "${String(section)}" in ${file}: put settings under [mqtt], [kafka], [storage], [limits], [auth], [tls], [log], [http] or [cluster]`
    }
    const known = sections.includes(section as ConfigSection) ? keysOf(section as ConfigSection) : ""
    return `unknown key "${String(section)}.${String(key)}" in ${file}: [${String(section)}] accepts ${known}`
  }
  const sectionValue = sectionTable(raw, String(section) as ConfigSection)
  if (key === undefined) {
    const value = nested ? sectionTable(raw, "auth")?.jwt : isTable(raw) ? raw[String(section)] : undefined
    return `${String(section)} must be a table (a [${String(section)}] section), got ${show(value)}${source.where}`
  }
  const value = isTable(sectionValue) ? sectionValue[String(key)] : undefined
  const field = fieldAt(section, key)
  const name = field === undefined ? `${String(section)}.${String(key)}` : source.name(field)
  const message = issue.message.startsWith("must be") ? issue.message : `is invalid (${issue.message})`
  return `${name} ${message}, got ${show(value)}${source.where}`
}

const decodeSource = (raw: unknown, source: Source): Either.Either<ConfigDocument, ConfigError> =>
  Either.mapLeft(decodeDocument(raw), (error) => {
    const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
    const message = first === undefined ? `invalid configuration${source.where}` : describeIssue(first, raw, source)
    return new ConfigError({ message })
  })

const put = (raw: Raw, field: ConfigField, value: unknown): void => {
  let table: Record<string, unknown> = raw
  for (const name of field.section.split(".")) table = (table[name] ??= {}) as Record<string, unknown>
  table[field.key] = value
}

const fromEnv = (env: Record<string, string | undefined>): Raw => {
  const raw: Raw = {}
  for (const field of configFields) {
    const text = env[field.env]
    // An empty variable counts as unset, as `FOO=` in compose files and unit files usually means.
    if (text === undefined || text === "") continue
    const trimmed = text.trim()
    if (field.fromEnv !== undefined) put(raw, field, field.fromEnv(text))
    else put(raw, field, field.numeric && /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : text)
  }
  return raw
}

const fromOverrides = (overrides: ConfigOverrides): Raw => {
  const raw: Raw = {}
  for (const field of configFields) {
    if (field.override === undefined) continue
    const value = overrides[field.override]
    if (value === undefined) continue
    // A flag is text, like an env var: a list flag (--cluster-etcd a,b) is split the same way.
    const text = typeof value === "string" && field.fromEnv !== undefined ? field.fromEnv(value) : value
    put(raw, field, field.numeric && typeof text === "string" && /^[+-]?\d+$/.test(text.trim()) ? Number(text) : text)
  }
  return raw
}

// --- the file ------------------------------------------------------------------------------------

const readHint = (code: string | undefined, flagOrEnv: string): string => {
  switch (code) {
    case "ENOENT":
      return `check the path passed to ${flagOrEnv}`
    case "EACCES":
    case "EPERM":
      return "make the file readable by this user"
    case "EISDIR":
      return `${flagOrEnv} must name a TOML file, not a directory`
    default:
      return `check the path passed to ${flagOrEnv}`
  }
}

const readConfigFile = (file: string, flagOrEnv: string): Effect.Effect<string, ConfigError> =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException | undefined)?.code
      return new ConfigError({
        message: `cannot read config file ${file}${code === undefined ? "" : ` (${code})`}: ${readHint(code, flagOrEnv)}`
      })
    }
  })

const parseConfigFile = (file: string, text: string): Either.Either<unknown, ConfigError> => {
  try {
    return Either.right(parseToml(text))
  } catch (cause) {
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code block>": keep the reason only.
    const reason = (cause instanceof Error ? cause.message : String(cause))
      .split("\n")[0]!
      .replace(/^Invalid TOML document:\s*/, "")
    const at = cause instanceof TomlError ? ` at line ${cause.line}, column ${cause.column}` : ""
    return Either.left(new ConfigError({ message: `invalid TOML in ${file}${at}: ${reason}: fix the syntax` }))
  }
}

// --- merging -------------------------------------------------------------------------------------

const mergeSection = <T extends object>(base: T, layers: ReadonlyArray<Partial<T> | undefined>): T => {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const layer of layers) {
    if (layer === undefined) continue
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) out[k] = v
  }
  return out as T
}

/** "" stays "" (no file); a relative path is resolved against the working directory. */
const resolveFile = (cwd: string, path: string): string => (path === "" ? "" : NodePath.resolve(cwd, path))

const merge = (docs: ReadonlyArray<ConfigDocument>, cwd: string): BrokerConfigShape => {
  const storage = mergeSection(defaultConfig.storage, docs.map((d) => d.storage))
  // [auth.jwt] merges key by key too, so an env var sets one key without dropping the file's others.
  const auth = mergeSection(defaultConfig.auth, docs.map((d) => (d.auth === undefined ? undefined : { ...d.auth, jwt: undefined })))
  const jwt = mergeSection(defaultConfig.auth.jwt, docs.map((d) => d.auth?.jwt))
  const tls = mergeSection(defaultConfig.tls, docs.map((d) => d.tls))
  const cluster = mergeSection(defaultConfig.cluster, docs.map((d) => d.cluster))
  return {
    mqtt: mergeSection(defaultConfig.mqtt, docs.map((d) => d.mqtt)),
    kafka: mergeSection(defaultConfig.kafka, docs.map((d) => d.kafka)),
    storage: { ...storage, dataDir: NodePath.resolve(cwd, storage.dataDir) },
    limits: mergeSection(defaultConfig.limits, docs.map((d) => d.limits)),
    auth: {
      ...auth,
      passwordFile: resolveFile(cwd, auth.passwordFile),
      aclFile: resolveFile(cwd, auth.aclFile),
      jwt: { ...jwt, secretFile: resolveFile(cwd, jwt.secretFile), publicKeyFile: resolveFile(cwd, jwt.publicKeyFile), jwksFile: resolveFile(cwd, jwt.jwksFile) }
    },
    tls: { ...tls, certFile: resolveFile(cwd, tls.certFile), keyFile: resolveFile(cwd, tls.keyFile), caFile: resolveFile(cwd, tls.caFile) },
    log: mergeSection(defaultConfig.log, docs.map((d) => d.log)),
    http: mergeSection(defaultConfig.http, docs.map((d) => d.http)),
    cluster: { ...cluster, tlsCertFile: resolveFile(cwd, cluster.tlsCertFile), tlsKeyFile: resolveFile(cwd, cluster.tlsKeyFile), tlsCaFile: resolveFile(cwd, cluster.tlsCaFile) }
  }
}

/**
 * defaults < TOML file < environment < CLI overrides. Fails with the first problem found, as one
 * line that names the setting, its source and the fix.
 */
export const loadConfig = (options: LoadConfigOptions = {}): Effect.Effect<BrokerConfigShape, ConfigError> =>
  Effect.gen(function*() {
    const env = options.env ?? process.env
    const envFile = env.ROBUSTMQ_CONFIG === "" ? undefined : env.ROBUSTMQ_CONFIG
    const configFile = options.configFile ?? envFile
    const docs: Array<ConfigDocument> = []

    if (configFile !== undefined) {
      const flagOrEnv = options.configFile !== undefined ? "--config" : "ROBUSTMQ_CONFIG"
      const text = yield* readConfigFile(configFile, flagOrEnv)
      const raw = yield* parseConfigFile(configFile, text)
      docs.push(
        yield* decodeSource(raw, {
          name: (f) => `${f.section}.${f.key}`,
          where: ` in ${configFile}`,
          file: configFile
        })
      )
    }
    const envRaw = fromEnv(env)
    docs.push(yield* decodeSource(envRaw, { name: (f) => `${f.env} (${f.section}.${f.key})`, where: "" }))
    const flagRaw = fromOverrides(options.overrides ?? {})
    docs.push(yield* decodeSource(flagRaw, { name: (f) => f.flag ?? `${f.section}.${f.key}`, where: "" }))

    return merge(docs, options.cwd ?? process.cwd())
  })

/** The resolved config as a snake_case document: what `robustmq config` prints, and a valid TOML file. */
export const encodeConfig = (config: BrokerConfigShape): Record<string, Record<string, unknown>> =>
  Schema.encodeSync(ConfigDocument)(config) as Record<string, Record<string, unknown>>
