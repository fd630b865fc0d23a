/**
 * What every connection of one MQTT listener shares: the engine, the limits, the Effect runtime
 * for control work, the budget for packets being received, and the write batcher. Batching: frames for a socket are collected while a
 * socket's data (or a flush's callbacks) is processed and written once per socket, in a
 * microtask, so a subscriber reads many messages per syscall (bench README, last section).
 */
import type { Runtime } from "effect"
import type { BrokerConfigShape } from "../../config/BrokerConfigShape.js"
import type { AuthService } from "../auth/Auth.js"
import type { BansService } from "../bans/Bans.js"
import { Admission } from "../net/Admission.js"
import type { DebugLog } from "../net/debugLog.js"
import { RequestBudget } from "../net/RequestBudget.js"
import type { Connection } from "./Connection.js"
import type { Engine } from "./engine/Engine.js"
import { MqttTraffic } from "./MqttTraffic.js"

/** What overload protection did, since start ($SYS, and metrics later). */
export interface OverloadStats {
  /** Subscribers disconnected after limits.stall_timeout without progress. */
  stalledDisconnects: number
  /** Subscriptions refused with 0x97 (limits.max_subscriptions). */
  subscriptionQuotaRefusals: number
  /** Times a client's reads were paused for limits.max_publish_rate. */
  publishThrottles: number
  /** Times a publisher's reads were paused for limits.log_high_water. */
  logPauses: number
}

export class ServerContext {
  readonly connections = new Set<Connection>()
  /** Connections past CONNACK (for limits and $SYS). */
  connected = 0
  shuttingDown = false
  readonly startedAt = Date.now()
  /** Bytes of split packets held across connections (mqtt.queued_max_packet_bytes). */
  readonly packetBudget: RequestBudget
  /** Connections per address, CONNECT rate, failed logins per address (abuse limits). */
  readonly admission: Admission
  /** Operator bans, checked at CONNECT (handlers/refuseBanned.ts); set by MqttServer before it listens. */
  bans: BansService | null = null
  /** Connection debug lines (src/mqtt/debugLines.ts); null unless log.level is debug. */
  debug: DebugLog = null
  readonly overload: OverloadStats = { stalledDisconnects: 0, subscriptionQuotaRefusals: 0, publishThrottles: 0, logPauses: 0 }
  /** Packets and bytes in and out, and authentication outcomes (metrics). */
  readonly traffic = new MqttTraffic()
  /** Publishers whose reads wait for the log to drain below half of limits.log_high_water. */
  private heldForLog = new Set<Connection>()
  private readonly checkLog = () => {
    if (this.engine.log.unsafeUnwrittenBytes() > this.config.limits.logHighWater / 2) {
      this.engine.log.unsafeAfterNextPass(this.checkLog)
      return
    }
    const held = this.heldForLog
    this.heldForLog = new Set()
    for (const conn of held) conn.logDrained()
  }
  private dirty: Array<Connection> = []
  private scheduled = false
  private readonly flush = () => {
    this.scheduled = false
    const dirty = this.dirty
    this.dirty = []
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flushOut()
  }

  constructor(
    readonly engine: Engine,
    readonly config: BrokerConfigShape,
    readonly runtime: Runtime.Runtime<never>,
    /** Authentication and ACL; null when nothing is configured (no checks at all). */
    readonly auth: AuthService | null = null
  ) {
    this.packetBudget = new RequestBudget(config.mqtt.queuedMaxPacketBytes)
    this.admission = new Admission({
      maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
      maxConnectRate: config.limits.maxConnectRate,
      maxFailures: config.auth.maxFailures,
      failureWindowMs: config.auth.failureWindow * 1000
    })
  }

  /** The log is above its high-water mark: `conn` stops reading until it drains (checkLog). */
  holdForLog(conn: Connection): void {
    if (this.heldForLog.has(conn)) return
    this.overload.logPauses++
    conn.pauseForLog()
    if (this.heldForLog.size === 0) this.engine.log.unsafeAfterNextPass(this.checkLog)
    this.heldForLog.add(conn)
  }

  /** Hot path: `conn` has frames to write; one write per connection per turn of the loop. */
  markDirty(conn: Connection): void {
    this.dirty.push(conn)
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.flush)
    }
  }
}
