/**
 * Starts the real broker in this process on 127.0.0.1 with a free port, on memory or on SQLite
 * files in a temp dir, and stops it through its layer scope (a graceful shutdown, like
 * SIGTERM). `restart` stops and starts it again on the same data dir: a real restart.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import * as BrokerConfig from "../../config/BrokerConfig.js"
import { Coordination } from "../../services/Coordination.js"
import { type AuthConfig, type ClusterConfig, type BrokerConfigShape, defaultConfig, type HttpConfig, type KafkaConfig, type LimitsConfig, type MqttConfig, type StorageConfig, type TlsConfig } from "../../config/BrokerConfigShape.js"
import * as LogRetention from "../../layers/LogRetention.js"
import * as App from "../../src/App.js"
import { Bans } from "../../src/bans/Bans.js"
import { ClusterRouting } from "../../src/cluster/announce.js"
import { ClusterNode } from "../../src/cluster/ClusterNode.js"
import { HttpListener } from "../../src/http/HttpListener.js"
import { KafkaServer } from "../../src/kafka/KafkaServer.js"
import { MqttListeners } from "../../src/mqtt/MqttListeners.js"
import { MqttServer } from "../../src/mqtt/MqttServer.js"

export interface TestBrokerOptions {
  readonly storage?: "memory" | "sqlite" | "segment"
  /** Reuse a data dir (restart); a fresh temp dir otherwise. */
  readonly dataDir?: string
  readonly mqtt?: Partial<MqttConfig>
  readonly limits?: Partial<LimitsConfig>
  readonly kafka?: Partial<KafkaConfig>
  /** [storage] settings other than kind and data dir (retention, segment sizes, ...). */
  readonly storageConfig?: Partial<Omit<StorageConfig, "kind" | "dataDir">>
  /** [auth] settings (files as absolute paths). */
  readonly auth?: Partial<AuthConfig>
  /** [tls] settings (files as absolute paths); listeners are turned on with mqtt.tls_port etc. */
  readonly tls?: Partial<TlsConfig>
  /** [http]: off unless a port is given (0 = any free port). */
  readonly http?: Partial<HttpConfig>
  readonly port?: number
  readonly kafkaPort?: number
  /** [cluster] settings; with `coordination`, the node joins that (in-process) cluster without etcd. */
  readonly cluster?: Partial<ClusterConfig>
  /** A Coordination shared by brokers in this process (layers/coordination/memory.ts). */
  readonly coordination?: Coordination["Type"]
}

export interface TestBroker {
  readonly port: number
  readonly url: string
  readonly dataDir: string
  readonly server: MqttServer["Type"]
  /** The bound Kafka port (-1 when kafka.enabled is false). */
  readonly kafkaPort: number
  readonly kafka: KafkaServer["Type"] | null
  /** The bound Kafka-over-TLS port (-1 when kafka.tls_port is off or Kafka is disabled). */
  readonly kafkaTlsPort: number
  /** The bound TLS and WebSocket ports (-1 for those that are off). */
  readonly listeners: MqttListeners["Type"]
  readonly config: BrokerConfigShape
  /** The bound HTTP port (-1 when http.port is off, the default in tests). */
  readonly httpPort: number
  /** Operator bans (until the admin API covers them, tests add and remove bans here). */
  readonly bans: Bans["Type"]
  /** This node's place in the cluster (a single node unless options.cluster/coordination say otherwise). */
  readonly node: ClusterNode["Type"]
  /** The other nodes' routes and the node link (nulls on a single node). */
  readonly routing: ClusterRouting["Type"]
  /** One pass of the memory/SQLite retention fiber now (it runs every 30 s by itself). */
  runRetention(): Promise<void>
  /** Graceful stop (like SIGTERM). */
  stop(): Promise<void>
  /** Stops and starts again on the same data dir and port; returns the new broker. */
  restart(): Promise<TestBroker>
  /** Removes the temp data dir (after stop). */
  cleanup(): void
}

export const startBroker = async (options: TestBrokerOptions = {}): Promise<TestBroker> => {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "robustmq-test-"))
  const config: BrokerConfigShape = {
    mqtt: { ...defaultConfig.mqtt, host: "127.0.0.1", port: options.port ?? 0, sysInterval: 0, ...options.mqtt },
    kafka: { ...defaultConfig.kafka, host: "127.0.0.1", port: options.kafkaPort ?? 0, ...options.kafka },
    storage: { ...defaultConfig.storage, ...options.storageConfig, kind: options.storage ?? "memory", dataDir },
    limits: { ...defaultConfig.limits, ...options.limits },
    auth: { ...defaultConfig.auth, ...options.auth },
    tls: { ...defaultConfig.tls, ...options.tls },
    log: defaultConfig.log,
    http: { ...defaultConfig.http, host: "127.0.0.1", port: -1, ...options.http },
    cluster: { ...defaultConfig.cluster, advertiseHost: "127.0.0.1", port: 0, ...options.cluster }
  }
  const scope = await Effect.runPromise(Scope.make())
  const built = await Effect.runPromise(
    Layer.buildWithScope(
      App.broker.pipe(
        Layer.provide(BrokerConfig.layer(config)),
        Layer.provide(options.coordination === undefined ? Layer.empty : Layer.succeed(Coordination, options.coordination)),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
      ),
      scope
    )
  )
  const server = built.unsafeMap.get(MqttServer.key) as MqttServer["Type"]
  const kafka = built.unsafeMap.get(KafkaServer.key) as KafkaServer["Type"] | undefined
  const listeners = built.unsafeMap.get(MqttListeners.key) as MqttListeners["Type"]
  const http = built.unsafeMap.get(HttpListener.key) as HttpListener["Type"]
  let stopped = false
  const broker: TestBroker = {
    port: server.port,
    url: `mqtt://127.0.0.1:${server.port}`,
    kafkaPort: kafka?.port ?? -1,
    kafka: kafka ?? null,
    kafkaTlsPort: kafka?.tlsPort ?? -1,
    listeners,
    httpPort: http.port,
    bans: built.unsafeMap.get(Bans.key) as Bans["Type"],
    node: built.unsafeMap.get(ClusterNode.key) as ClusterNode["Type"],
    routing: built.unsafeMap.get(ClusterRouting.key) as ClusterRouting["Type"],
    runRetention: () => Effect.runPromise(Effect.asVoid(Effect.provide(LogRetention.enforce(Date.now()), built))),
    dataDir,
    server,
    config,
    stop: async () => {
      if (stopped) return
      stopped = true
      await Effect.runPromise(Scope.close(scope, Exit.void))
    },
    restart: async () => {
      await broker.stop()
      return startBroker({ ...options, dataDir, port: server.port, kafkaPort: kafka?.port ?? 0, http: { ...options.http, port: http.port } })
    },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true })
  }
  return broker
}
