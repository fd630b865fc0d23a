/**
 * The MQTT TCP listener as a scoped service over the engine (MqttEngine): accepts connections,
 * runs the connections' sweep fiber (keepalive, slow and unfinished packets, $SYS), and on
 * shutdown stops accepting, publishes the wills due at a close (while everyone is still
 * connected) and sends v5 clients DISCONNECT 0x8B; the engine's layer below then checkpoints
 * every persistent session.
 */
import * as net from "node:net"
import { Context, Duration, Effect, Layer } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { ReasonCode } from "../../domain/ReasonCode.js"
import { Auth } from "../auth/Auth.js"
import { Bans } from "../bans/Bans.js"
import { makeDebugLog } from "../net/debugLog.js"
import { inputFaults } from "../net/inputFaults.js"
import { listen } from "../net/listen.js"
import { Connection } from "./Connection.js"
import type { Engine } from "./engine/Engine.js"
import { MqttEngine } from "./engine/MqttEngine.js"
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
  const engine = yield* MqttEngine
  const runtime = yield* Effect.runtime<never>()
  const auth = yield* Auth
  const ctx = new ServerContext(engine, config, runtime, auth.active ? auth : null)
  ctx.debug = yield* makeDebugLog
  ctx.bans = yield* Bans
  yield* ctx.bans.enforce(kickBanned(ctx))

  const server = net.createServer({ noDelay: true }, (socket: ConnSocket) => acceptSocket(ctx, socket, "tcp"))

  const names = { protocol: "MQTT", portHint: "--mqtt-port", addressHint: "--mqtt-host and --mqtt-port", shared: true }
  const port = yield* Effect.acquireRelease(listen(server, config.mqtt.host, config.mqtt.port, names), () =>
    Effect.gen(function*() {
      ctx.shuttingDown = true
      server.close()
      for (const conn of ctx.connections) conn.publishWillBeforeShutdown()
      for (const conn of [...ctx.connections]) conn.close(ReasonCode.ServerShuttingDown)
      yield* Effect.log("MQTT listener closed")
    }))

  // One sweep fiber for every connection's timers: no setTimeout per connection or per packet.
  let lastSys = 0
  const sweep = Effect.sync(() => {
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
    if (config.mqtt.sysInterval > 0 && now - lastSys >= config.mqtt.sysInterval * 1000) {
      lastSys = now
      publishSys(ctx, now)
    }
  })
  yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(SWEEP_INTERVAL), sweep)))
  yield* Effect.log(`MQTT listening on ${config.mqtt.host}:${port}`)
  return MqttServer.of({ port, host: config.mqtt.host, engine, context: ctx })
})

export const layer = Layer.scoped(MqttServer, make)
