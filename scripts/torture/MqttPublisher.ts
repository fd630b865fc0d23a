/**
 * A QoS 1 or QoS 2 publisher that keeps up to `window` messages in flight, and after each
 * reconnect resends what is unacknowledged with the original packet ids, as the spec asks
 * [MQTT-4.4.0-1]: PUBLISH with DUP, or PUBREL for a QoS 2 message already PUBRECed. A message
 * counts as acknowledged on PUBACK (QoS 1) or PUBCOMP (QoS 2) with a success code.
 *
 * Packet ids come from one of two policies, since the broker's bugs depend on reuse:
 * 'sequence' (1, 2, ... 65535, 1, ...) or 'lowest-free' (the lowest id not in flight).
 */
import type * as mqttPacket from "mqtt-packet"
import { MqttConnection } from "./MqttConnection.js"

export type IdPolicy = "sequence" | "lowest-free"

interface InFlight {
  readonly seq: number
  state: "publish" | "pubrel"
}

export interface PublisherOptions {
  readonly name: string
  readonly port: number
  readonly version: 4 | 5
  readonly qos: 1 | 2
  readonly policy: IdPolicy
  readonly window: number
  readonly topic: string
}

export class MqttPublisher {
  private readonly connection: MqttConnection
  /** In send order (a Map keeps insertion order): the order of resends. */
  private readonly inflight = new Map<number, InFlight>()
  private lastId = 0
  private nextSeq = 0
  private running = false
  /** Sequence numbers acknowledged by the broker. */
  readonly acked: Array<number> = []
  /** Refused (a failure reason code): not acknowledged, so not checked. */
  refused = 0
  /** Acks for ids not in flight, or of the wrong kind. */
  strayAcks = 0
  /** Reconnects whose CONNACK said the session was gone. */
  sessionsLost = 0
  resent = 0
  /**
   * Payloads this publisher sent again after a reconnect. The broker takes such a PUBLISH as a new
   * message when it has no trace of the first: always at QoS 1 (no inbound state), and at QoS 2
   * when the crash took the first before it was durable (no PUBREC had gone out), though QoS 1
   * subscribers had already been sent it. Its copies go out with DUP 0, as [MQTT-3.3.1-3]
   * requires: the checks tell those repeats from the broker's own.
   */
  readonly resentPayloads = new Set<string>()

  constructor(readonly options: PublisherOptions) {
    this.connection = new MqttConnection(options.name, options.version, options.port, {
      onConnected: (present, first) => this.onConnected(present, first),
      onPacket: (p) => this.onPacket(p)
    })
  }

  payload(seq: number): string {
    return `${this.options.name}:${seq}`
  }

  get inFlight(): number {
    return this.inflight.size
  }

  start(): void {
    this.running = true
    this.connection.start()
    this.pump()
  }

  /** Stops sending new messages; what is in flight still completes. */
  pause(): void {
    this.running = false
  }

  resume(): void {
    this.running = true
    this.pump()
  }

  stop(): Promise<void> {
    this.running = false
    return this.connection.stop()
  }

  private onConnected(sessionPresent: boolean, first: boolean): void {
    if (!first && !sessionPresent) this.sessionsLost++
    for (const [id, m] of this.inflight) {
      this.resent++
      if (m.state === "pubrel") this.connection.send({ cmd: "pubrel", messageId: id })
      else {
        this.resentPayloads.add(this.payload(m.seq))
        this.connection.send(this.publish(id, m.seq, true))
      }
    }
    this.pump()
  }

  private onPacket(p: mqttPacket.Packet): void {
    const id = p.messageId ?? -1
    const m = this.inflight.get(id)
    const failed = "reasonCode" in p && typeof p.reasonCode === "number" && p.reasonCode >= 0x80
    if (p.cmd === "puback" || p.cmd === "pubcomp") {
      const expected = p.cmd === "puback" ? this.options.qos === 1 : m?.state === "pubrel"
      if (m === undefined || !expected) return void this.strayAcks++
      this.inflight.delete(id)
      if (failed) this.refused++
      else this.acked.push(m.seq)
      this.pump()
    } else if (p.cmd === "pubrec") {
      if (m === undefined || this.options.qos !== 2) return void this.strayAcks++
      if (failed) {
        this.inflight.delete(id)
        this.refused++
        return this.pump()
      }
      // A repeated PUBREC (after our resent PUBLISH) is answered with PUBREL again.
      m.state = "pubrel"
      this.connection.send({ cmd: "pubrel", messageId: id })
    }
  }

  private pump(): void {
    while (this.running && this.connection.connected && this.inflight.size < this.options.window) {
      const id = this.allocate()
      const seq = this.nextSeq++
      this.inflight.set(id, { seq, state: "publish" })
      this.connection.send(this.publish(id, seq, false))
    }
  }

  private allocate(): number {
    if (this.options.policy === "lowest-free") {
      let id = 1
      while (this.inflight.has(id)) id++
      return id
    }
    let id = this.lastId
    do id = (id % 65535) + 1
    while (this.inflight.has(id))
    this.lastId = id
    return id
  }

  private publish(id: number, seq: number, dup: boolean): mqttPacket.IPublishPacket {
    return { cmd: "publish", topic: this.options.topic, payload: this.payload(seq), qos: this.options.qos, dup, retain: false, messageId: id }
  }
}
