/**
 * A persistent subscriber that records every delivery (payload, QoS, DUP). It acknowledges at
 * once and is a correct QoS 2 receiver (the spec's method B): a PUBLISH whose packet id still
 * awaits PUBREL is a resend and is not delivered again. So a payload recorded twice at QoS 2 is
 * a duplicate the broker made, not one the client let through.
 */
import type * as mqttPacket from "mqtt-packet"
import { MqttConnection } from "./MqttConnection.js"

export interface Delivery {
  readonly qos: number
  readonly dup: boolean
}

export interface SubscriberOptions {
  readonly name: string
  readonly port: number
  readonly version: 4 | 5
  readonly filter: string
  readonly qos: 1 | 2
}

export class MqttSubscriber {
  private readonly connection: MqttConnection
  /** QoS 2 packet ids awaiting PUBREL, with the payload they carried. */
  private readonly awaitingRelease = new Map<number, string>()
  private subscribed: (() => void) | null = null
  /** Every delivery, by payload, in arrival order. */
  readonly deliveries = new Map<string, Array<Delivery>>()
  sessionsLost = 0
  /** QoS 2 PUBLISH resends for an id awaiting PUBREL (allowed, not delivered again). */
  resendsBeforeRelease = 0
  /**
   * Of those, the ones with another payload: the broker reused an id whose flow it had not
   * completed (it forgot our PUBREC). A conforming receiver drops them, so they show as lost.
   */
  idsReusedBeforeRelease = 0
  /** Deliveries recorded, all payloads: a cheap progress signal for draining. */
  delivered = 0

  constructor(readonly options: SubscriberOptions) {
    this.connection = new MqttConnection(options.name, options.version, options.port, {
      onConnected: (present, first) => this.onConnected(present, first),
      onPacket: (p) => this.onPacket(p)
    })
  }

  /** Connects and subscribes; resolves on SUBACK. */
  start(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.subscribed = resolve))
    this.connection.start()
    return done
  }

  stop(): Promise<void> {
    return this.connection.stop()
  }

  private onConnected(sessionPresent: boolean, first: boolean): void {
    if (first || !sessionPresent) {
      // A lost session is counted, and the subscription made again as a real client would.
      if (!first) this.sessionsLost++
      this.awaitingRelease.clear()
      this.connection.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: this.options.filter, qos: this.options.qos }] })
    }
  }

  private onPacket(p: mqttPacket.Packet): void {
    if (p.cmd === "suback") {
      this.subscribed?.()
      this.subscribed = null
    } else if (p.cmd === "publish") {
      const id = p.messageId ?? 0
      const payload = p.payload.toString()
      const pending = p.qos === 2 ? this.awaitingRelease.get(id) : undefined
      if (pending !== undefined) {
        this.resendsBeforeRelease++
        if (pending !== payload) this.idsReusedBeforeRelease++
      } else {
        if (p.qos === 2) this.awaitingRelease.set(id, payload)
        this.delivered++
        let list = this.deliveries.get(payload)
        if (list === undefined) this.deliveries.set(payload, (list = []))
        list.push({ qos: p.qos, dup: p.dup })
      }
      if (p.qos === 1) this.connection.send({ cmd: "puback", messageId: id })
      else if (p.qos === 2) this.connection.send({ cmd: "pubrec", messageId: id })
    } else if (p.cmd === "pubrel") {
      this.awaitingRelease.delete(p.messageId ?? 0)
      this.connection.send({ cmd: "pubcomp", messageId: p.messageId ?? 0 })
    }
  }
}
