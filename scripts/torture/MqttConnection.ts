/**
 * A raw MQTT connection with a persistent session (clean = false; v5 with a session expiry) over
 * net.Socket and mqtt-packet, so that the publisher and subscriber on top control packet ids and
 * flags. It reconnects by itself after the broker dies (every 100 ms while it is down); after
 * each CONNACK it tells its owner whether the session was still there.
 */
import * as net from "node:net"
import * as mqttPacket from "mqtt-packet"
import { sleep } from "./random.js"

export interface ConnectionOwner {
  /** After each successful CONNACK; `first` is the very first connection of this client. */
  readonly onConnected: (sessionPresent: boolean, first: boolean) => void
  readonly onPacket: (packet: mqttPacket.Packet) => void
}

export class MqttConnection {
  private socket: net.Socket | null = null
  private stopped = false
  private everConnected = false
  private loop: Promise<void> | null = null
  /** True between CONNACK and the socket's close. */
  connected = false
  /** Successful connections so far. */
  connects = 0

  constructor(
    readonly clientId: string,
    readonly version: 4 | 5,
    private readonly port: number,
    private readonly owner: ConnectionOwner
  ) {}

  start(): void {
    this.loop ??= this.run()
  }

  /** Sends now if connected; otherwise drops it (the owner resends its state on reconnect). */
  send(packet: mqttPacket.Packet): boolean {
    if (!this.connected || this.socket === null) return false
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }))
    return true
  }

  /** DISCONNECT (the session stays on the broker) and no more reconnects. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.socket !== null) {
      this.send({ cmd: "disconnect" })
      this.socket.end()
      const s = this.socket
      await Promise.race([new Promise((r) => s.once("close", r)), sleep(2000)])
      s.destroy()
    }
    await this.loop
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.session().catch(() => {})
      if (!this.stopped) await sleep(100)
    }
  }

  /** One TCP connection: handshake, then packets until it closes. */
  private session(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port: this.port, noDelay: true })
      const parser = mqttPacket.parser({ protocolVersion: this.version })
      let acked = false
      const handshakeTimer = setTimeout(() => socket.destroy(), 5000)
      socket.once("error", (e) => reject(e))
      socket.once("close", () => {
        clearTimeout(handshakeTimer)
        if (this.socket === socket) this.socket = null
        this.connected = false
        resolve()
      })
      parser.on("error", () => socket.destroy())
      parser.on("packet", (p: mqttPacket.Packet) => {
        if (acked) return this.owner.onPacket(p)
        const code = p.cmd === "connack" ? (this.version === 5 ? p.reasonCode : p.returnCode) : -1
        if (p.cmd !== "connack" || code !== 0) return socket.destroy()
        acked = true
        clearTimeout(handshakeTimer)
        this.connected = true
        this.connects++
        const first = !this.everConnected
        this.everConnected = true
        this.owner.onConnected(p.sessionPresent, first)
      })
      socket.on("data", (chunk: Buffer) => parser.parse(chunk))
      socket.once("connect", () => {
        if (this.stopped) return socket.destroy()
        this.socket = socket
        socket.write(
          mqttPacket.generate(
            {
              cmd: "connect",
              protocolId: "MQTT",
              protocolVersion: this.version,
              clientId: this.clientId,
              clean: false,
              keepalive: 0,
              ...(this.version === 5 ? { properties: { sessionExpiryInterval: 3600, receiveMaximum: 65535 } } : {})
            },
            { protocolVersion: this.version }
          )
        )
      })
    })
  }
}
