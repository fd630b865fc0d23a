/**
 * The broker's resolved configuration. `BrokerConfig.ts` builds it from defaults, a TOML file
 * (`--config`), environment variables (`ROBUSTMQ_*`) and CLI flags, in increasing precedence.
 */
export type StorageKind = "memory" | "sqlite" | "segment"

/** When the segment store fsyncs its files (layers/storage-segment). */
export type FsyncPolicy = "always" | "interval" | "never"

export interface MqttConfig {
  readonly host: string
  /** 0 picks a free port (tests). */
  readonly port: number
  /** Largest keepalive accepted; larger requests are lowered (v5: Server Keep Alive). 0 = no cap. */
  readonly maxKeepalive: number
  /** Seconds between `$SYS/broker/...` publications; 0 disables them. */
  readonly sysInterval: number
  /**
   * Append QoS 0 publishes to the log even when their topic is not bound to a Kafka topic of
   * its own, so Kafka readers of the default topic see them too (costs storage writes).
   */
  readonly logQos0: boolean
  /**
   * Bytes of packets still being received, across all connections: a packet split across reads
   * reserves its size once its fixed header is read; one that does not fit closes its
   * connection (v5 DISCONNECT 0x97 Quota Exceeded) instead of being buffered.
   */
  readonly queuedMaxPacketBytes: number
  /** MQTT over TLS (8883 by convention); -1 = off, 0 picks a free port. Needs [tls] cert and key. */
  readonly tlsPort: number
  /** MQTT over WebSocket (8083 by convention); -1 = off, 0 picks a free port. */
  readonly wsPort: number
  /** The HTTP path WebSocket clients connect to, on both WebSocket listeners. */
  readonly wsPath: string
  /** MQTT over WebSocket with TLS (8084 by convention); -1 = off, 0 picks a free port. */
  readonly wssPort: number
  /** Take a WebSocket client's address from X-Forwarded-For (only behind a proxy that sets it). */
  readonly wsTrustProxy: boolean
}

/** Whether a TLS listener asks for a client certificate, and whether it must be valid. */
export type VerifyClient = "none" | "optional" | "required"

/** The server certificate and client verification of every TLS listener (src/tls/TlsContext.ts). */
export interface TlsConfig {
  /** PEM server certificate (chain), absolute; "" = none. */
  readonly certFile: string
  /** PEM private key of certFile, absolute; "" = none. */
  readonly keyFile: string
  /** PEM CA certificates that client certificates are checked against, absolute; "" = none. */
  readonly caFile: string
  readonly verifyClient: VerifyClient
  /** A verified client certificate's CN is the MQTT user name; no password is asked for. */
  readonly cnAsUsername: boolean
  readonly minVersion: "TLSv1.2" | "TLSv1.3"
}

/** The HTTP listener: health, Prometheus metrics, the admin API and console (src/http). */
export interface HttpConfig {
  readonly host: string
  /** -1 = off, 0 = any free port. */
  readonly port: number
  /** Bearer tokens for the admin API. With none and no auth.superusers, the listener binds loopback only. */
  readonly adminTokens: ReadonlyArray<string>
  /** /metrics and /health/* need the same credentials as the admin API. */
  readonly metricsAuth: boolean
}

/** MQTT topic filter -> Kafka topic, in the order they are tried. */
export interface KafkaBinding {
  readonly filter: string
  readonly topic: string
}

export interface KafkaConfig {
  readonly enabled: boolean
  readonly host: string
  /** 0 picks a free port (tests). */
  readonly port: number
  /** Host name given to clients in Metadata; empty = the address the client connected to. */
  readonly advertisedHost: string
  /** Kafka over TLS, SSL or SASL_SSL (9093 by convention); -1 = off, 0 picks a free port. Needs [tls] cert and key. */
  readonly tlsPort: number
  /** Create a topic when a client produces to or asks metadata for an unknown one. */
  readonly autoCreateTopics: boolean
  /** Partitions of an auto-created topic, and of CreateTopics asking for the default (-1). */
  readonly defaultPartitions: number
  /** The topic MQTT publishes go to unless a binding says otherwise. */
  readonly mqttTopic: string
  readonly bindings: ReadonlyArray<KafkaBinding>
  /**
   * Request bytes the listener may hold across all connections (Kafka's queued.max.request.bytes):
   * a request is charged its declared size once its length prefix is read; beyond this, sockets
   * stop being read until requests complete.
   */
  readonly queuedMaxRequestBytes: number
  /**
   * What a Kafka client may do with a resource no Kafka ACL names (Kafka's
   * allow.everyone.if.no.acl.found): "allow" (the default) or "deny".
   */
  readonly aclDefault: "allow" | "deny"
}

export interface StorageConfig {
  readonly kind: StorageKind
  readonly dataDir: string
  /** Partitions of the default `mqtt` log stream. */
  readonly partitions: number
  /** Segment store: roll the active segment once it holds this many bytes. */
  readonly segmentBytes: number
  /** Segment store: roll the active segment once its first batch is this old (ms). */
  readonly segmentMs: number
  /**
   * Default retention of every topic on every storage kind (topics override it with
   * `retention.bytes` / `retention.ms`): per partition, delete the oldest data while the
   * partition is larger / older than this. -1 = unlimited.
   */
  readonly retentionBytes: number
  readonly retentionMs: number
  /** Segment store: when appended batches are fsynced. */
  readonly fsync: FsyncPolicy
  /** Period of the background fsync when `fsync` is "interval" (ms). */
  readonly fsyncIntervalMs: number
}

export interface LimitsConfig {
  readonly maxPacketSize: number
  /** Outbound QoS 1/2 messages in flight per client (also capped by a v5 client's Receive Maximum). */
  readonly maxInflight: number
  /** Inbound QoS 1/2 publishes unacknowledged per client (v5 Receive Maximum sent to clients). */
  readonly receiveMaximum: number
  /** Messages queued per session beyond the inflight window; the newest are dropped and counted. */
  readonly maxQueuedMessages: number
  readonly maxTopicLevels: number
  readonly maxTopicLength: number
  readonly maxConnections: number
  /** v5 Topic Alias Maximum offered to clients. */
  readonly topicAliasMaximum: number
  /** Upper bound for a session expiry interval in seconds. */
  readonly maxSessionExpiry: number
  /** A subscriber's unsent output (bytes) beyond which QoS 0 is dropped and the stall clock runs. */
  readonly maxOutputBuffer: number
  /** Seconds a subscriber may make no progress (output unsent, QoS 1/2 window unacknowledged) before it is disconnected; 0 = never. */
  readonly stallTimeout: number
  /** Subscriptions per client; further filters get SUBACK 0x97 (v3: 0x80). 0 = no limit. */
  readonly maxSubscriptions: number
  /** PUBLISH packets per second per client; beyond it the client's reads pause until the next second. 0 = no limit. */
  readonly maxPublishRate: number
  /** Log bytes appended and not yet written above which publishers' reads pause (resumed below half). */
  readonly logHighWater: number
  /** An MQTT packet or Kafka request whose first bytes arrived must be whole within this (ms). */
  readonly incompleteRequestTimeoutMs: number
  /** Connections from one address, MQTT and Kafka together; MQTT gets CONNACK 0x97 (v3: 3), Kafka is closed at accept. 0 = no limit. */
  readonly maxConnectionsPerIp: number
  /** New connections per second (MQTT CONNECTs, Kafka accepts); MQTT gets CONNACK 0x9F (v3: 3), Kafka is closed at accept. 0 = no limit. */
  readonly maxConnectRate: number
}

/** MQTT authentication and authorization (src/auth): Mosquitto-format files. */
export interface AuthConfig {
  /** Accept clients that send no user name (and everyone while there are no users). */
  readonly allowAnonymous: boolean
  /** Mosquitto password file (`user:hash` lines), absolute; "" = none. */
  readonly passwordFile: string
  /** Mosquitto ACL file, absolute; "" = none (every topic allowed). */
  readonly aclFile: string
  /** Failed logins from one address within `failureWindow` after which it is refused for as long; 0 = never. */
  readonly maxFailures: number
  /** Seconds. */
  readonly failureWindow: number
  /** User names that bypass every MQTT ACL rule and every Kafka ACL check. */
  readonly superusers: ReadonlyArray<string>
  /** `[auth.jwt]`: CONNECT passwords that are JWTs (src/auth/jwt). */
  readonly jwt: JwtConfig
}

/** The minimum level of the broker's log lines; debug adds connections, logins and their outcomes. */
export type LogLevelName = "debug" | "info" | "warning" | "error"

export interface LogConfig {
  readonly level: LogLevelName
}

/**
 * `[auth.jwt]`: off while no key source is set. At most one of the key sources: an HMAC secret
 * (`secretFile` or `secret`), a PEM public key, or a JWKS file; the accepted algorithms follow
 * from it, never from a token's header.
 */
export interface JwtConfig {
  /** File holding the HS256/384/512 secret (trailing newlines dropped), absolute; "" = none. */
  readonly secretFile: string
  /** The HMAC secret itself (prefer `secretFile`: this one shows in the config and environment). */
  readonly secret: string
  /** PEM public key (RSA or EC), absolute; "" = none. */
  readonly publicKeyFile: string
  /** JWKS JSON file (`{"keys": [...]}`, picked by `kid`), absolute; "" = none. */
  readonly jwksFile: string
  /** The claim that names the user. */
  readonly usernameClaim: string
  /** Seconds of leeway for `exp` and `nbf`. */
  readonly clockSkew: number
  /** Required `iss`; "" = not checked. */
  readonly issuer: string
  /** Required `aud` (one of the token's); "" = not checked. */
  readonly audience: string
}

/**
 * `[cluster]`: off while `etcdEndpoints` is empty (a single node, as before issue 11). With it,
 * the node joins the cluster named `name` in etcd under `nodeId` (src/cluster/).
 */
export interface ClusterConfig {
  /** etcd client URLs (http://host:2379); empty = no cluster. */
  readonly etcdEndpoints: ReadonlyArray<string>
  /** Unique in the cluster, stable across restarts (its sessions and partitions are keyed by it); "" = the host name. */
  readonly nodeId: string
  /** Host name or address the other nodes and clients reach this node at. */
  readonly advertiseHost: string
  /** The node-to-node link's TCP port; 0 picks a free port. */
  readonly port: number
  /** Key prefix in etcd: clusters sharing one etcd keep apart by name. */
  readonly name: string
  /** Seconds without a lease renewal after which the others count this node dead. */
  readonly leaseTtl: number
  /**
   * Seconds between compactions of etcd's history, done by the member with the lowest id and
   * keeping one period of history (0: never; leave it to etcd's --auto-compaction-retention).
   */
  readonly etcdCompactInterval: number
  /**
   * Worker processes on this machine behind the same MQTT port, each a cluster node (1: this
   * process serves; "auto": one per core). See src/cluster/workers/.
   */
  readonly workers: number | "auto"
  /** Shared by every node: a node link whose HELLO does not prove it is refused ("" = any node may link). */
  readonly secret: string
  /**
   * The node link over mutual TLS, absolute PEM paths, all three or none ("" = plain TCP): this
   * node's certificate (naming its advertise_host) and key, and the CA every node's certificate
   * must be signed by. See src/cluster/linkTls.ts.
   */
  readonly tlsCertFile: string
  readonly tlsKeyFile: string
  readonly tlsCaFile: string
}

export const clusterEnabled = (cluster: ClusterConfig): boolean => cluster.etcdEndpoints.length > 0

export const jwtConfigured = (jwt: JwtConfig): boolean =>
  jwt.secretFile !== "" || jwt.secret !== "" || jwt.publicKeyFile !== "" || jwt.jwksFile !== ""

export interface BrokerConfigShape {
  readonly mqtt: MqttConfig
  readonly kafka: KafkaConfig
  readonly storage: StorageConfig
  readonly limits: LimitsConfig
  readonly auth: AuthConfig
  readonly tls: TlsConfig
  readonly log: LogConfig
  readonly http: HttpConfig
  readonly cluster: ClusterConfig
}

export const defaultConfig: BrokerConfigShape = {
  mqtt: { host: "0.0.0.0", port: 1883, maxKeepalive: 65535, sysInterval: 10, logQos0: false,
    queuedMaxPacketBytes: 100 * 1024 * 1024,
    tlsPort: -1,
    wsPort: -1,
    wsPath: "/mqtt",
    wssPort: -1,
    wsTrustProxy: false
  },
  kafka: {
    enabled: true,
    host: "0.0.0.0",
    port: 9092,
    advertisedHost: "",
    tlsPort: -1,
    autoCreateTopics: true,
    defaultPartitions: 1,
    mqttTopic: "mqtt",
    bindings: [],
    queuedMaxRequestBytes: 100 * 1024 * 1024,
    aclDefault: "allow"
  },
  storage: {
    kind: "sqlite",
    dataDir: "./data",
    partitions: 1,
    segmentBytes: 128 * 1024 * 1024,
    segmentMs: 7 * 24 * 3600 * 1000,
    retentionBytes: -1,
    retentionMs: 7 * 24 * 3600 * 1000,
    fsync: "interval",
    fsyncIntervalMs: 1000
  },
  limits: {
    maxPacketSize: 1024 * 1024,
    maxInflight: 64,
    receiveMaximum: 1024,
    maxQueuedMessages: 10000,
    maxTopicLevels: 128,
    maxTopicLength: 65535,
    maxConnections: 100000,
    topicAliasMaximum: 64,
    maxSessionExpiry: 0xffffffff,
    maxOutputBuffer: 4 * 1024 * 1024,
    stallTimeout: 60,
    maxSubscriptions: 0,
    maxPublishRate: 0,
    logHighWater: 64 * 1024 * 1024,
    incompleteRequestTimeoutMs: 30_000,
    maxConnectionsPerIp: 0,
    maxConnectRate: 0
  },
  auth: {
    allowAnonymous: true,
    passwordFile: "",
    aclFile: "",
    maxFailures: 0,
    failureWindow: 60,
    superusers: [],
    jwt: { secretFile: "", secret: "", publicKeyFile: "", jwksFile: "", usernameClaim: "sub", clockSkew: 5, issuer: "", audience: "" }
  },
  tls: { certFile: "", keyFile: "", caFile: "", verifyClient: "none", cnAsUsername: false, minVersion: "TLSv1.2" },
  log: { level: "info" },
  http: { host: "0.0.0.0", port: 8080, adminTokens: [], metricsAuth: false },
  cluster: { etcdEndpoints: [], nodeId: "", advertiseHost: "", port: 7946, name: "robustmq", leaseTtl: 5, etcdCompactInterval: 300, workers: 1, secret: "",
    tlsCertFile: "", tlsKeyFile: "", tlsCaFile: "" }
}
