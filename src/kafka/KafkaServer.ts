/**
 * The Kafka wire-protocol listener as a scoped service: accepts connections, decodes each
 * request frame (src/kafka/protocol), runs its handler and hands the encoded response back to
 * the connection, which writes responses in request order. An ApiVersions request of a version
 * we do not speak gets UNSUPPORTED_VERSION with our version list (what librdkafka needs to
 * retry); any other unknown API or version, or a malformed request, closes that connection only.
 *
 * With `[auth] allow_anonymous = false` the listener is SASL_PLAINTEXT: until a connection has
 * authenticated (handlers/sasl.ts) only ApiVersions, SaslHandshake and SaslAuthenticate are
 * answered, and any other request closes it, as a Kafka SASL listener does.
 *
 * With `kafka.tls_port` set, a second listener speaks the same protocol inside TLS (SSL, or
 * SASL_SSL by the same rule) over the shared TlsContext; its connections are served, limited and
 * closed exactly like the plain ones, and each is told the port it came in on. Both listeners
 * admit connections through the MQTT listeners' Admission (per address, per second, failed
 * logins): a refused one is closed at accept, as Kafka has no refusal frame before SASL. So is
 * a banned address's (src/bans); a banned user's SASL login closes its connection, and a new ban
 * closes the connections it covers.
 */
import * as net from "node:net"
import { TLSSocket } from "node:tls"
import { Cause, Context, Duration, Effect, Exit, Fiber, FiberId, Layer, Runtime } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { ErrorCode } from "../../domain/kafka/ErrorCode.js"
import { Auth } from "../auth/Auth.js"
import { Bans, describeBan } from "../bans/Bans.js"
import { TopicPolicies } from "../../layers/TopicPolicies.js"
import type { TopicPartition } from "../../domain/ids.js"
import { EventStore } from "../../services/EventStore.js"
import { MessageLog } from "../../services/MessageLog.js"
import { Topics } from "../meta/Topics.js"
import { ClusterNode } from "../cluster/ClusterNode.js"
import { KafkaCluster } from "../cluster/kafka/KafkaCluster.js"
import { routedLog } from "../cluster/workers/routedLog.js"
import { StoreAdoption } from "../cluster/workers/StoreAdoption.js"
import { openStore, takesOverStores } from "../cluster/workers/storeOwnership.js"
import { MqttEngine } from "../mqtt/engine/MqttEngine.js"
import { MqttServer } from "../mqtt/MqttServer.js"
import { GroupCoordinator } from "./groups/GroupCoordinator.js"
import {
  handleAlterConfigs,
  handleCreatePartitions,
  handleCreateTopics,
  handleDeleteTopics,
  handleDescribeConfigs,
  handleIncrementalAlterConfigs
} from "./handlers/admin.js"
import { handleCreateAcls, handleDeleteAcls, handleDescribeAcls } from "./handlers/acls.js"
import { handleApiVersions, handleFindCoordinator, handleInitProducerId, handleMetadata } from "./handlers/cluster.js"
import { handleDeleteRecords } from "./handlers/deleteRecords.js"
import { handleFetch } from "./handlers/fetch.js"
import {
  handleDeleteGroups,
  handleDescribeGroups,
  handleHeartbeat,
  handleJoinGroup,
  handleLeaveGroup,
  handleListGroups,
  handleOffsetCommit,
  handleOffsetDelete,
  handleOffsetFetch,
  handleSyncGroup
} from "./handlers/groups.js"
import { handleListOffsets } from "./handlers/listOffsets.js"
import { handleProduce } from "./handlers/produce.js"
import { allowedBeforeAuthentication, authenticateRawToken, handleSaslAuthenticate, handleSaslHandshake } from "./handlers/sasl.js"
import type { Refusal } from "../net/Admission.js"
import { makeDebugLog } from "../net/debugLog.js"
import { listen, openListener } from "../net/listen.js"
import { SharedTls } from "../tls/TlsContext.js"
import { createTlsServer } from "../tls/tlsServer.js"
import { KafkaConnection } from "./KafkaConnection.js"
import type { ConnectionAcl } from "./acl/ConnectionAcl.js"
import { KafkaAcls, type KafkaAclsService } from "./acl/KafkaAcls.js"
import { verifiedCommonName } from "../tls/clientCertificate.js"
import { RequestBudget } from "../net/RequestBudget.js"
import { describeThrown, inputFaults } from "../net/inputFaults.js"
import { IdempotentProducers } from "./IdempotentProducers.js"
import { KafkaContext } from "./KafkaContext.js"
import * as LogStartOffsets from "./LogStartOffsets.js"
import { SaslState } from "./sasl/SaslState.js"
import {
  type AlterConfigsRequest,
  ApiKey,
  type CreatePartitionsRequest,
  type CreateTopicsRequest,
  type DecodedRequest,
  decodeRequest,
  type DeleteGroupsRequest,
  type DeleteRecordsRequest,
  type DeleteTopicsRequest,
  type DescribeConfigsRequest,
  type DescribeGroupsRequest,
  encodeApiVersionsUnsupported,
  encodeResponse,
  type FetchRequest,
  type IncrementalAlterConfigsRequest,
  type InitProducerIdRequest,
  type ListOffsetsRequest,
  type MetadataRequest,
  type OffsetCommitRequest,
  type OffsetDeleteRequest,
  type OffsetFetchRequest,
  type ProduceRequest
} from "./protocol/index.js"
import { gateAlterConfigs, gateCreatePartitions, gateCreateTopics, gateDeleteTopics, gateDescribeConfigs } from "./acl/gates/adminGates.js"
import { gateDeleteRecords, gateFetch, gateInitProducerId, gateListOffsets, gateMetadata, gateProduce } from "./acl/gates/dataGates.js"
import {
  gateDeleteGroups,
  gateDescribeGroups,
  gateFindCoordinator,
  gateHeartbeat,
  gateJoinGroup,
  gateLeaveGroup,
  gateListGroups,
  gateOffsetCommit,
  gateOffsetDelete,
  gateOffsetFetch,
  gateSyncGroup
} from "./acl/gates/groupGates.js"

export class KafkaServer extends Context.Tag("broker/KafkaServer")<KafkaServer, {
  readonly port: number
  /** The bound Kafka-over-TLS port; -1 when kafka.tls_port is off. */
  readonly tlsPort: number
  readonly host: string
  readonly context: KafkaContext
  /** Kafka connections open now, both listeners (metrics). */
  readonly openConnections: () => number
}>() {}

/** The handler of one decoded request: its response body, or null for none (acks=0). */
const handle = (
  ctx: KafkaContext,
  auth: Auth["Type"],
  acls: KafkaAclsService,
  acl: ConnectionAcl | null,
  conn: KafkaConnection,
  req: DecodedRequest
): Effect.Effect<unknown, unknown> => {
  // acl null: nothing to check (no Kafka ACL stored and acl_default = allow, or a superuser).
  switch (req.apiKey) {
    case ApiKey.Produce: {
      const run = (body: ProduceRequest) => handleProduce(ctx, body, req.apiVersion)
      return acl === null ? run(req.body) : gateProduce(acl, req.body, run)
    }
    case ApiKey.Fetch: {
      const run = (body: FetchRequest) => handleFetch(ctx, body)
      return acl === null ? run(req.body) : gateFetch(acl, req.body, run)
    }
    case ApiKey.ListOffsets: {
      const run = (body: ListOffsetsRequest) => handleListOffsets(ctx, body)
      return acl === null ? run(req.body) : gateListOffsets(acl, req.body, run)
    }
    case ApiKey.Metadata: {
      const run = (body: MetadataRequest) => handleMetadata(ctx, conn, body, req.apiVersion)
      return acl === null ? run(req.body) : gateMetadata(ctx, acl, req.body, req.apiVersion, run)
    }
    case ApiKey.OffsetCommit: {
      const run = (body: OffsetCommitRequest) => handleOffsetCommit(ctx, body)
      return acl === null ? run(req.body) : gateOffsetCommit(acl, req.body, run)
    }
    case ApiKey.OffsetFetch: {
      const run = (body: OffsetFetchRequest) => handleOffsetFetch(ctx, body)
      return acl === null ? run(req.body) : gateOffsetFetch(acl, req.body, run)
    }
    case ApiKey.FindCoordinator: {
      const run = () => handleFindCoordinator(ctx, conn, req.body)
      return Effect.succeed(acl === null ? run() : gateFindCoordinator(acl, req.body, run))
    }
    case ApiKey.JoinGroup: {
      const run = () => handleJoinGroup(ctx, conn, req.header, req.body)
      return acl === null ? run() : gateJoinGroup(acl, req.body, run)
    }
    case ApiKey.Heartbeat: {
      const run = () => handleHeartbeat(ctx, req.body)
      return acl === null ? run() : gateHeartbeat(acl, req.body.groupId, run)
    }
    case ApiKey.LeaveGroup: {
      const run = () => handleLeaveGroup(ctx, req.body, req.apiVersion)
      return acl === null ? run() : gateLeaveGroup(acl, req.body.groupId, run)
    }
    case ApiKey.SyncGroup: {
      const run = () => handleSyncGroup(ctx, req.body)
      return acl === null ? run() : gateSyncGroup(acl, req.body.groupId, run)
    }
    case ApiKey.DescribeGroups: {
      const run = (body: DescribeGroupsRequest) => handleDescribeGroups(ctx, body, req.apiVersion)
      return acl === null ? run(req.body) : gateDescribeGroups(acl, req.body, run)
    }
    case ApiKey.ListGroups: {
      const run = () => handleListGroups(ctx)
      return acl === null ? run() : gateListGroups(acl, run)
    }
    case ApiKey.SaslHandshake:
      return Effect.succeed(handleSaslHandshake(auth, conn, req.body, req.apiVersion))
    case ApiKey.ApiVersions:
      return Effect.succeed(handleApiVersions())
    case ApiKey.CreateTopics: {
      const run = (body: CreateTopicsRequest) => handleCreateTopics(ctx, body)
      return acl === null ? run(req.body) : gateCreateTopics(acl, req.body, run)
    }
    case ApiKey.DeleteTopics: {
      const run = (body: DeleteTopicsRequest) => handleDeleteTopics(ctx, body)
      return acl === null ? run(req.body) : gateDeleteTopics(acl, req.body, run)
    }
    case ApiKey.DeleteRecords: {
      const run = (body: DeleteRecordsRequest) => handleDeleteRecords(ctx, body)
      return acl === null ? run(req.body) : gateDeleteRecords(acl, req.body, run)
    }
    case ApiKey.InitProducerId: {
      const run = (body: InitProducerIdRequest) => handleInitProducerId(ctx, body)
      return Effect.succeed(acl === null ? run(req.body) : gateInitProducerId(ctx, acl, req.body, run))
    }
    case ApiKey.DescribeAcls:
      return Effect.succeed(handleDescribeAcls(acls, acl, req.body))
    case ApiKey.CreateAcls:
      return handleCreateAcls(acls, acl, req.body)
    case ApiKey.DeleteAcls:
      return handleDeleteAcls(acls, acl, req.body)
    case ApiKey.DescribeConfigs: {
      const run = (body: DescribeConfigsRequest) => handleDescribeConfigs(ctx, body)
      return Effect.succeed(acl === null ? run(req.body) : gateDescribeConfigs(acl, req.body, run))
    }
    case ApiKey.AlterConfigs: {
      const run = (body: AlterConfigsRequest) => handleAlterConfigs(ctx, body)
      return acl === null ? run(req.body) : gateAlterConfigs(acl, req.body, run)
    }
    case ApiKey.DeleteGroups: {
      const run = (body: DeleteGroupsRequest) => handleDeleteGroups(ctx, body)
      return acl === null ? run(req.body) : gateDeleteGroups(acl, req.body, run)
    }
    case ApiKey.IncrementalAlterConfigs: {
      const run = (body: IncrementalAlterConfigsRequest) => handleIncrementalAlterConfigs(ctx, body)
      return acl === null ? run(req.body) : gateAlterConfigs(acl, req.body, run)
    }
    case ApiKey.SaslAuthenticate:
      return handleSaslAuthenticate(auth, conn, req.body, loginFailed(ctx, conn))
    case ApiKey.CreatePartitions: {
      const run = (body: CreatePartitionsRequest) => handleCreatePartitions(ctx, body)
      return acl === null ? run(req.body) : gateCreatePartitions(acl, req.body, run)
    }
    case ApiKey.OffsetDelete: {
      const run = (body: OffsetDeleteRequest) => handleOffsetDelete(ctx, body)
      return acl === null ? run(req.body) : gateOffsetDelete(acl, req.body, run)
    }
  }
}

/** A failed SASL login: past auth.max_failures its address is refused for a while (one log line). */
const loginFailed = (ctx: KafkaContext, conn: KafkaConnection): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!ctx.admission.failed(conn.remoteHost, Date.now())) return Effect.void
    const { maxFailures, failureWindow } = ctx.config.auth
    return Effect.logWarning(`kafka: ${maxFailures} failed logins from ${conn.remoteHost} within ${failureWindow} s: its connections (Kafka and MQTT) are refused for ${failureWindow} s (auth.max_failures, auth.failure_window)`)
  })

const IDLE_TIMEOUT_MS = 10 * 60 * 1000

/** Why admission closed a connection at accept, for the debug line. */
const REFUSALS: Record<Refusal, string> = {
  "per-ip": "too many connections from this address (limits.max_connections_per_ip)",
  rate: "too many new connections this second (limits.max_connect_rate)",
  banned: "too many failed logins (auth.max_failures)"
}

const peer = (socket: net.Socket): string => `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`

const errorNames = new Map(Object.entries(ErrorCode).map(([name, code]) => [code as number, name]))

/** The outcome of a SaslAuthenticate, for the debug line (the user is known once accepted). */
const saslLine = (conn: KafkaConnection, response: { readonly errorCode: number }): string =>
  response.errorCode === 0
    ? `kafka: SASL login from ${peer(conn.socket)} accepted as user ${JSON.stringify(conn.user)}`
    : `kafka: SASL login from ${peer(conn.socket)} refused: ${errorNames.get(response.errorCode) ?? `error code ${response.errorCode}`}`

type KafkaSocket = net.Socket & { kafka?: KafkaConnection }
function onData(this: KafkaSocket, chunk: Buffer) {
  this.kafka!.onData(chunk)
}
function onError() {
  // 'close' follows every 'error'.
}

export const make = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const mqtt = yield* MqttServer
  const log = yield* MessageLog
  const runtime = yield* Effect.runtime<never>()
  const runCallback = Runtime.runCallback(runtime)
  const runFork = Runtime.runFork(runtime)
  /** Work no single request owns (producer-state reads from the log), stopped at shutdown. */
  const background = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  // `--workers` on disk: a dead sibling's partitions may be served here from its store
  // (StoreAdoption); Kafka requests then go to the log serving each partition.
  const served = new Map<TopicPartition, MessageLog["Type"]>()
  const kafkaLog = takesOverStores(config.storage.kind) ? routedLog(log, served) : log
  const producers = new IdempotentProducers(kafkaLog, (effect) => {
    const fiber = runFork(effect)
    if (fiber.unsafePoll() !== null) return
    background.add(fiber)
    fiber.addObserver(() => background.delete(fiber))
  })
  const topics = yield* Topics
  const logStarts = yield* LogStartOffsets.make(yield* EventStore, topics, log)
  const node = yield* ClusterNode
  const local = yield* GroupCoordinator
  let adoption: StoreAdoption | null = null
  const cluster = node.enabled && node.coordination !== null
    ? new KafkaCluster(node, node.coordination, topics, local, (home) => adoption?.holds(home) ?? false)
    : null
  const policies = yield* TopicPolicies
  if (cluster !== null && kafkaLog !== log) {
    adoption = new StoreAdoption({
      node,
      coordination: cluster.coordination,
      kafka: { leaders: cluster.leaders, policies, producers, local: log, served },
      dataDir: config.storage.dataDir,
      open: openStore(config.storage, policies)
    })
  }
  if (cluster !== null) yield* Effect.forkScoped(cluster.run((poke) => topics.onChange(poke)))
  if (adoption !== null) yield* Effect.forkScoped(adoption.run())
  const ctx = new KafkaContext(config, kafkaLog, topics, cluster?.groups ?? local, yield* MqttEngine, producers, logStarts, policies, mqtt.context.admission, cluster, adoption)
  const connections = new Set<KafkaConnection>()
  const auth = yield* Auth
  const acls = yield* KafkaAcls
  const bans = yield* Bans
  const cnAsUsername = config.tls.cnAsUsername

  /**
   * The connection's Kafka ACL view, null when nothing is checked (no ACL stored and
   * acl_default = allow: one boolean; or a superuser). Made again when SASL changed the user.
   */
  const connectionAcl = (conn: KafkaConnection): ConnectionAcl | null => {
    if (acls.source.open) return null
    const user = conn.user ?? conn.certUser
    if (!conn.aclMade || conn.aclUser !== user) {
      conn.acl = acls.unsafeForConnection(user, conn.remoteHost)
      conn.aclUser = user
      conn.aclMade = true
    }
    return conn.acl
  }
  const debug = yield* makeDebugLog
  /**
   * A SASL login named a banned user: the connection closes, as a banned address's does at
   * accept (Kafka clients would only retry a SASL error). True when it did.
   */
  const refuseBannedUser = (conn: KafkaConnection): boolean => {
    const ban = conn.user === null ? null : bans.isBanned("", conn.user, "")
    if (ban === null) return false
    ctx.admission.refused.banned++
    debug?.(`kafka: SASL login from ${peer(conn.socket)} as user ${JSON.stringify(conn.user)} refused: banned, ${describeBan(ban)}`)
    conn.close()
    return true
  }
  /** SASL_PLAINTEXT when the MQTT side refuses anonymous clients. */
  const saslRequired = !config.auth.allowAnonymous

  /** Runs a handler; `done` gets its value, or the connection closes when it failed. */
  const run = <A>(conn: KafkaConnection, effect: Effect.Effect<A, unknown>, what: string, done: (value: A) => void, failed: () => void) => {
    const fiber = runFork(effect)
    // Most handlers finish synchronously; only the ones still running are tracked.
    if (fiber.unsafePoll() === null) {
      conn.running.add(fiber)
      fiber.addObserver(() => conn.running.delete(fiber))
    }
    fiber.addObserver((exit) => {
      if (Exit.isSuccess(exit)) return done(exit.value)
      failed()
      conn.close()
      if (!Cause.isInterruptedOnly(exit.cause)) {
        runCallback(Effect.logError(`Kafka request (${what}) failed; closing the connection`, exit.cause))
      }
    })
  }

  const sink = (conn: KafkaConnection, frame: Buffer, respond: (chunks: ReadonlyArray<Buffer> | null) => void) => {
    if (conn.sasl === SaslState.HandshakeV0) {
      run(conn, authenticateRawToken(auth, conn, frame, loginFailed(ctx, conn)), "SASL message after SaslHandshake v0", (reply) => respond(refuseBannedUser(conn) ? null : reply), () => respond(null))
      return
    }
    const req = decodeRequest(frame)
    if (req._tag !== "Request") {
      if (req._tag === "UnsupportedVersion" && req.apiKey === ApiKey.ApiVersions) {
        respond(encodeApiVersionsUnsupported(req.correlationId))
        return
      }
      respond(null)
      conn.close()
      return
    }
    if (saslRequired && conn.sasl !== SaslState.Authenticated && !allowedBeforeAuthentication(req.apiKey)) {
      respond(null)
      conn.close()
      return
    }
    ctx.requests[req.apiKey & 127]!++
    if (conn.clientId === null) conn.clientId = req.header.clientId ?? ""
    const started = performance.now()
    run(
      conn,
      handle(ctx, auth, acls, connectionAcl(conn), conn, req),
      `api key ${req.apiKey} v${req.apiVersion}`,
      (body) => {
        ctx.observeRequest(req.apiKey, performance.now() - started)
        if (req.apiKey === ApiKey.SaslAuthenticate) {
          debug?.(saslLine(conn, body as { errorCode: number }))
          if (refuseBannedUser(conn)) return respond(null)
        }
        respond(body === null ? null : encodeResponse(req.header, req.apiKey, req.apiVersion, body as never))
      },
      () => respond(null)
    )
  }

  const budget = new RequestBudget(config.kafka.queuedMaxRequestBytes)
  const thrown = (conn: KafkaConnection, error: unknown) =>
    runCallback(Effect.logWarning(`Kafka connection from ${conn.remoteHost}: input could not be handled, connection closed: ${describeThrown(error)}`))

  const accept = (socket: KafkaSocket) => {
    const address = socket.remoteAddress ?? ""
    const ban = bans.isAddressBanned(address)
    if (ban !== null) {
      ctx.admission.refused.banned++
      debug?.(`kafka: connection from ${peer(socket)} refused: banned, ${describeBan(ban)}`)
      return void socket.destroy()
    }
    // The abuse limits, counted with MQTT's (one Admission): connections per address, new
    // connections per second, failed logins. Kafka has no refusal before SASL, so it closes.
    const refusal = ctx.admission.check(address, Date.now())
    if (refusal !== null) {
      debug?.(`kafka: connection from ${peer(socket)} refused: ${REFUSALS[refusal]}`)
      return void socket.destroy()
    }
    ctx.admission.opened(address)
    const conn = new KafkaConnection(socket, sink, budget, thrown)
    // mTLS with tls.cn_as_username: the verified certificate's CN is the principal until SASL names another.
    if (cnAsUsername && socket instanceof TLSSocket) conn.certUser = verifiedCommonName(socket)
    socket.kafka = conn
    connections.add(conn)
    const listener = (socket as { encrypted?: boolean }).encrypted === true ? "tls" : "tcp"
    debug?.(`kafka: connection from ${peer(socket)} over ${listener}`)
    socket.on("data", onData)
    socket.on("error", onError)
    socket.on("close", () => {
      ctx.admission.closed(address)
      debug?.(`kafka: connection from ${peer(socket)} over ${listener}${conn.clientId ? `, client ${JSON.stringify(conn.clientId)}` : ""}${
        conn.user === null ? "" : `, user ${JSON.stringify(conn.user)}`
      } closed`)
      conn.released()
      connections.delete(conn)
      if (conn.user !== null) auth.unsafeUntrack(conn.user, conn)
      // The client is gone: a long poll for it would only hold timers and listeners.
      for (const fiber of conn.running) fiber.unsafeInterruptAsFork(FiberId.none)
    })
  }
  const server = net.createServer({ noDelay: true }, accept)
  // A new ban closes the Kafka connections it covers: by address, or by SASL (or certificate) user.
  yield* bans.enforce((ban, covers) => {
    let closed = 0
    for (const conn of [...connections]) {
      if (conn.closed || !covers("", conn.user ?? conn.certUser, () => conn.remoteHost)) continue
      debug?.(`kafka: connection from ${peer(conn.socket)} closed: banned, ${describeBan(ban)}`)
      conn.close()
      closed++
    }
    return closed
  })

  const names = { protocol: "Kafka", portHint: "--kafka-port (or set kafka.enabled = false)", addressHint: "kafka.host and --kafka-port" }
  const port = yield* Effect.acquireRelease(listen(server, config.kafka.host, config.kafka.port, names), () =>
    Effect.gen(function*() {
      server.close()
      const running: Array<Fiber.RuntimeFiber<unknown, unknown>> = [...background]
      for (const conn of [...connections]) {
        conn.close()
        running.push(...conn.running)
      }
      // Handlers in flight stop before the storage under them closes.
      yield* Fiber.interruptAll(running)
      yield* Effect.log("Kafka listener closed")
    }))
  // Kafka's connections.max.idle.ms: a client that sent nothing for 10 minutes and waits for
  // nothing is gone; its socket would otherwise stay open for ever.
  // A request that has not arrived whole within limits.incomplete_request_timeout_ms closes its
  // connection (a slowloris sender holds its reserved budget no longer than that).
  const incompleteTimeout = config.limits.incompleteRequestTimeoutMs
  let lastIdleCheck = Date.now()
  const sweep = Effect.sync(() => {
    const now = Date.now()
    const idleCheck = now - lastIdleCheck >= 30_000
    if (idleCheck) lastIdleCheck = now
    for (const conn of connections) {
      const since = conn.incompleteSince
      if (since > 0 && now - since > incompleteTimeout) {
        inputFaults.kafkaIncompleteTimeouts++
        conn.close()
      } else if (idleCheck && conn.running.size === 0 && now - conn.lastActive > IDLE_TIMEOUT_MS) conn.close()
    }
  })
  const sweepEvery = Duration.millis(Math.max(50, Math.min(1000, Math.floor(incompleteTimeout / 4))))
  yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(sweepEvery), sweep)))
  yield* Effect.log(`Kafka listening on ${config.kafka.host}:${port}`)
  // Opened after the plain listener, so it stops accepting before the connections are closed.
  const secure = (yield* SharedTls).context
  const tlsPort = config.kafka.tlsPort < 0 ? -1 : yield* openListener(createTlsServer(secure!, accept, debug), config.kafka.host, config.kafka.tlsPort, {
    protocol: "Kafka over TLS",
    portHint: "--kafka-tls-port (or -1 for off)",
    addressHint: "kafka.host and --kafka-tls-port",
    what: `Kafka over TLS (${saslRequired ? "SASL_SSL" : "SSL"})`
  })
  return KafkaServer.of({ port, tlsPort, host: config.kafka.host, context: ctx, openConnections: () => connections.size })
})

export const layer = Layer.scoped(KafkaServer, make)
