/**
 * One MQTT network connection: framing, the packet state machine (CONNECT first and once),
 * and the per-packet protocol rules, checked in spec order. Everything here is synchronous
 * except control work that must reach storage (a persistent session's CONNECT, SUBSCRIBE,
 * UNSUBSCRIBE): `runControl` pauses the socket, queues the frames already read, runs one
 * Effect, then drains the queue in order, so per-connection ordering holds. A password check
 * at CONNECT (src/auth) pauses reads the same way while PBKDF2 runs in the thread pool; with an
 * ACL configured, PUBLISH and SUBSCRIBE ask the connection's ClientAcl (one null check without);
 * deliveries never do, so a session's subscriptions are re-checked whenever the permission that
 * granted them can have changed: at a resume (before anything is sent) and after an ACL reload.
 *
 * No fiber and no closure per connection: socket listeners are shared functions that find
 * their Connection on the socket. Memory per idle connection is this object and its socket.
 * The socket is a Transport: a TCP or TLS socket as it is, a WebSocket through an adapter.
 */
import { isUtf8 } from "node:buffer"
import { randomUUID } from "node:crypto"
import { Effect, Exit, Runtime } from "effect"
import { SubscribeVerdict } from "../../domain/auth/authorize.js"
import { NEVER_EXPIRES, type QoS } from "../../domain/session/Session.js"
import { connackCodeV3, ReasonCode, subackCodeV3 } from "../../domain/ReasonCode.js"
import { validateTopicName } from "../../domain/topic/TopicName.js"
import type { RecordHeader } from "../../domain/message/LogRecord.js"
import type { StorageError } from "../../services/errors.js"
import { parseShared, validateTopicFilter } from "../../domain/topic/TopicFilter.js"
import type { AclHolder, Identity } from "../auth/Auth.js"
import type { Refusal } from "../net/Admission.js"
import { describeThrown, inputFaults } from "../net/inputFaults.js"
import type { ClientAcl } from "../auth/ClientAcl.js"
import { verifiedCommonName } from "../tls/clientCertificate.js"
import { decodePacket } from "./codec/decode.js"
import { encodeAck, encodeControl, PINGRESP } from "./codec/encode.js"
import { FrameReader, type FrameSink } from "./codec/FrameReader.js"
import {
  type AckPacket,
  type ControlPacket,
  type IConnectPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  MqttDecodeError,
  type ProtocolVersion,
  type PublishPacket,
  PublishProps
} from "./codec/packets.js"
import type { Will } from "./engine/Engine.js"
import { InboundRef, type LiveSession, type Outlet } from "./engine/LiveSession.js"
import { Message, originHeader } from "./engine/Message.js"
import { RELEASED } from "./engine/ProgressJournal.js"
import type { ServerContext } from "./ServerContext.js"
import type { Transport } from "./Transport.js"

/** CONNACK reason per admission refusal (v3 gets 3 Server unavailable, or 5 for Banned). */
const ADMISSION_REFUSALS: Record<Refusal, number> = {
  "per-ip": ReasonCode.QuotaExceeded,
  rate: ReasonCode.ConnectionRateExceeded,
  banned: ReasonCode.Banned
}

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
  private aliasesOut: Map<string, number> | null = null
  private newestAlias: string | null = null
  /** Log header naming this client as a message's publisher, built on its first publish. */
  private originHeader: RecordHeader | null = null
  /** Session Expiry Interval in force (may be changed by a v5 DISCONNECT). */
  private expiryInterval = 0
  private will: Will | null = null
  /** A normal DISCONNECT arrived: no will [MQTT-3.14.4-3]. */
  private graceful = false
  private out: Array<Buffer> | null = null
  private outBytes = 0
  /** Queued short acknowledgements, (cmd << 20) | packetId each (see writeShortAck). */
  private shortAcks: Array<number> | null = null
  private paused = false
  private backlog: Array<Buffer> | null = null
  private aliasesIn: Map<number, string> | null = null
  /** Inbound QoS 1/2 publishes not yet fully acknowledged (our Receive Maximum). */
  private inflightIn = 0
  /** This client's ACL view; null when no ACL is configured (no checks). */
  private acl: ClientAcl | null = null
  /** The user name the auth service tracks this connection under (for kicks on reload). */
  private username: string | null = null
  private readonly reader: FrameReader
  private readHolds = 0
  /** limits.max_output_buffer: QoS 0 is dropped beyond it. */
  private readonly outputCap: number
  // Stall detection (see tick): progress seen since the stall clock started.
  private acksIn = 0
  drains = 0
  private windowFullSince = 0
  private windowFullAcks = 0
  private outputPendingSince = 0
  private outputPendingDrains = 0
  private outputPendingBytes = 0
  // limits.max_publish_rate: PUBLISH packets in the current one-second window.
  private publishWindowStart = 0
  private publishesInWindow = 0
  /** The address admission counted this connection under (null until CONNACK). */
  private admittedFrom: string | null = null

  constructor(
    readonly socket: Transport,
    private readonly ctx: ServerContext
  ) {
    this.reader = new FrameReader(ctx.config.limits.maxPacketSize, ctx.packetBudget)
    this.outputCap = ctx.config.limits.maxOutputBuffer
    this.lastSeen = this.openedAt = this.publishWindowStart = Date.now()
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
  private writeShortAck(cmd: 4 | 5 | 7, packetId: number): void {
    if (this.state === State.Closed) return
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
  private fail(reason: number): void {
    this.close(reason)
  }

  /**
   * Handling this connection's input threw: a broker bug that input reached, not something to
   * take the process down. The connection alone closes (v5: DISCONNECT 0x82 Protocol Error once
   * a session exists; before CONNACK and in v3, just the close), with one log line and a count.
   */
  private crashed(error: unknown): void {
    inputFaults.mqttHandlerThrew++
    const who = this.clientId !== "" ? `client ${this.clientId}` : `${this.socket.remoteAddress}:${this.socket.remotePort}`
    Runtime.runFork(this.ctx.runtime)(Effect.logWarning(`mqtt: ${who}: input could not be handled, connection closed: ${describeThrown(error)}`))
    try {
      this.close(ReasonCode.ProtocolError)
    } catch {
      // Settling the session threw as well: at least the socket goes, and nothing more is read.
      this.state = State.Closed
      this.socket.destroy()
    }
  }

  /** A failed login from `address`: past auth.max_failures its CONNECTs are refused for a while (one log line). */
  private loginFailed(address: string): void {
    if (!this.ctx.admission.failed(address, Date.now())) return
    const { maxFailures, failureWindow } = this.ctx.config.auth
    Runtime.runFork(this.ctx.runtime)(Effect.logWarning(`mqtt: ${maxFailures} failed logins from ${address} within ${failureWindow} s: its CONNECTs are refused (0x8A Banned) for ${failureWindow} s (auth.max_failures, auth.failure_window)`))
  }

  /** Session takeover by a newer connection with the same client id [MQTT-3.1.4-3]. */
  takeOver(): void {
    this.close(ReasonCode.SessionTakenOver)
  }

  // ------------------------------------------------------------ control work

  /** Runs persistence work without blocking packet order: reads pause until it finishes. */
  private runControl(effect: Effect.Effect<void, StorageError>, done: (ok: boolean) => void): void {
    this.paused = true
    this.holdReads(HOLD_CONTROL)
    Runtime.runCallback(this.ctx.runtime)(effect, {
      onExit: (exit) => {
        if (Exit.isFailure(exit)) Runtime.runFork(this.ctx.runtime)(Effect.logError("session persistence failed", exit.cause))
        this.paused = false
        try {
          done(Exit.isSuccess(exit))
        } catch (error) {
          this.crashed(error) // input-driven work finishing late is still this connection's input
        }
        this.drainBacklog()
      }
    })
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

  private handle(frame: Buffer): void {
    const p = decodePacket(frame, this.version)
    if (p instanceof MqttDecodeError) {
      if (this.state === State.AwaitingConnect && /protocol version|protocol level/i.test(p.message)) {
        // [MQTT-3.1.2-2] unsupported protocol level: CONNACK 0x01 (v3 form), then close.
        this.writeFrame(encodeControl({ cmd: "connack", returnCode: 1, sessionPresent: false }, 4))
        this.close()
        return
      }
      return this.fail(p.reasonCode)
    }
    if (this.state === State.AwaitingConnect) {
      // [MQTT-3.1.0-1] the first packet must be CONNECT.
      if (p.cmd !== 1 || !("packet" in p)) return this.close()
      return this.onConnect(p.packet)
    }
    const session = this.session!
    switch (p.cmd) {
      case 3:
        return this.onPublish(p as PublishPacket, session)
      case 4:
      case 7:
        this.acksIn++
        session.complete((p as AckPacket).packetId)
        return
      case 5: {
        this.acksIn++
        const a = p as AckPacket
        const rel = session.received(a.packetId, a.reasonCode)
        if (rel === null) return
        // PUBREL only once PUBREC is durable: after it the client may complete the message.
        if (session.journaled === null) this.writeFrame(rel)
        else session.whenProgressDurable((error) => (error === undefined ? this.writeFrame(rel) : this.progressNotStored()))
        return
      }
      case 6:
        return this.onPubrel((p as AckPacket).packetId, session)
      case 8:
        return this.onSubscribe((p as Extract<ControlPacket, { cmd: 8 }>).packet, session)
      case 10:
        return this.onUnsubscribe((p as Extract<ControlPacket, { cmd: 10 }>).packet, session)
      case 12:
        this.writeFrame(PINGRESP)
        return
      case 14:
        return this.onDisconnect(p as ControlPacket | { cmd: 14 })
      case 1:
        return this.fail(ReasonCode.ProtocolError) // [MQTT-3.1.0-2] a second CONNECT
      default:
        // AUTH without enhanced authentication, or a server-to-client packet.
        return this.fail(ReasonCode.ProtocolError)
    }
  }

  private connack(reason: number, sessionPresent: boolean, properties?: Record<string, unknown>): void {
    const packet =
      this.version === 5
        ? { cmd: "connack" as const, reasonCode: reason, sessionPresent, ...(properties ? { properties } : {}) }
        : { cmd: "connack" as const, returnCode: connackCodeV3(reason), sessionPresent: sessionPresent && this.version === 4 } // 3.1: reserved byte
    this.writeFrame(encodeControl(packet, this.version))
  }

  /** Refuses a CONNECT: CONNACK with the code, then close [MQTT-3.2.2-6]. */
  private refuse(reason: number): void {
    this.connack(reason, false)
    this.close()
  }

  private onConnect(packet: IConnectPacket): void {
    const { config, engine } = this.ctx
    const limits = config.limits
    const version = (packet.protocolVersion ?? 4) as ProtocolVersion
    this.version = version
    const props = packet.properties ?? {}
    if (version === 5 && props.authenticationMethod !== undefined) return this.refuse(ReasonCode.BadAuthenticationMethod)
    // v5 §3.1.2.11.3-4: a Receive Maximum or Maximum Packet Size of 0 is a protocol error.
    if (props.receiveMaximum === 0 || props.maximumPacketSize === 0) return this.fail(ReasonCode.ProtocolError)
    // [MQTT-3.1.2-22] 3.1.1 (and 3.1): no password without a user name; v5 allows it.
    if (version < 5 && packet.password !== undefined && packet.username === undefined) return this.fail(ReasonCode.MalformedPacket)
    if (packet.will && (packet.will.qos ?? 0) > 2) return this.fail(ReasonCode.MalformedPacket) // [MQTT-3.1.2-14]
    let clientId = packet.clientId
    let assigned: string | undefined
    if (clientId === "") {
      // [MQTT-3.1.3-7..8] an empty id needs a clean session in 3.1.1; 3.1 requires an id.
      if (version === 3 || (version === 4 && !packet.clean)) return this.refuse(ReasonCode.ClientIdentifierNotValid)
      clientId = `auto-${randomUUID()}`
      if (version === 5) assigned = clientId
    } else if (version === 3 && clientId.length > 23) {
      return this.refuse(ReasonCode.ClientIdentifierNotValid)
    }
    if (this.ctx.connected >= limits.maxConnections) return this.refuse(ReasonCode.QuotaExceeded)
    const address = this.socket.remoteAddress ?? ""
    const refusal = this.ctx.admission.check(address, Date.now())
    if (refusal !== null) return this.refuse(ADMISSION_REFUSALS[refusal])
    let keepalive = packet.keepalive ?? 0
    let serverKeepAlive: number | undefined
    const maxKeepalive = config.mqtt.maxKeepalive
    if (maxKeepalive > 0 && (keepalive === 0 || keepalive > maxKeepalive)) {
      if (version === 5) keepalive = serverKeepAlive = maxKeepalive
      else if (keepalive > maxKeepalive) return this.refuse(ReasonCode.ClientIdentifierNotValid) // v3 cannot be told
    }
    let expiry = version === 5 ? (props.sessionExpiryInterval ?? 0) : packet.clean ? 0 : NEVER_EXPIRES
    let expiryChanged = false
    if (version === 5 && expiry > limits.maxSessionExpiry) {
      expiry = limits.maxSessionExpiry
      expiryChanged = true
    }
    let will: Will | null = null
    if (packet.will) {
      const w = packet.will
      if (validateTopicName(w.topic, limits.maxTopicLevels, limits.maxTopicLength) !== 0) return this.refuse(ReasonCode.TopicNameInvalid)
      const wp = w.properties
      const payload = typeof w.payload === "string" ? Buffer.from(w.payload) : Buffer.from(w.payload)
      if (wp?.payloadFormatIndicator && !isUtf8(payload)) return this.refuse(ReasonCode.PayloadFormatInvalid)
      let mprops: PublishProps | null = null
      if (wp !== undefined) {
        mprops = new PublishProps()
        mprops.payloadFormatIndicator = wp.payloadFormatIndicator === undefined ? undefined : wp.payloadFormatIndicator ? 1 : 0
        mprops.contentType = wp.contentType
        mprops.responseTopic = wp.responseTopic
        mprops.correlationData = wp.correlationData
        mprops.userProperties = userPairs(wp.userProperties)
      }
      const now = Date.now()
      const expiresAt = wp?.messageExpiryInterval !== undefined ? now + wp.messageExpiryInterval * 1000 : 0
      will = {
        message: new Message(w.topic, payload, (w.qos ?? 0) as QoS, w.retain ?? false, mprops, expiresAt, clientId, now),
        delay: wp?.willDelayInterval ?? 0
      }
    }
    const accept = () => {
      this.clientId = clientId
      this.keepaliveMs = keepalive * 1000
      this.expiryInterval = expiry
      this.will = will
      this.sendQuota = Math.min(limits.maxInflight, props.receiveMaximum ?? 65535)
      this.clientMaxPacketSize = props.maximumPacketSize ?? 0
      this.topicAliasMaximum = version === 5 ? (props.topicAliasMaximum ?? 0) : 0
      const opened = engine.openSession(clientId, packet.clean ?? true, expiry, will, (old) => (old as Connection).takeOver())
      this.session = opened.session
      this.state = State.Connected
      this.ctx.connected++
      this.ctx.admission.opened(address)
      this.admittedFrom = address
      // A resumed session's subscriptions were granted to an earlier connection, maybe under
      // other rules or another user: this client's ACL decides before anything is sent, once
      // what the session owes is back in memory (opened.persist reads it from the log).
      const regrant = this.acl === null ? null : Effect.suspend(() => this.recheckGrants(opened.session) ?? Effect.void)
      const persist = regrant === null ? opened.persist : opened.persist === null ? regrant : Effect.zipRight(opened.persist, regrant)
      const finish = (ok: boolean) => {
        if (this.state === State.Closed) return
        if (!ok) {
          this.connack(ReasonCode.UnspecifiedError, false)
          return this.close()
        }
        const p: Record<string, unknown> = {}
        if (version === 5) {
          p.receiveMaximum = limits.receiveMaximum
          p.maximumPacketSize = limits.maxPacketSize
          p.topicAliasMaximum = limits.topicAliasMaximum
          if (assigned !== undefined) p.assignedClientIdentifier = assigned
          if (serverKeepAlive !== undefined) p.serverKeepAlive = serverKeepAlive
          if (expiryChanged) p.sessionExpiryInterval = expiry
          if (props.requestResponseInformation) p.responseInformation = `response/${clientId}`
        }
        this.connack(ReasonCode.Success, opened.sessionPresent, p)
        opened.session.resume(this)
      }
      if (persist === null) finish(true)
      else this.runControl(persist, finish)
    }
    const auth = this.ctx.auth
    if (auth === null) return accept()
    // tls.cn_as_username: a verified client certificate names the user, and is its credential.
    const certified = this.ctx.config.tls.cnAsUsername ? verifiedCommonName(this.socket) : null
    const claimed = certified ?? packet.username
    const admit = (reason: number, identity?: Identity) => {
      if (reason !== ReasonCode.Success) {
        if (reason === ReasonCode.BadUserNameOrPassword || reason === ReasonCode.NotAuthorized) this.loginFailed(address)
        return this.refuse(reason)
      }
      // A JWT names the user itself (src/auth/Auth.ts Identity).
      const username = identity?.username ?? claimed
      const acl = auth.unsafeClientAcl(username, clientId, certified !== null, identity)
      // A will the client could not publish itself is refused with the CONNECT.
      if (will !== null && acl !== null && !acl.mayPublish(will.message.topic)) return this.refuse(ReasonCode.NotAuthorized)
      this.acl = acl
      if (acl !== null) auth.unsafeWatchAcl(this)
      if (username !== undefined) {
        this.username = username
        auth.unsafeTrack(username, this)
      }
      accept()
    }
    if (certified !== null) return admit(ReasonCode.Success)
    const decided = auth.unsafeAuthenticate(claimed, packet.password, (reason, identity) => {
      this.paused = false
      if (this.state === State.Closed) return // gone while the password was hashed
      try {
        admit(reason, identity)
      } catch (error) {
        this.crashed(error)
      }
      this.drainBacklog()
    }, true)
    if (decided >= 0) return admit(decided)
    // Verifying off the event loop: packets that follow CONNECT wait, in order.
    this.paused = true
    this.holdReads(HOLD_CONTROL)
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
    this.background(this.recheckGrants(session))
    return before - session.subscriptions.size
  }

  /**
   * Removes the session's subscriptions this connection's ACL does not grant (`$share/g/F` is
   * checked on F, as at SUBSCRIBE), gives the others the per-delivery read check they now need
   * (or none), and drops the messages owed that it may not read; logs one line saying what went.
   * Returns the Effect persisting that, or null.
   */
  private recheckGrants(session: LiveSession): Effect.Effect<void, StorageError> | null {
    const acl = this.acl!
    const revoked: Array<string> = []
    for (const [raw, sub] of session.subscriptions) {
      const verdict = acl.verdict(raw)
      if (verdict === SubscribeVerdict.Refused) revoked.push(raw)
      else sub.check = verdict === SubscribeVerdict.Filtered ? acl.readCheck : null
    }
    // Before the resume the unacknowledged PUBLISHes have yet to be sent again.
    const result = this.ctx.engine.revokeGrants(session, revoked, (topic) => acl.mayRead(topic), session.conn !== this)
    if (result === null) return null
    const what: Array<string> = []
    if (result.removed.length > 0) what.push(`subscriptions the ACL no longer grants removed: ${result.removed.join(", ")}`)
    if (result.dropped > 0) what.push(`${result.dropped} queued message(s) it may no longer read dropped`)
    const who = acl.username === null ? this.clientId : `${this.clientId} (user ${acl.username})`
    Runtime.runFork(this.ctx.runtime)(Effect.logInfo(`mqtt: client ${who}: ${what.join("; ")}`))
    return result.persist
  }

  /** Hot path: one inbound PUBLISH. */
  private onPublish(p: PublishPacket, session: LiveSession): void {
    const limits = this.ctx.config.limits
    if (limits.maxPublishRate !== 0 && ++this.publishesInWindow >= limits.maxPublishRate && (this.readHolds & HOLD_RATE) === 0) {
      // This one is read already and goes through; the next wait for the window to roll over.
      this.ctx.overload.publishThrottles++
      this.holdReads(HOLD_RATE)
    }
    let topic = p.topic
    let props = p.properties
    if (props !== null) {
      if (props.subscriptionIdentifiers !== undefined) return this.fail(ReasonCode.ProtocolError) // [MQTT-3.3.4-6]
      const alias = props.topicAlias
      if (alias !== undefined) {
        // [MQTT-3.3.2-8..12] topic aliases are per connection and bounded by our maximum.
        if (alias === 0 || alias > limits.topicAliasMaximum) return this.fail(ReasonCode.TopicAliasInvalid)
        if (topic === "") {
          const known = this.aliasesIn?.get(alias)
          if (known === undefined) return this.fail(ReasonCode.ProtocolError)
          topic = known
        } else (this.aliasesIn ??= new Map()).set(alias, topic)
        const copy = Object.assign(new PublishProps(), props)
        copy.topicAlias = undefined
        props = copy
      }
    }
    if (validateTopicName(topic, limits.maxTopicLevels, limits.maxTopicLength) !== 0) return this.fail(ReasonCode.TopicNameInvalid)
    const acl = this.acl
    if (acl !== null && !acl.mayPublish(topic)) return this.refusePublish(p.qos, p.packetId)
    const qos = p.qos
    const held = qos === 2 && session.qos2Inbound !== null ? session.qos2Inbound.get(p.packetId) : undefined
    if (held !== undefined) {
      // [MQTT-4.3.3-9] a retried PUBLISH of a message we hold: acknowledge (once it is durable),
      // never store or route it twice.
      const packetId = p.packetId
      if (held === null) this.writeShortAck(5, packetId)
      else this.ctx.engine.log.unsafeOnDurable(held.tp, held.offset, (error) => this.ackRetry(packetId, error === undefined))
      return
    }
    if (qos > 0 && ++this.inflightIn > limits.receiveMaximum) return this.fail(ReasonCode.ReceiveMaximumExceeded) // [MQTT-3.3.4-8]
    if (props !== null && props.payloadFormatIndicator === 1 && !isUtf8(p.payload)) {
      if (qos === 0) return this.fail(ReasonCode.PayloadFormatInvalid)
      this.inflightIn--
      this.writeFrame(encodeAck(qos === 1 ? 4 : 5, p.packetId, this.version, ReasonCode.PayloadFormatInvalid))
      return
    }
    const now = Date.now()
    const expiry = props === null ? undefined : props.messageExpiryInterval
    const msg = new Message(topic, p.payload, qos, p.retain, props, expiry === undefined ? 0 : now + expiry * 1000, this.clientId, now)
    msg.originHeader = this.originHeader ??= originHeader(this.clientId)
    // The packet id travels with the message: a retry after a crash is then recognised.
    if (qos === 2 && session.stored) msg.inboundPacketId = p.packetId
    const routed = this.ctx.engine.publish(msg)
    if (msg.tp !== null && this.ctx.engine.log.unsafeUnwrittenBytes() > limits.logHighWater) this.ctx.holdForLog(this)
    if (qos === 0) return
    if (qos === 2) {
      ;(session.qos2Inbound ??= new Map()).set(p.packetId, new InboundRef(msg.tp!, msg.offset))
      session.dirty = true
    }
    const reason = routed === 0 && this.version === 5 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success
    const packetId = p.packetId
    // Acknowledge only once the message is durable in the log.
    this.ctx.engine.log.unsafeOnDurable(msg.tp!, msg.offset, (error) => this.ackPublish(qos, packetId, error === undefined ? reason : ReasonCode.UnspecifiedError))
  }

  /**
   * A PUBLISH the ACL refuses is dropped: v5 clients get 0x87 on the PUBACK/PUBREC, v3 clients a
   * normal ack (they have no way to hear a refusal; Mosquitto does the same).
   */
  private refusePublish(qos: number, packetId: number): void {
    if (qos === 0) return
    this.writeFrame(encodeAck(qos === 1 ? 4 : 5, packetId, this.version, this.version === 5 ? ReasonCode.NotAuthorized : 0))
  }

  private ackPublish(qos: number, packetId: number, reason: number): void {
    if (this.state === State.Closed) return
    if (reason >= 0x80 && this.version < 5) return this.refuseUnstored(qos, packetId)
    if (qos === 1) {
      this.inflightIn--
      if (reason === 0 || this.version < 5) this.writeShortAck(4, packetId)
      else this.writeFrame(encodeAck(4, packetId, this.version, reason))
      return
    }
    if (reason >= 0x80) {
      this.inflightIn--
      this.session?.qos2Inbound?.delete(packetId)
    }
    if (reason === 0 || this.version < 5) this.writeShortAck(5, packetId)
    else this.writeFrame(encodeAck(5, packetId, this.version, reason))
  }

  /**
   * MQTT 3 has no negative acknowledgement: a message storage could not keep is never
   * acknowledged; the connection closes, and the client sends it again when it reconnects.
   */
  private refuseUnstored(qos: number, packetId: number): void {
    if (qos === 2) this.session?.qos2Inbound?.delete(packetId)
    Runtime.runFork(this.ctx.runtime)(Effect.logWarning(`mqtt: client ${this.clientId}: a QoS ${qos} message could not be stored; closing so it is sent again (MQTT 3 has no refusal)`))
    this.close()
  }

  /**
   * Storage failed to keep a QoS 2 step (PUBREC or PUBREL received): the answer it guards cannot
   * go out. Closing makes the client repeat the step on its next connection, when storage may
   * work again.
   */
  private progressNotStored(): void {
    if (this.state === State.Closed) return
    Runtime.runFork(this.ctx.runtime)(Effect.logWarning(`mqtt: client ${this.clientId}: QoS 2 progress could not be stored; closing so the client repeats it`))
    this.close(ReasonCode.UnspecifiedError)
  }

  /** PUBREC for a retried QoS 2 PUBLISH, once the message first received is durable. */
  private ackRetry(packetId: number, durable: boolean): void {
    if (this.state === State.Closed) return
    if (!durable && this.version < 5) return this.refuseUnstored(2, packetId)
    if (durable) this.writeShortAck(5, packetId)
    else this.writeFrame(encodeAck(5, packetId, this.version, ReasonCode.UnspecifiedError))
  }

  private onPubrel(packetId: number, session: LiveSession): void {
    const inbound = session.qos2Inbound
    const held = inbound === null ? undefined : inbound.get(packetId)
    if (held !== undefined) {
      inbound!.delete(packetId)
      if (this.inflightIn > 0) this.inflightIn--
      session.dirty = true
      const journal = session.journaled
      if (journal === null) return this.writeShortAck(7, packetId)
      // PUBCOMP only once the release is durable: the client may reuse the id right after it,
      // and a crash must not leave the id looking held (the new message would be dropped).
      journal.record(session, RELEASED, packetId, held === null ? "" : held.tp, held === null ? -1 : held.offset)
      journal.whenDurable(session, (error) => (error === undefined ? this.writeShortAck(7, packetId) : this.progressNotStored()))
    } else {
      this.writeFrame(encodeAck(7, packetId, this.version, this.version === 5 ? ReasonCode.PacketIdentifierNotFound : 0))
    }
  }

  private onSubscribe(packet: ISubscribePacket, session: LiveSession): void {
    const subscriptionId = packet.properties?.subscriptionIdentifier
    const id = typeof subscriptionId === "number" ? subscriptionId : Array.isArray(subscriptionId) ? subscriptionId[0] ?? 0 : 0
    if (this.version === 5 && subscriptionId !== undefined && id === 0) return this.fail(ReasonCode.ProtocolError)
    if (packet.subscriptions.length === 0) return this.fail(ReasonCode.ProtocolError) // [MQTT-3.8.3-3]
    const requests = packet.subscriptions.map((s) => ({
      filter: s.topic,
      qos: s.qos,
      noLocal: this.version === 5 && s.nl === true,
      retainAsPublished: this.version === 5 ? s.rap === true : false,
      retainHandling: this.version === 5 ? (s.rh ?? 0) : 0
    }))
    const refused = this.refusedFilters(this.acl, session, requests)
    const allowed = refused === null ? requests : requests.filter((_, i) => !refused.has(i))
    const acl = this.acl
    const readCheckFor = acl === null ? undefined : (raw: string) => acl.readCheckFor(raw)
    const result = allowed.length > 0 ? this.ctx.engine.subscribe(session, id, allowed, readCheckFor) : { codes: [], protocolError: 0, persist: null, retained: [] }
    if (result.protocolError !== 0) return this.fail(result.protocolError)
    const messageId = packet.messageId!
    const send = (ok: boolean) => {
      const engineCodes = ok ? result.codes : result.codes.map(() => ReasonCode.UnspecifiedError)
      const codes = refused === null ? engineCodes : withRefusals(engineCodes, refused, requests.length)
      const granted = this.version === 5 ? codes : codes.map(subackCodeV3)
      this.writeFrame(encodeControl({ cmd: "suback", messageId, granted, ...(this.version === 5 ? { reasonCode: 0 } : {}) }, this.version))
      if (!ok) return
      // [MQTT-3.3.1-9] retained messages go out after the SUBACK, flagged retain.
      const subIds = id !== 0 ? [id] : null
      for (const [m, qos] of result.retained) session.deliverRetained(m, qos, subIds)
    }
    if (result.persist === null) send(true)
    else this.runControl(result.persist, send)
  }

  /**
   * The requests (by index) refused before the engine sees them, with their reason code: a valid
   * filter the ACL does not grant (0x87), or a new one beyond limits.max_subscriptions (0x97).
   * Invalid filters are left to the engine, which answers 0x8F for them.
   */
  private refusedFilters(acl: ClientAcl | null, session: LiveSession, requests: ReadonlyArray<{ readonly filter: string }>): Map<number, number> | null {
    const limits = this.ctx.config.limits
    let refused: Map<number, number> | null = null
    let count = session.subscriptions.size
    const added = new Set<string>()
    for (let i = 0; i < requests.length; i++) {
      const raw = requests[i]!.filter
      const shared = parseShared(raw)
      const plain = shared === null ? raw : typeof shared === "number" ? null : shared.filter
      if (plain === null || validateTopicFilter(plain, limits.maxTopicLevels, limits.maxTopicLength) !== 0) continue
      if (acl !== null && !acl.maySubscribe(raw)) (refused ??= new Map()).set(i, ReasonCode.NotAuthorized)
      else if (limits.maxSubscriptions !== 0 && !session.subscriptions.has(raw) && !added.has(raw)) {
        if (count >= limits.maxSubscriptions) {
          ;(refused ??= new Map()).set(i, ReasonCode.QuotaExceeded)
          this.ctx.overload.subscriptionQuotaRefusals++
        } else {
          count++
          added.add(raw)
        }
      }
    }
    return refused
  }

  private onUnsubscribe(packet: IUnsubscribePacket, session: LiveSession): void {
    const result = this.ctx.engine.unsubscribe(session, packet.unsubscriptions)
    const messageId = packet.messageId!
    const send = (ok: boolean) => {
      const packetOut =
        this.version === 5
          ? { cmd: "unsuback" as const, messageId, granted: ok ? result.codes : result.codes.map(() => ReasonCode.UnspecifiedError) }
          : { cmd: "unsuback" as const, messageId }
      this.writeFrame(encodeControl(packetOut as never, this.version))
    }
    if (result.persist === null) send(true)
    else this.runControl(result.persist, send)
  }

  private onDisconnect(p: ControlPacket | { cmd: 14 }): void {
    if ("packet" in p && p.cmd === 14) {
      const d = p.packet
      const expiry = d.properties?.sessionExpiryInterval
      if (expiry !== undefined) {
        // [MQTT-3.14.2-2] a session that was to end with the connection cannot be revived here.
        if (this.expiryInterval === 0 && expiry !== 0) return this.fail(ReasonCode.ProtocolError)
        this.expiryInterval = Math.min(expiry, this.ctx.config.limits.maxSessionExpiry)
      }
      // 0x04 Disconnect with Will Message: the will is still published.
      this.graceful = (d.reasonCode ?? 0) !== ReasonCode.DisconnectWithWill
    } else {
      this.graceful = true
    }
    this.close()
  }
}

/** SUBACK codes in request order: the refusal's code where one was refused, the engine's elsewhere. */
const withRefusals = (granted: ReadonlyArray<number>, refused: ReadonlyMap<number, number>, count: number): Array<number> => {
  const out: Array<number> = []
  let next = 0
  for (let i = 0; i < count; i++) out.push(refused.get(i) ?? granted[next++]!)
  return out
}

/** mqtt-packet gives user properties as an object of string | string[]; we keep ordered pairs. */
const userPairs = (u: Record<string, string | Array<string>> | undefined): Array<readonly [string, string]> | undefined => {
  if (u === undefined) return undefined
  const out: Array<readonly [string, string]> = []
  for (const [k, v] of Object.entries(u)) {
    if (Array.isArray(v)) for (const x of v) out.push([k, x])
    else out.push([k, v])
  }
  return out
}
