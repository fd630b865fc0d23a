/**
 * One MQTT network connection: the socket, framing, output batching, read pausing and the
 * packet state machine (CONNECT first and once). Each packet's protocol rules live in its
 * handler (./handlers/, one dispatch table by packet type); this class is what they act on.
 * Everything is synchronous except control work that must reach storage (a persistent
 * session's CONNECT, SUBSCRIBE, UNSUBSCRIBE) and a password check at CONNECT: `holdInput`
 * pauses the socket and queues the frames already read, `releaseInput` drains the queue in
 * order, so per-connection ordering holds.
 *
 * No fiber and no closure per connection: socket listeners are shared functions that find
 * their Connection on the socket. Memory per idle connection is this object and its socket.
 * The socket is a Transport: a TCP or TLS socket as it is, a WebSocket through an adapter.
 */
import { Effect, Exit, Runtime } from "effect"
import { connackCodeV3, ReasonCode } from "../../domain/ReasonCode.js"
import type { RecordHeader } from "../../domain/message/LogRecord.js"
import type { StorageError } from "../../services/errors.js"
import type { AclHolder } from "../auth/Auth.js"
import type { ClientAcl } from "../auth/ClientAcl.js"
import { describeThrown, inputFaults } from "../net/inputFaults.js"
import { decodePacket } from "./codec/decode.js"
import { encodeControl } from "./codec/encode.js"
import { FrameReader, type FrameSink } from "./codec/FrameReader.js"
import type { MqttDecodeError, ProtocolVersion } from "./codec/packets.js"
import type { Will } from "./engine/Engine.js"
import type { LiveSession, Outlet } from "./engine/LiveSession.js"
import { handleConnect, handleUndecodableConnect } from "./handlers/connect.js"
import { PACKET_HANDLERS } from "./handlers/index.js"
import type { ConnectSettings } from "./handlers/negotiateConnect.js"
import * as debugLines from "./debugLines.js"
import { recheckGrants } from "./regrant.js"
import type { ServerContext } from "./ServerContext.js"
import type { Listener, Transport } from "./Transport.js"

/** How long a closed connection still reads (and drops) the client's bytes: see `linger`. */
const CLOSE_LINGER_MS = 2000

/** Why reads are paused (bits of `readHolds`): the socket reads again once none is left. */
const HOLD_CONTROL = 1
const HOLD_LOG = 2
const HOLD_RATE = 4
const enum State {
  AwaitingConnect = 0,
  Connected = 1,
  Closed = 2
}

export class Connection implements Outlet, FrameSink, AclHolder {
  version: ProtocolVersion = 4
  private state = State.AwaitingConnect
  session: LiveSession | null = null
  clientId = ""
  keepaliveMs = 0
  lastSeen: number
  readonly openedAt: number
  sendQuota = 0
  clientMaxPacketSize = 0
  topicAliasMaximum = 0
  drains = 0

  // Protocol state the packet handlers (./handlers/) keep; nothing else writes it.
  /** Session Expiry Interval in force (may be changed by a v5 DISCONNECT). */
  expiryInterval = 0
  will: Will | null = null
  /** A normal DISCONNECT arrived: no will [MQTT-3.14.4-3]. */
  graceful = false
  aliasesIn: Map<number, string> | null = null
  /** Inbound QoS 1/2 publishes not yet fully acknowledged (our Receive Maximum). */
  inflightIn = 0
  /** This client's ACL view; null when no ACL is configured (no checks). */
  acl: ClientAcl | null = null
  /** The user name the auth service tracks this connection under (for kicks on reload). */
  username: string | null = null
  /** Log header naming this client as a message's publisher, built on its first publish. */
  originHeader: RecordHeader | null = null
  /** limits.max_publish_rate: PUBLISH packets in the current one-second window. */
  publishesInWindow = 0
  /** Acknowledgements received (stall detection: progress while the window is full). */
  acksIn = 0

  // The connection's own: socket, output batching, read pausing, stall detection.
  private aliasesOut: Map<string, number> | null = null
  private newestAlias: string | null = null
  private out: Array<Buffer> | null = null
  private outBytes = 0
  /** Queued short acknowledgements, (cmd << 20) | packetId each (see writeShortAck). */
  private shortAcks: Array<number> | null = null
  private paused = false
  private backlog: Array<Buffer> | null = null
  private readonly reader: FrameReader
  private readHolds = 0
  /** limits.max_output_buffer: QoS 0 is dropped beyond it. */
  private readonly outputCap: number
  private windowFullSince = 0
  private windowFullAcks = 0
  private outputPendingSince = 0
  private outputPendingDrains = 0
  private outputPendingBytes = 0
  private publishWindowStart = 0
  /** The address admission counted this connection under (null until CONNACK). */
  private admittedFrom: string | null = null
  private remoteCache: { readonly address: string; readonly port: number } | null = null

  constructor(
    readonly socket: Transport,
    readonly ctx: ServerContext,
    /** Which listener accepted it (metrics, logs). */
    readonly listener: Listener = "tcp"
  ) {
    this.reader = new FrameReader(ctx.config.limits.maxPacketSize, ctx.packetBudget)
    this.outputCap = ctx.config.limits.maxOutputBuffer
    this.lastSeen = this.openedAt = this.publishWindowStart = Date.now()
    ctx.debug?.(debugLines.acceptedLine(this))
  }

  /** The client's address, read once (getpeername costs; the admin API lists it, not the hot path). */
  get remote(): { readonly address: string; readonly port: number } {
    return this.remoteCache ??= { address: this.socket.remoteAddress ?? "", port: this.socket.remotePort ?? 0 }
  }

  // ------------------------------------------------------------ flow control

  /** Stops reading from the socket for `reason` (a HOLD_* bit); reads resume once no hold is left. */
  private holdReads(reason: number): void {
    if (this.readHolds === 0) this.socket.pause()
    this.readHolds |= reason
  }

  private releaseReads(reason: number): void {
    if ((this.readHolds & reason) === 0) return
    this.readHolds &= ~reason
    if (this.readHolds === 0 && this.state !== State.Closed) this.socket.resume()
  }

  /** The log's unwritten bytes are over the high-water mark (ServerContext.holdForLog). */
  pauseForLog(): void {
    this.holdReads(HOLD_LOG)
  }

  /** The log's unwritten bytes are back under the low-water mark (ServerContext). */
  logDrained(): void {
    this.releaseReads(HOLD_LOG)
  }

  /**
   * Once per sweep: the publish-rate window rolls over, and a subscriber that has made no
   * progress for limits.stall_timeout (unsent output not moving, or its QoS 1/2 window full
   * with no acknowledgement) is disconnected. Its session stays; what it was owed waits there.
   */
  tick(now: number): void {
    if (now - this.publishWindowStart >= 1000) {
      this.publishWindowStart = now
      this.publishesInWindow = 0
      if ((this.readHolds & HOLD_RATE) !== 0) {
        this.releaseReads(HOLD_RATE)
        if (!this.paused) this.drainBacklog() // frames read before the pause, in order
      }
    }
    const session = this.session
    const stallMs = this.ctx.config.limits.stallTimeout * 1000
    if (stallMs === 0 || session === null || this.state !== State.Connected) return
    const inflight = session.inflight
    if (inflight !== null && inflight.size >= this.sendQuota && inflight.size > 0) {
      if (this.windowFullSince === 0 || this.acksIn !== this.windowFullAcks) {
        this.windowFullSince = now
        this.windowFullAcks = this.acksIn
      }
    } else this.windowFullSince = 0
    const unsent = this.socket.writableLength
    if (unsent > 0) {
      if (this.outputPendingSince === 0 || this.drains !== this.outputPendingDrains || unsent < this.outputPendingBytes) {
        this.outputPendingSince = now
        this.outputPendingDrains = this.drains
      }
      this.outputPendingBytes = unsent
    } else this.outputPendingSince = 0
    const windowStalled = this.windowFullSince !== 0 && now - this.windowFullSince >= stallMs
    const outputStalled = this.outputPendingSince !== 0 && now - this.outputPendingSince >= stallMs
    if (!windowStalled && !outputStalled) return
    this.ctx.overload.stalledDisconnects++
    const what = outputStalled ? `${unsent} bytes unsent` : `${inflight!.size} messages unacknowledged`
    Runtime.runFork(this.ctx.runtime)(Effect.logWarning(`mqtt: client ${this.clientId} stalled (${what} for ${this.ctx.config.limits.stallTimeout} s): disconnected; its session keeps what it is owed`))
    // Nothing more can be written to a stalled socket: no DISCONNECT, no flush.
    this.out = null
    this.shortAcks = null
    this.outBytes = 0
    this.onClose()
    this.socket.destroy()
  }

  // ------------------------------------------------------------ socket events

  /**
   * Hot path: the connection's only entry for input. Nothing is read once a close was decided
   * (the socket still delivers what was in flight), and nothing thrown while framing, decoding
   * or handling leaves this connection: it is closed, logged once and counted (`crashed`).
   */
  onData(chunk: Buffer): void {
    if (this.closing) return
    this.lastSeen = Date.now()
    this.ctx.traffic.bytesReceived += chunk.length
    try {
      const rc = this.reader.feed(chunk, this, this.lastSeen)
      if (rc !== 0 && !this.closing) {
        if (rc === ReasonCode.QuotaExceeded) inputFaults.mqttBudgetRefusals++
        this.fail(rc)
      }
    } catch (error) {
      this.crashed(error)
    }
  }

  /** When the packet still being received began arriving (ms), or 0 when none is partial. */
  get incompleteSince(): number {
    return this.reader.pending ? this.reader.partialSince : 0
  }

  /** A close was decided (the socket may still deliver bytes): nothing more is handled. */
  get closing(): boolean {
    return this.state === State.Closed
  }

  onFrame(frame: Buffer): boolean {
    if (this.closing) return false
    if (this.paused || (this.readHolds & HOLD_RATE) !== 0) {
      ;(this.backlog ??= []).push(frame)
      return true
    }
    this.handle(frame)
    return this.state !== State.Closed
  }

  /**
   * Broker shutdown, before any connection is closed: a will that would go out at the close
   * (no delay, or a session that ends with the connection) is published now, while every
   * subscriber is still connected to receive it.
   */
  publishWillBeforeShutdown(): void {
    const will = this.will
    if (this.state !== State.Connected || will === null || this.graceful) return
    if (Math.min(will.delay, this.expiryInterval) > 0) return
    this.will = null
    this.ctx.engine.publishWill(will.message)
  }

  /** The socket closed, for whatever reason: settle the session and the will. */
  onClose(): void {
    this.reader.discard() // a partial packet's budget goes back
    if (this.state === State.Closed && this.session === null) return
    this.ctx.debug?.(debugLines.closedLine(this, this.session !== null))
    const wasConnected = this.state === State.Connected
    this.state = State.Closed
    this.ctx.connections.delete(this)
    if (this.username !== null) this.ctx.auth?.unsafeUntrack(this.username, this)
    if (this.acl !== null) this.ctx.auth?.unsafeUnwatchAcl(this)
    const session = this.session
    this.session = null
    if (!wasConnected || session === null) return
    this.ctx.connected--
    if (this.admittedFrom !== null) this.ctx.admission.closed(this.admittedFrom)
    // A broker shutdown is a server-side close [MQTT-3.1.2-8]: the will goes out (see closeSession).
    const will = this.graceful ? null : this.will
    this.background(this.ctx.engine.closeSession(session, this, will, this.expiryInterval, this.ctx.shuttingDown))
  }

  // ------------------------------------------------------------ output

  /** Hot path: queues a frame; the server writes each connection's frames once per turn. */
  writeFrame(frame: Buffer): void {
    if (this.state === State.Closed) return
    this.ctx.traffic.packetsSent[frame[0]! >> 4]!++
    if (this.shortAcks !== null) this.packShortAcks() // already marked dirty by the first ack
    if (this.out === null) {
      this.out = [frame]
      this.ctx.markDirty(this)
    } else this.out.push(frame)
    this.outBytes += frame.length
  }

  /**
   * Hot path: a 4-byte acknowledgement (PUBACK/PUBREC/PUBCOMP, reason 0 or MQTT 3) is queued as
   * a number and the run of them is packed into one buffer when another frame follows or the
   * connection flushes, not allocated one by one (a publisher gets a run per group commit).
   * Order is kept: a run is packed before any frame queued after it.
   */
  writeShortAck(cmd: 4 | 5 | 7, packetId: number): void {
    if (this.state === State.Closed) return
    this.ctx.traffic.packetsSent[cmd]!++
    const acks = this.shortAcks
    if (acks === null) {
      this.shortAcks = [(cmd << 20) | packetId]
      if (this.out === null) this.ctx.markDirty(this)
    } else acks.push((cmd << 20) | packetId)
    this.outBytes += 4
  }

  private packShortAcks(): void {
    const acks = this.shortAcks!
    this.shortAcks = null
    const n = acks.length
    const buf = Buffer.allocUnsafe(n * 4)
    for (let i = 0, at = 0; i < n; i++, at += 4) {
      const a = acks[i]!
      buf[at] = (a >>> 20) << 4
      buf[at + 1] = 2
      buf[at + 2] = (a >> 8) & 0xff
      buf[at + 3] = a & 0xff
    }
    if (this.out === null) this.out = [buf]
    else this.out.push(buf)
  }

  flushOut(): void {
    if (this.shortAcks !== null) this.packShortAcks()
    const out = this.out
    if (out === null) return
    this.out = null
    const bytes = this.outBytes
    this.outBytes = 0
    if (this.socket.destroyed) return
    this.ctx.traffic.bytesSent += bytes
    this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out, bytes))
  }

  /** Outbound topic aliases, first come first served until the client's maximum. */
  topicAlias(topic: string): number {
    const aliases = this.aliasesOut ?? (this.aliasesOut = new Map())
    const known = aliases.get(topic)
    if (known !== undefined) return known
    if (aliases.size >= this.topicAliasMaximum) return 0
    const alias = aliases.size + 1
    aliases.set(topic, alias)
    this.newestAlias = topic
    return -alias
  }

  /** The frame that was to introduce the newest alias was not sent: the client never saw it. */
  forgetNewestTopicAlias(topic: string): void {
    if (this.newestAlias !== topic) return
    this.aliasesOut!.delete(topic)
    this.newestAlias = null
  }

  canWriteQos0(): boolean {
    return this.socket.writableLength + this.outBytes < this.outputCap
  }

  /** Ends the connection, sending a v5 DISCONNECT with `reason` first when one is given. */
  close(reason?: number): void {
    if (this.state === State.Closed) return
    if (reason !== undefined && this.version === 5 && this.state === State.Connected) {
      this.writeFrame(encodeControl({ cmd: "disconnect", reasonCode: reason }, 5))
    }
    this.flushOut()
    this.onClose()
    this.linger()
  }

  /**
   * Half-closes after the last output and, for up to CLOSE_LINGER_MS, keeps reading and dropping
   * what the client still sends (onData ignores it once closing): a client busy writing (PUBRELs
   * for the PUBRECs before a DISCONNECT 0x93, say) then reads the reason and a clean end, where
   * destroying at once would answer its next bytes with a reset (EPIPE, ECONNRESET). At shutdown
   * the socket goes as soon as the output is out.
   */
  private linger(): void {
    const socket = this.socket
    if (this.ctx.shuttingDown) return void socket.end(() => socket.destroy())
    socket.end()
    socket.resume() // reads held for flow control would leave bytes unread: a reset at destroy
    setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref()
  }

  /** A protocol violation: reason code to a v5 client, then close [MQTT-4.13.1-1]. */
  fail(reason: number): void {
    this.close(reason)
  }

  /**
   * Handling this connection's input threw: a broker bug that input reached, not something to
   * take the process down. The connection alone closes (v5: DISCONNECT 0x82 Protocol Error once
   * a session exists; before CONNACK and in v3, just the close), with one log line and a count.
   */
  private crashed(error: unknown): void {
    inputFaults.mqttHandlerThrew++
    Runtime.runFork(this.ctx.runtime)(Effect.logWarning(`mqtt: ${debugLines.who(this)}: input could not be handled, connection closed: ${describeThrown(error)}`))
    try {
      this.close(ReasonCode.ProtocolError)
    } catch {
      // Settling the session threw as well: at least the socket goes, and nothing more is read.
      this.state = State.Closed
      this.socket.destroy()
    }
  }

  /** A failed login from `address`: past auth.max_failures its CONNECTs are refused for a while (one log line). */
  loginFailed(address: string): void {
    if (!this.ctx.admission.failed(address, Date.now())) return
    const { maxFailures, failureWindow } = this.ctx.config.auth
    Runtime.runFork(this.ctx.runtime)(Effect.logWarning(`mqtt: ${maxFailures} failed logins from ${address} within ${failureWindow} s: its CONNECTs are refused (0x8A Banned) for ${failureWindow} s (auth.max_failures, auth.failure_window)`))
  }

  /** Session takeover by a newer connection with the same client id [MQTT-3.1.4-3]. */
  takeOver(): void {
    this.close(ReasonCode.SessionTakenOver)
  }

  // ------------------------------------------------------------ control work

  /** Runs persistence work without blocking packet order: input waits until it finishes. */
  runControl(effect: Effect.Effect<void, StorageError>, done: (ok: boolean) => void): void {
    this.holdInput()
    Runtime.runCallback(this.ctx.runtime)(effect, {
      onExit: (exit) => {
        if (Exit.isFailure(exit)) Runtime.runFork(this.ctx.runtime)(Effect.logError("session persistence failed", exit.cause))
        this.releaseInput(() => done(Exit.isSuccess(exit)))
      }
    })
  }

  /** Input waits, in order, until releaseInput: work this packet started must finish first. */
  holdInput(): void {
    this.paused = true
    this.holdReads(HOLD_CONTROL)
  }

  /**
   * The work that held input finished: `then` runs (unless the connection closed meanwhile),
   * then the frames read meanwhile are handled in order.
   */
  releaseInput(then: () => void): void {
    this.paused = false
    if (!this.closing) {
      try {
        then()
      } catch (error) {
        this.crashed(error) // input-driven work finishing late is still this connection's input
      }
    }
    this.drainBacklog()
  }

  /** limits.max_publish_rate reached: reads pause until the window rolls over (tick). */
  holdForRate(): void {
    if ((this.readHolds & HOLD_RATE) !== 0) return
    this.ctx.overload.publishThrottles++
    this.holdReads(HOLD_RATE)
  }

  /** Handles the frames read while paused, in order, then reads again (unless paused anew). */
  private drainBacklog(): void {
    const backlog = this.backlog
    try {
      while (backlog !== null && backlog.length > 0 && !this.paused && (this.readHolds & HOLD_RATE) === 0 && this.state !== State.Closed) {
        this.handle(backlog.shift()!)
      }
    } catch (error) {
      this.crashed(error)
    }
    if (this.closing) this.backlog = null
    else if (!this.paused) this.releaseReads(HOLD_CONTROL)
  }

  private background(effect: Effect.Effect<void, StorageError> | null): void {
    if (effect === null) return
    Runtime.runFork(this.ctx.runtime)(effect.pipe(Effect.catchAll((e) => Effect.logError("session persistence failed", e))))
  }

  // ------------------------------------------------------------ packets

  /**
   * One frame: decoded, then CONNECT's handler before the session exists, the dispatch table
   * (handlers/index.ts) after. Each packet's rules live in its handler.
   */
  private handle(frame: Buffer): void {
    this.ctx.traffic.packetsReceived[frame[0]! >> 4]!++
    const p = decodePacket(frame, this.version)
    if (this.state === State.AwaitingConnect) {
      if (p.cmd === 0) return handleUndecodableConnect(this, p as MqttDecodeError)
      // [MQTT-3.1.0-1] the first packet must be CONNECT.
      if (p.cmd !== 1 || !("packet" in p)) return this.close()
      return handleConnect(this, p.packet)
    }
    if (p.cmd === 0) return this.fail((p as MqttDecodeError).reasonCode)
    PACKET_HANDLERS[p.cmd]!(this, p, this.session!)
  }

  /** Sends CONNACK (v3 gets its return code; 3.1 has no session-present flag). */
  connack(reason: number, sessionPresent: boolean, properties?: Record<string, unknown>): void {
    if (this.version === 5) {
      this.writeFrame(encodeControl({ cmd: "connack", reasonCode: reason, sessionPresent, ...(properties ? { properties } : {}) }, 5))
    } else {
      // v3: four fixed bytes, no encoder needed (3.1 has no session-present flag: reserved byte).
      const frame = Buffer.allocUnsafe(4)
      frame[0] = 0x20
      frame[1] = 2
      frame[2] = sessionPresent && this.version === 4 ? 1 : 0
      frame[3] = connackCodeV3(reason)
      this.writeFrame(frame)
    }
    this.ctx.debug?.(debugLines.connackLine(this, reason))
  }

  /** Refuses a CONNECT: CONNACK with the code, then close [MQTT-3.2.2-6]. */
  refuse(reason: number): void {
    this.connack(reason, false)
    this.close()
  }

  /** The negotiated CONNECT settings, before the session opens (handlers/connect.ts). */
  adopt(settings: ConnectSettings): void {
    this.clientId = settings.clientId
    this.keepaliveMs = settings.keepalive * 1000
    this.expiryInterval = settings.expiry
    this.will = settings.will
    this.sendQuota = settings.sendQuota
    this.clientMaxPacketSize = settings.clientMaxPacketSize
    this.topicAliasMaximum = settings.topicAliasMaximum
  }

  /** The session is open: from now on packets go to the dispatch table, and the client counts. */
  established(session: LiveSession, address: string): void {
    this.session = session
    this.state = State.Connected
    this.ctx.connected++
    if (address === "") return // no per-address limit is set
    this.ctx.admission.opened(address)
    this.admittedFrom = address
  }

  // ------------------------------------------------------------ ACL changes

  /**
   * The ACL was replaced (Auth, after a reload): the subscriptions it no longer grants are
   * removed as an UNSUBSCRIBE would remove them, with what the session owes that this client may
   * no longer read. The client is not told (MQTT 5 has no server-initiated UNSUBACK). Storage
   * runs in the background: memory changed now, and the session's next events follow these.
   */
  aclChanged(): number {
    const session = this.session
    if (this.state !== State.Connected || session === null || this.acl === null) return 0
    const before = session.subscriptions.size
    this.background(recheckGrants(this, session))
    return before - session.subscriptions.size
  }
}
