/**
 * What every connection of one MQTT listener shares: the engine, the limits, the Effect runtime
 * for control work, the budget for packets being received, and the write batcher. Batching: frames for a socket are collected while a
 * socket's data (or a flush's callbacks) is processed and written once per socket, in a
 * microtask, so a subscriber reads many messages per syscall (bench README, last section).
 */
import type { Runtime } from "effect"
import type { BrokerConfigShape } from "../../config/BrokerConfigShape.js"
import type { AuthService } from "../auth/Auth.js"
import { RequestBudget } from "../net/RequestBudget.js"
import type { Connection } from "./Connection.js"
import type { Engine } from "./engine/Engine.js"

export class ServerContext {
  readonly connections = new Set<Connection>()
  /** Connections past CONNACK (for limits and $SYS). */
  connected = 0
  shuttingDown = false
  readonly startedAt = Date.now()
  /** Bytes of split packets held across connections (mqtt.queued_max_packet_bytes). */
  readonly packetBudget: RequestBudget
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
