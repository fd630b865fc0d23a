/**
 * The MQTT TCP listener as a scoped service: builds the engine (replaying storage), accepts
 * connections, runs the sweep fiber (keepalive, will delay, session expiry, checkpoints,
 * $SYS), and on shutdown stops accepting, publishes the wills due at a close (while everyone is
 * still connected), sends v5 clients DISCONNECT 0x8B, checkpoints every persistent session and
 * lets the storage layers below flush.
 */
import * as net from "node:net"
import { Context, Duration, Effect, Layer } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { ReasonCode } from "../../domain/ReasonCode.js"
import { EventStore } from "../../services/EventStore.js"
import { TopicPolicies } from "../../layers/TopicPolicies.js"
import { MessageLog } from "../../services/MessageLog.js"
import { Auth } from "../auth/Auth.js"
import { Bans } from "../bans/Bans.js"
import { streamMapping, Topics } from "../meta/Topics.js"
import { makeDebugLog } from "../net/debugLog.js"
import { inputFaults } from "../net/inputFaults.js"
import { listen } from "../net/listen.js"
import { Connection } from "./Connection.js"
import { Engine } from "./engine/Engine.js"
import { kickBanned } from "./kickBanned.js"
import { publishSys } from "./engine/sys.js"
import { ServerContext } from "./ServerContext.js"

export class MqttServer extends Context.Tag("broker/MqttServer")<MqttServer, {
  readonly port: number
  readonly host: string
  readonly engine: Engine
  readonly context: ServerContext
}>() {}

const CONNECT_TIMEOUT_MS = 10_000
const SWEEP_INTERVAL = Duration.millis(250)
/**
 * Test only (the torture harness): snapshots, checkpoints and retention all run this often, so
 * that kills land during them, not just by chance. 0: the periods below.
 */
export const TEST_HOUSEKEEPING_MS = Number(process.env.ROBUSTMQ_TEST_HOUSEKEEPING_MS ?? 0) || 0
const SNAPSHOT_EVERY_MS = TEST_HOUSEKEEPING_MS || 60_000
/**
 * Persistent sessions whose delivery state changed write a checkpoint this often. Not for
 * durability (the progress journal rides the log's group commit): a checkpoint only bounds how
 * much of the log and journal a restart replays, and lets retention free what is behind it.
 */
const CHECKPOINT_EVERY_MS = TEST_HOUSEKEEPING_MS || 10_000
/** Often, so each retention pass deletes a little: one big DELETE would stall the event loop. */
const RETENTION_EVERY_MS = TEST_HOUSEKEEPING_MS || 2_000

// Shared listeners: no closure per connection; the socket carries its Connection.
type ConnSocket = net.Socket & { mqtt?: Connection }
function onData(this: ConnSocket, chunk: Buffer) {
  this.mqtt!.onData(chunk)
}
function onClose(this: ConnSocket) {
  this.mqtt!.onClose()
}
function onDrain(this: ConnSocket) {
  this.mqtt!.drains++ // output progress, for stall detection
}
function onError(this: ConnSocket) {
  // 'close' follows every 'error'; nothing else to do.
}

/** A TCP or TLS socket becomes an MQTT connection of `ctx` (the TCP and TLS listeners). */
export const acceptSocket = (ctx: ServerContext, socket: ConnSocket, listener: "tcp" | "tls"): void => {
  if (ctx.shuttingDown) return void socket.destroy()
  const conn = new Connection(socket, ctx, listener)
  socket.mqtt = conn
  ctx.connections.add(conn)
  socket.on("data", onData)
  socket.on("close", onClose)
  socket.on("drain", onDrain)
  socket.on("error", onError)
}

export const make = Effect.gen(function*() {
  const config = yield* BrokerConfig
  const log = yield* MessageLog
  const store = yield* EventStore
  const topics = yield* Topics
  const policies = yield* TopicPolicies
  const engine = yield* Engine.make(config, log, store, streamMapping(topics, config), policies.hold)
  const runtime = yield* Effect.runtime<never>()
  const auth = yield* Auth
  const ctx = new ServerContext(engine, config, runtime, auth.active ? auth : null)
  ctx.debug = yield* makeDebugLog
  ctx.bans = yield* Bans
  yield* ctx.bans.enforce(kickBanned(ctx))

  const server = net.createServer({ noDelay: true }, (socket: ConnSocket) => acceptSocket(ctx, socket, "tcp"))

  const names = { protocol: "MQTT", portHint: "--mqtt-port", addressHint: "--mqtt-host and --mqtt-port" }
  const port = yield* Effect.acquireRelease(listen(server, config.mqtt.host, config.mqtt.port, names), () =>
    Effect.gen(function*() {
      ctx.shuttingDown = true
      server.close()
      for (const conn of ctx.connections) conn.publishWillBeforeShutdown()
      for (const conn of [...ctx.connections]) conn.close(ReasonCode.ServerShuttingDown)
      yield* engine.shutdown().pipe(Effect.catchAll((e) => Effect.logError("checkpoint at shutdown failed", e)))
      yield* Effect.log("MQTT listener closed")
    }))

  // One sweep fiber for every timer: no setTimeout per connection or per packet.
  let lastSnapshot = Date.now()
  let lastRetention = Date.now()
  let lastCheckpoints = Date.now()
  let lastSys = 0
  const sweep = Effect.gen(function*() {
    const now = Date.now()
    const incompleteTimeout = config.limits.incompleteRequestTimeoutMs
    for (const conn of ctx.connections) {
      const since = conn.incompleteSince
      if (since > 0 && now - since > incompleteTimeout) {
        // A packet dribbling in (slowloris) holds its buffer: the sender had its time.
        inputFaults.mqttIncompleteTimeouts++
        conn.close()
      } else if (conn.session === null) {
        if (now - conn.openedAt > CONNECT_TIMEOUT_MS) conn.close()
      } else if (conn.keepaliveMs > 0 && now - conn.lastSeen > conn.keepaliveMs * 1.5) {
        conn.close(ReasonCode.KeepAliveTimeout) // [MQTT-3.1.2-24]
      } else conn.tick(now)
    }
    const checkpoints = now - lastCheckpoints >= CHECKPOINT_EVERY_MS
    if (checkpoints) lastCheckpoints = now
    const work = engine.sweep(now, checkpoints)
    if (config.mqtt.sysInterval > 0 && now - lastSys >= config.mqtt.sysInterval * 1000) {
      lastSys = now
      publishSys(ctx, now)
    }
    if (work.length > 0) {
      yield* Effect.all(work, { concurrency: "unbounded", discard: true }).pipe(
        Effect.catchAll((e) => Effect.logError("session persistence failed", e))
      )
    }
    if (now - lastRetention > RETENTION_EVERY_MS) {
      lastRetention = now
      yield* engine.applyRetention().pipe(Effect.catchAll((e) => Effect.logError("log retention failed", e)))
    }
    if (now - lastSnapshot > SNAPSHOT_EVERY_MS) {
      lastSnapshot = now
      yield* engine.saveSnapshot().pipe(Effect.catchAll((e) => Effect.logError("session snapshot failed", e)))
    }
  })
  yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(SWEEP_INTERVAL), sweep)))
  yield* Effect.log(`MQTT listening on ${config.mqtt.host}:${port}`)
  return MqttServer.of({ port, host: config.mqtt.host, engine, context: ctx })
})

export const layer = Layer.scoped(MqttServer, make)
